-- API keys: the secret of a key is never stored, only its argon2id hash
-- (PHC string). Revoked keys stay, for the audit trail; the API refuses
-- them within its key cache's TTL.
CREATE TABLE api_keys (
    id             text        PRIMARY KEY,
    name           text        NOT NULL,
    scope          text        NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    account_prefix text        NOT NULL DEFAULT '',
    secret_hash    text        NOT NULL CHECK (secret_hash LIKE '$argon2id$%'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);
