-- Lifecycle notifications: per-domain settings (owners, expiry-notice
-- schedule), client contacts, notification channels, the outbox, the
-- markers that make the expiry jobs idempotent, and the state of scheduled
-- jobs. Same shape as the SQLite migration; same conventions as 0001.

-- +goose Up

-- Existing domains get DefaultNotificationSettings (its encoding/json form);
-- the default is dropped afterwards, as the store always writes the column.
ALTER TABLE domains ADD COLUMN notification_settings TEXT NOT NULL
    DEFAULT '{"owners":[],"expiry_schedule":"0 5 * * *","expiry_thresholds":[20,15,10,5,1]}';
ALTER TABLE domains ALTER COLUMN notification_settings DROP DEFAULT;

ALTER TABLE clients ADD COLUMN contacts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ALTER COLUMN contacts DROP DEFAULT;

-- Set once, by the expiry sweep, in the transaction that audits the expiry
-- and queues secret.expired. Secrets that expired before this migration are
-- marked now, so that upgrading does not announce old expiries.
ALTER TABLE secrets ADD COLUMN expired_notified_at BIGINT;
UPDATE secrets SET expired_notified_at = (extract(epoch FROM now()) * 1000000)::BIGINT
WHERE expires_at IS NOT NULL AND expires_at <= (extract(epoch FROM now()) * 1000000)::BIGINT;

CREATE INDEX secrets_expires ON secrets (expires_at) WHERE expires_at IS NOT NULL;

-- Signing secrets are JSON with each value encrypted under the server key.
CREATE TABLE notification_channels (
    id              TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    domain_id       TEXT    NOT NULL REFERENCES domains (id),
    name            TEXT    COLLATE "C" NOT NULL,
    type            TEXT    NOT NULL,
    url             TEXT    NOT NULL DEFAULT '',
    events          TEXT    NOT NULL,
    signing_secrets TEXT    NOT NULL,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    UNIQUE (domain_id, name)
);

-- The outbox: one row per event and channel. channel_id has no foreign key
-- so that a deleted channel's delivery history stays. locked_by and
-- locked_until are the delivery lease of a dispatcher instance.
CREATE TABLE notifications (
    id              TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    event_id        TEXT    COLLATE "C" NOT NULL,
    event_type      TEXT    NOT NULL,
    domain_id       TEXT    NOT NULL REFERENCES domains (id),
    channel_id      TEXT    COLLATE "C" NOT NULL,
    channel_type    TEXT    NOT NULL,
    client_id       TEXT    NOT NULL DEFAULT '',
    secret_id       TEXT    NOT NULL DEFAULT '',
    recipients      TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    last_attempt_at BIGINT,
    last_error      TEXT    NOT NULL DEFAULT '',
    delivered_at    BIGINT,
    created_at      BIGINT  NOT NULL,
    locked_by       TEXT    NOT NULL DEFAULT '',
    locked_until    BIGINT,
    UNIQUE (event_id, channel_id)
);

CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_domain ON notifications (domain_id, created_at);

-- One row per secret and notice threshold: the primary key is what makes an
-- upcoming-expiry notice go out at most once, however many instances run.
CREATE TABLE expiry_notices (
    secret_id      TEXT    NOT NULL REFERENCES secrets (id),
    threshold_days INTEGER NOT NULL,
    expires_at     BIGINT  NOT NULL, -- the expiry the notice announced
    notified_at    BIGINT  NOT NULL,
    PRIMARY KEY (secret_id, threshold_days)
);

-- Scheduled jobs: when each runs next, and the lease of the instance
-- running it.
CREATE TABLE jobs (
    name         TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    spec         TEXT    NOT NULL,
    next_run_at  BIGINT  NOT NULL,
    last_run_at  BIGINT,
    last_error   TEXT    NOT NULL DEFAULT '',
    locked_by    TEXT    NOT NULL DEFAULT '',
    locked_until BIGINT
);

-- +goose Down
DROP TABLE jobs;
DROP TABLE expiry_notices;
DROP TABLE notifications;
DROP TABLE notification_channels;
DROP INDEX secrets_expires;
ALTER TABLE secrets DROP COLUMN expired_notified_at;
ALTER TABLE clients DROP COLUMN contacts;
ALTER TABLE domains DROP COLUMN notification_settings;
