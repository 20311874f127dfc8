-- How far each partition's commands rows (stored outcomes and idempotency
-- keys) were pruned by the outcome retention (consumer/retention.go). Rows
-- created before pruned_before may be gone, and every row at or below
-- pruned_through_offset was looked at; rows of a pending transfer or of an
-- unpublished outbox step are kept. The journal is never pruned. Written
-- in the transaction of each delete batch. The prune finds its rows by
-- commands_source_idx (topic, partition, offset) from 0009_events.sql: no
-- new index.
CREATE TABLE outcome_retention (
    topic                 text        NOT NULL,
    partition             integer     NOT NULL,
    pruned_before         timestamptz NOT NULL,
    pruned_through_offset bigint      NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
