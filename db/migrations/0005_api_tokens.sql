-- API tokens: who may use the HTTP API, with which roles.
--
-- A token is shown once, when it is made; only its SHA-256 (hex) is stored, so the table holds nothing that
-- lets anyone sign in. The token's name is the actor every event it causes records. A name belongs to one live
-- token at a time: revoking keeps the row (for the record) and frees the name.

CREATE TABLE api_tokens (
    id         bigserial   PRIMARY KEY,
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    roles      text[]      NOT NULL CHECK (cardinality(roles) >= 1),
    token_hash text        NOT NULL UNIQUE CHECK (char_length(token_hash) = 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);

CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
