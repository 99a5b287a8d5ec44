-- Initial schema. Times are unix microseconds (UTC); lists, maps and
-- policies are JSON text. STRICT tables reject values of the wrong type.

-- +goose Up
CREATE TABLE domains (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    policy      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Clients are soft-deleted, so foreign keys never cascade and their history
-- (secrets, rotations) stays.
CREATE TABLE clients (
    id            TEXT    NOT NULL PRIMARY KEY,
    domain_id     TEXT    NOT NULL REFERENCES domains (id),
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    type          TEXT    NOT NULL,
    grant_types   TEXT    NOT NULL,
    redirect_uris TEXT    NOT NULL,
    scopes        TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    policy        TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER
) STRICT;

-- A name is unique among the live clients of a domain; a deleted client's
-- name may be reused.
CREATE UNIQUE INDEX clients_live_name ON clients (domain_id, name) WHERE deleted_at IS NULL;

CREATE TABLE secrets (
    id             TEXT    NOT NULL PRIMARY KEY,
    client_id      TEXT    NOT NULL REFERENCES clients (id),
    description    TEXT    NOT NULL DEFAULT '',
    hint           TEXT    NOT NULL DEFAULT '',
    hash           BLOB    NOT NULL,
    key_id         TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    created_by     TEXT    NOT NULL DEFAULT '',
    expires_at     INTEGER,
    retiring_since INTEGER,
    revoked_at     INTEGER,
    revoked_by     TEXT    NOT NULL DEFAULT '',
    revoked_reason TEXT    NOT NULL DEFAULT '',
    deleted_at     INTEGER,
    last_used_at   INTEGER,
    use_count      INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX secrets_client ON secrets (client_id, created_at);

CREATE TABLE rotations (
    id              TEXT    NOT NULL PRIMARY KEY,
    client_id       TEXT    NOT NULL REFERENCES clients (id),
    at              INTEGER NOT NULL,
    initiated_by    TEXT    NOT NULL DEFAULT '',
    kind            TEXT    NOT NULL,
    new_secret_id   TEXT    NOT NULL DEFAULT '',
    new_secret_hint TEXT    NOT NULL DEFAULT '',
    old_secrets     TEXT    NOT NULL,
    transition      INTEGER NOT NULL -- nanoseconds
) STRICT;

CREATE INDEX rotations_client_at ON rotations (client_id, at);

-- Append-only; id orders events (newest first = id DESC).
CREATE TABLE audit_events (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    occurred_at INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    domain_id   TEXT    NOT NULL DEFAULT '',
    target_type TEXT    NOT NULL DEFAULT '',
    target_id   TEXT    NOT NULL DEFAULT '',
    outcome     TEXT    NOT NULL,
    request_id  TEXT    NOT NULL DEFAULT '',
    details     TEXT
) STRICT;

CREATE INDEX audit_events_time ON audit_events (occurred_at);
CREATE INDEX audit_events_target ON audit_events (target_id, id);
CREATE INDEX audit_events_domain ON audit_events (domain_id, id);

CREATE TABLE admin_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    hint       TEXT    NOT NULL DEFAULT '',
    hash       BLOB    NOT NULL,
    key_id     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL DEFAULT '',
    revoked_at INTEGER,
    revoked_by TEXT    NOT NULL DEFAULT ''
) STRICT;

-- +goose Down
DROP TABLE admin_tokens;
DROP TABLE audit_events;
DROP TABLE rotations;
DROP TABLE secrets;
DROP TABLE clients;
DROP TABLE domains;
