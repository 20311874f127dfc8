-- The partition count each commands topic was first used with. Accounts
-- map to partitions by their key's hash modulo the count, so a different
-- count moves accounts to other partitions, and with them the single writer
-- that keeps their commands in order. Every role compares the topic's count
-- with this row at start and refuses to run on a mismatch.
CREATE TABLE topic_partitions (
    topic       text        PRIMARY KEY,
    partitions  integer     NOT NULL CHECK (partitions > 0),
    recorded_at timestamptz NOT NULL DEFAULT now()
);
