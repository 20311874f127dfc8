// Package consumer applies the commands topic to the ledger.
//
// A Processor is one member of the consumer group. For each partition the
// group assigns it, it first claims the partition in Postgres (fencing off
// any earlier owner), resumes from the offset stored there, and runs one
// worker state; its records are applied in offset order by the applier
// goroutine it belongs to. After each commit it publishes the outcomes
// to the requesters' reply partitions and marks the offsets for the Kafka
// group commit, so standard lag tooling sees progress.
//
// Concurrency rules:
//   - the poll loop is the only goroutine that polls; it hands each
//     partition's records to that partition's worker and blocks rebalances
//     while it does (kgo.BlockRebalanceOnPoll), so records fetched under one
//     assignment never reach a worker of the next one;
//   - a worker is the only writer for its partition; the Postgres claim
//     epoch makes that true across processes too;
//   - rebalance callbacks stop and wait for the workers they remove.
package consumer
