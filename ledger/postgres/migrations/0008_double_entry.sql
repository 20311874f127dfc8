-- A double-entry journal with history.
--
-- Every entry now records the account's whole state after it (balance_after
-- was already there), so the account as it stood at any version, or at any
-- time, is one row of entries. Rows written before this migration have NULL
-- in the *_after columns: their history has balances only.
--
-- counterparty is the other side of the entry: another account for transfer
-- legs, an external counterparty (default 'external') for deposits,
-- withdrawals and captures, '' for entries that move no money. reference and
-- metadata are the caller's, stored as given.
ALTER TABLE entries
    ADD COLUMN counterparty          text NOT NULL DEFAULT '',
    ADD COLUMN reference             text NOT NULL DEFAULT '',
    ADD COLUMN metadata              json,
    ADD COLUMN status_after          text,
    ADD COLUMN held_after            bigint,
    ADD COLUMN in_flight_after       bigint,
    ADD COLUMN overdraft_limit_after bigint;

-- The external side of every entry whose counterparty is external: the same
-- amount with the opposite sign, written in the same transaction as the
-- account's side and keyed by it. External counterparties have no balance row
-- (their balance is the sum of these rows, computed on read), so they need no
-- single writer and make no hot partition.
CREATE TABLE external_entries (
    account_id   text        NOT NULL,
    version      bigint      NOT NULL,
    counterparty text        NOT NULL,
    currency     text        NOT NULL,
    amount       bigint      NOT NULL,
    command_id   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, version)
);
CREATE INDEX external_entries_counterparty_idx ON external_entries (counterparty, currency) INCLUDE (amount);
