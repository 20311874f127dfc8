-- Account lifecycle: active, frozen or closed.
ALTER TABLE accounts ADD COLUMN status text NOT NULL DEFAULT 'active';

-- Holds: money reserved on an account until it is captured, released or
-- expires. Written only by the owner of the account's partition, in the
-- transaction that changes the account's held amount, so held always equals
-- the sum of the account's open holds. A hold leaves 'open' once.
CREATE TABLE holds (
    id          text        PRIMARY KEY,
    account_id  text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    captured    bigint      NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= amount),
    status      text        NOT NULL CHECK (status IN ('open', 'captured', 'released', 'expired')),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    settled_at  timestamptz,
    command_id  text        NOT NULL
);
-- An account's holds, newest first, for listing with a cursor.
CREATE INDEX holds_account_idx ON holds (account_id, created_at DESC, id DESC);
-- Open holds by expiry, for each partition owner's expiry scan.
CREATE INDEX holds_due_idx ON holds (topic, partition, expires_at) WHERE status = 'open';
