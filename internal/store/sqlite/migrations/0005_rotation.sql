-- Automated rotation: each secret's stage in a rotation run, the domain's
-- rotation schedule and a client's override of it, the run a rotation
-- history entry came from, the runs themselves and the clients' delivery
-- targets. Same conventions as 0001.

-- +goose Up

-- Secrets made by hand (all existing ones) have no stage.
ALTER TABLE secrets ADD COLUMN stage TEXT NOT NULL DEFAULT '';

-- Existing domains get the empty schedule (its encoding/json form): nothing
-- rotates on its own. SQLite cannot drop the default afterwards; the store
-- always writes the column.
ALTER TABLE domains ADD COLUMN rotation TEXT NOT NULL DEFAULT '{}';

-- NULL inherits the domain's schedule, as policy inherits its policy.
ALTER TABLE clients ADD COLUMN rotation TEXT;

-- The run that promoted the new secret; '' for rotations made by hand.
ALTER TABLE rotations ADD COLUMN run_id TEXT NOT NULL DEFAULT '';

-- One row per run. schedule, previous_secret_ids and steps are JSON; sealed
-- is encrypted under the server key seal_key_id, NULL once erased.
-- locked_by and locked_until are the lease of the instance running it.
-- seq orders runs that start within the same instant.
CREATE TABLE rotation_runs (
    seq                 INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id                  TEXT    NOT NULL UNIQUE,
    domain_id           TEXT    NOT NULL REFERENCES domains (id),
    client_id           TEXT    NOT NULL REFERENCES clients (id),
    trigger             TEXT    NOT NULL,
    initiated_by        TEXT    NOT NULL DEFAULT '',
    status              TEXT    NOT NULL,
    step                TEXT    NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER NOT NULL,
    last_error          TEXT    NOT NULL DEFAULT '',
    reason              TEXT    NOT NULL DEFAULT '',
    cancel_requested    INTEGER NOT NULL DEFAULT 0,
    schedule            TEXT    NOT NULL,
    pending_secret_id   TEXT    NOT NULL DEFAULT '',
    previous_secret_ids TEXT    NOT NULL,
    delivered_at        INTEGER,
    promoted_at         INTEGER,
    transition_end      INTEGER,
    in_use_checks       INTEGER NOT NULL DEFAULT 0,
    steps               TEXT    NOT NULL,
    sealed              BLOB,
    seal_key_id         TEXT    NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    locked_by           TEXT    NOT NULL DEFAULT '',
    locked_until        INTEGER
) STRICT;

CREATE INDEX rotation_runs_due ON rotation_runs (next_attempt_at) WHERE status = 'running';
CREATE INDEX rotation_runs_client ON rotation_runs (client_id, created_at, seq);
-- At most one running run per client, whichever instance starts it.
CREATE UNIQUE INDEX rotation_runs_one_running ON rotation_runs (client_id) WHERE status = 'running';

-- Where a client's new secrets are delivered. sealed is the target's
-- configuration (it may hold credentials), encrypted under the server key
-- key_id.
CREATE TABLE delivery_targets (
    id         TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES clients (id),
    name       TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    key_id     TEXT    NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (client_id, name)
) STRICT;

-- +goose Down
DROP TABLE delivery_targets;
DROP TABLE rotation_runs;
ALTER TABLE rotations DROP COLUMN run_id;
ALTER TABLE clients DROP COLUMN rotation;
ALTER TABLE domains DROP COLUMN rotation;
ALTER TABLE secrets DROP COLUMN stage;
