-- Idempotency keys of the management API: one row per admin token and key,
-- written in the transaction of the change the request made, completed with
-- the response (every plaintext secret removed) after that commits. Same
-- conventions as 0001.

-- +goose Up
CREATE TABLE idempotency_records (
    actor_id           TEXT    NOT NULL,
    idempotency_key    TEXT    NOT NULL,
    method             TEXT    NOT NULL,
    path               TEXT    NOT NULL,
    fingerprint        BLOB    NOT NULL, -- HMAC-SHA-256 of the request body
    fingerprint_key_id TEXT    NOT NULL,
    resource           TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    completed_at       INTEGER,          -- NULL until the response is recorded
    status             INTEGER NOT NULL DEFAULT 0,
    content_type       TEXT    NOT NULL DEFAULT '',
    response           BLOB    NOT NULL,
    PRIMARY KEY (actor_id, idempotency_key)
) STRICT;

CREATE INDEX idempotency_records_expires ON idempotency_records (expires_at);

-- +goose Down
DROP TABLE idempotency_records;
