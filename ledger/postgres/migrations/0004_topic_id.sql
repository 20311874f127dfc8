-- The Kafka topic ID the partition's offsets belong to. A recreated topic
-- has a new ID; its offsets mean nothing for the stored next_offset, so a
-- claim under a different ID is refused instead of resuming (and skipping
-- the new log's records below the stored offset). Empty: not known.
ALTER TABLE consumer_partitions ADD COLUMN topic_id text NOT NULL DEFAULT '';
