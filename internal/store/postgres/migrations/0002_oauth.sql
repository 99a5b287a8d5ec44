-- Authorization server: per-domain and per-client OAuth settings, signing
-- keys, the user directory, consents, and the short-lived state of the
-- authorization-code and refresh-token grants. Same shape as the SQLite
-- migration; same conventions as 0001.

-- +goose Up

-- Existing domains get DefaultDomainOAuth (its encoding/json form); the
-- default is dropped afterwards, as the store always writes the column.
ALTER TABLE domains ADD COLUMN oauth TEXT NOT NULL
    DEFAULT '{"access_token_lifetime":"10m","id_token_lifetime":"1h","refresh_token_lifetime":"720h","code_lifetime":"1m","require_pkce":true,"require_state":true,"access_token_alg":"EdDSA"}';
ALTER TABLE domains ALTER COLUMN oauth DROP DEFAULT;

-- Existing clients authenticate as their type implies: confidential ones
-- with HTTP Basic, public ones not at all.
ALTER TABLE clients ADD COLUMN oauth TEXT NOT NULL DEFAULT '{}';
UPDATE clients SET oauth = CASE type
    WHEN 'public' THEN '{"token_endpoint_auth_method":"none","first_party":false,"allow_plain_pkce":false,"refresh_reuse_window":"0s"}'
    ELSE '{"token_endpoint_auth_method":"client_secret_basic","first_party":false,"allow_plain_pkce":false,"refresh_reuse_window":"0s"}'
END;
ALTER TABLE clients ALTER COLUMN oauth DROP DEFAULT;

-- Private is encrypted PKCS#8, Public PKIX DER.
CREATE TABLE signing_keys (
    id         TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    domain_id  TEXT    NOT NULL REFERENCES domains (id),
    alg        TEXT    NOT NULL,
    private    BYTEA   NOT NULL,
    key_id     TEXT    NOT NULL,
    public     BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL,
    retired_at BIGINT
);

-- One current key per domain and algorithm: instances racing to create the
-- first key agree on one.
CREATE UNIQUE INDEX signing_keys_current ON signing_keys (domain_id, alg) WHERE retired_at IS NULL;
CREATE INDEX signing_keys_domain ON signing_keys (domain_id, created_at);

CREATE TABLE users (
    id            TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    domain_id     TEXT    NOT NULL REFERENCES domains (id),
    username      TEXT    COLLATE "C" NOT NULL,
    email         TEXT    NOT NULL DEFAULT '',
    display_name  TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL DEFAULT '',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    UNIQUE (domain_id, username)
);

-- No user_id column has a foreign key: an authorization request has no user
-- until login, so user ids are checked by the service, not the schema.
CREATE TABLE consents (
    domain_id  TEXT    NOT NULL REFERENCES domains (id),
    user_id    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL REFERENCES clients (id),
    scopes     TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (domain_id, user_id, client_id)
);

CREATE TABLE auth_requests (
    id                    TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    domain_id             TEXT    NOT NULL REFERENCES domains (id),
    client_id             TEXT    NOT NULL REFERENCES clients (id),
    redirect_uri          TEXT    NOT NULL,
    scopes                TEXT    NOT NULL,
    state                 TEXT    NOT NULL DEFAULT '',
    nonce                 TEXT    NOT NULL DEFAULT '',
    code_challenge        TEXT    NOT NULL DEFAULT '',
    code_challenge_method TEXT    NOT NULL DEFAULT '',
    user_id               TEXT    NOT NULL DEFAULT '', -- '' until login
    auth_time             BIGINT,
    created_at            BIGINT  NOT NULL,
    expires_at            BIGINT  NOT NULL
);

CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

-- Codes and refresh tokens are stored by hash only.
CREATE TABLE auth_codes (
    hash                  BYTEA   NOT NULL PRIMARY KEY,
    domain_id             TEXT    NOT NULL REFERENCES domains (id),
    client_id             TEXT    NOT NULL REFERENCES clients (id),
    user_id               TEXT    NOT NULL,
    redirect_uri          TEXT    NOT NULL,
    scopes                TEXT    NOT NULL,
    nonce                 TEXT    NOT NULL DEFAULT '',
    code_challenge        TEXT    NOT NULL DEFAULT '',
    code_challenge_method TEXT    NOT NULL DEFAULT '',
    auth_time             BIGINT  NOT NULL,
    created_at            BIGINT  NOT NULL,
    expires_at            BIGINT  NOT NULL,
    used_at               BIGINT,
    family_id             TEXT    NOT NULL DEFAULT '' -- set when redeemed
);

CREATE INDEX auth_codes_client ON auth_codes (client_id);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
    hash       BYTEA   NOT NULL PRIMARY KEY,
    domain_id  TEXT    NOT NULL REFERENCES domains (id),
    client_id  TEXT    NOT NULL REFERENCES clients (id),
    user_id    TEXT    NOT NULL,
    family_id  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    auth_time  BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Revoked access tokens (by jti) and token families, kept until the tokens
-- would have expired anyway.
CREATE TABLE revoked_tokens (
    id         TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    domain_id  TEXT    NOT NULL REFERENCES domains (id),
    expires_at BIGINT  NOT NULL
);

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
