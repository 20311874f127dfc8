-- Accounts: the current state, one row per account, written only by the
-- consumer that owns the account's partition.
CREATE TABLE accounts (
    id              text        PRIMARY KEY,
    currency        text        NOT NULL,
    balance         bigint      NOT NULL,
    held            bigint      NOT NULL DEFAULT 0,
    overdraft_limit bigint      NOT NULL DEFAULT 0,
    version         bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (balance >= -overdraft_limit),
    CHECK (version >= 1)
);

-- The append-only journal: one row per applied command. (account_id,
-- version) is the primary key, so a version can never be written twice.
CREATE TABLE entries (
    account_id    text        NOT NULL REFERENCES accounts (id),
    version       bigint      NOT NULL,
    command_id    text        NOT NULL,
    kind          text        NOT NULL,
    amount        bigint      NOT NULL,
    balance_after bigint      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, version)
);

-- Every decided command, applied or rejected, with its replayable outcome
-- and where in the log it came from.
CREATE TABLE commands (
    command_id   text        PRIMARY KEY,
    account_id   text        NOT NULL,
    kind         text        NOT NULL,
    fingerprint  bytea       NOT NULL,
    status       text        NOT NULL,
    code         text        NOT NULL DEFAULT '',
    outcome      jsonb       NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX commands_account_idx ON commands (account_id);

-- Per-partition consumer state: the next offset to apply and the ownership
-- epoch that fences off consumers that lost the partition.
CREATE TABLE consumer_partitions (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint,
    epoch       bigint      NOT NULL,
    generation  integer     NOT NULL,
    member      text        NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
