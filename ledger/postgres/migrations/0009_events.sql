-- The events topic's outbox is the commands table itself: every row is a
-- decision, written in the transaction that made it, with its place in the
-- commands log. A partition's new owner publishes the rows past the last
-- event in its events partition, in offset order; this index finds them.
-- (commands_pkey is on command_id, which says nothing about the log order.)
CREATE INDEX commands_source_idx ON commands (topic, partition, "offset");
