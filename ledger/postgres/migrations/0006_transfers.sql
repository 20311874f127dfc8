-- Money an account sent in transfers not yet credited or refunded.
ALTER TABLE accounts ADD COLUMN in_flight bigint NOT NULL DEFAULT 0 CHECK (in_flight >= 0);

-- Transfers, as their source partition's owner records them: written in the
-- transaction of the debit (pending) and of the settle (completed or
-- refunded), only while the row is still pending.
CREATE TABLE transfers (
    id           text        PRIMARY KEY,
    from_account text        NOT NULL,
    to_account   text        NOT NULL,
    amount       bigint      NOT NULL CHECK (amount > 0),
    currency     text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('pending', 'completed', 'refunded')),
    reason       text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    completed_at timestamptz,
    command_id   text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL
);

-- The outbox: the next step of a saga, written in the transaction that
-- decided the step before it, and published to the commands topic by the
-- owner of the partition that wrote it. A row is found by published_at IS
-- NULL, never by a sequence, so a row that commits after a later one is
-- still published.
CREATE TABLE outbox (
    command_id   text        PRIMARY KEY,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    account_id   text        NOT NULL,
    value        bytea       NOT NULL,
    headers      json        NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (topic, partition, created_at) WHERE published_at IS NULL;
