-- Authorization server: per-domain and per-client OAuth settings, signing
-- keys, the user directory, consents, and the short-lived state of the
-- authorization-code and refresh-token grants. Same conventions as 0001.

-- +goose Up

-- Existing domains get DefaultDomainOAuth (its encoding/json form). SQLite
-- cannot add a NOT NULL column without a default, nor drop the default
-- afterwards; the store always writes the column.
ALTER TABLE domains ADD COLUMN oauth TEXT NOT NULL
    DEFAULT '{"access_token_lifetime":"10m","id_token_lifetime":"1h","refresh_token_lifetime":"720h","code_lifetime":"1m","require_pkce":true,"require_state":true,"access_token_alg":"EdDSA"}';

-- Existing clients authenticate as their type implies: confidential ones
-- with HTTP Basic, public ones not at all.
ALTER TABLE clients ADD COLUMN oauth TEXT NOT NULL DEFAULT '{}';
UPDATE clients SET oauth = CASE type
    WHEN 'public' THEN '{"token_endpoint_auth_method":"none","first_party":false,"allow_plain_pkce":false,"refresh_reuse_window":"0s"}'
    ELSE '{"token_endpoint_auth_method":"client_secret_basic","first_party":false,"allow_plain_pkce":false,"refresh_reuse_window":"0s"}'
END;

-- Private is encrypted PKCS#8, Public PKIX DER.
CREATE TABLE signing_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    domain_id  TEXT    NOT NULL REFERENCES domains (id),
    alg        TEXT    NOT NULL,
    private    BLOB    NOT NULL,
    key_id     TEXT    NOT NULL,
    public     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
) STRICT;

-- One current key per domain and algorithm: instances racing to create the
-- first key agree on one.
CREATE UNIQUE INDEX signing_keys_current ON signing_keys (domain_id, alg) WHERE retired_at IS NULL;
CREATE INDEX signing_keys_domain ON signing_keys (domain_id, created_at);

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    domain_id     TEXT    NOT NULL REFERENCES domains (id),
    username      TEXT    NOT NULL,
    email         TEXT    NOT NULL DEFAULT '',
    display_name  TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (domain_id, username)
) STRICT;

-- No user_id column has a foreign key: an authorization request has no user
-- until login, so user ids are checked by the service, not the schema.
CREATE TABLE consents (
    domain_id  TEXT    NOT NULL REFERENCES domains (id),
    user_id    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL REFERENCES clients (id),
    scopes     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (domain_id, user_id, client_id)
) STRICT;

CREATE TABLE auth_requests (
    id                    TEXT    NOT NULL PRIMARY KEY,
    domain_id             TEXT    NOT NULL REFERENCES domains (id),
    client_id             TEXT    NOT NULL REFERENCES clients (id),
    redirect_uri          TEXT    NOT NULL,
    scopes                TEXT    NOT NULL,
    state                 TEXT    NOT NULL DEFAULT '',
    nonce                 TEXT    NOT NULL DEFAULT '',
    code_challenge        TEXT    NOT NULL DEFAULT '',
    code_challenge_method TEXT    NOT NULL DEFAULT '',
    user_id               TEXT    NOT NULL DEFAULT '', -- '' until login
    auth_time             INTEGER,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL
) STRICT;

CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

-- Codes and refresh tokens are stored by hash only.
CREATE TABLE auth_codes (
    hash                  BLOB    NOT NULL PRIMARY KEY,
    domain_id             TEXT    NOT NULL REFERENCES domains (id),
    client_id             TEXT    NOT NULL REFERENCES clients (id),
    user_id               TEXT    NOT NULL,
    redirect_uri          TEXT    NOT NULL,
    scopes                TEXT    NOT NULL,
    nonce                 TEXT    NOT NULL DEFAULT '',
    code_challenge        TEXT    NOT NULL DEFAULT '',
    code_challenge_method TEXT    NOT NULL DEFAULT '',
    auth_time             INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    used_at               INTEGER,
    family_id             TEXT    NOT NULL DEFAULT '' -- set when redeemed
) STRICT;

CREATE INDEX auth_codes_client ON auth_codes (client_id);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    domain_id  TEXT    NOT NULL REFERENCES domains (id),
    client_id  TEXT    NOT NULL REFERENCES clients (id),
    user_id    TEXT    NOT NULL,
    family_id  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
) STRICT;

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Revoked access tokens (by jti) and token families, kept until the tokens
-- would have expired anyway.
CREATE TABLE revoked_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    domain_id  TEXT    NOT NULL REFERENCES domains (id),
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

-- +goose Down
DROP TABLE revoked_tokens;
DROP TABLE refresh_tokens;
DROP TABLE auth_codes;
DROP TABLE auth_requests;
DROP TABLE consents;
DROP TABLE users;
DROP TABLE signing_keys;
ALTER TABLE clients DROP COLUMN oauth;
ALTER TABLE domains DROP COLUMN oauth;
