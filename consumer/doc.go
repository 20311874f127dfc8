// Package consumer applies the commands topic to the ledger.
//
// A Processor is one member of the consumer group. For each partition the
// group assigns it, it first claims the partition in Postgres (fencing off
// any earlier owner) and resumes from the offset stored there. The
// partition's records are then applied in offset order by the applier
// goroutine it belongs to. After each commit the Processor publishes the
// outcomes to the requesters' reply partitions and marks the offsets for the
// Kafka group commit, so standard lag tooling sees progress.
//
// Concurrency rules:
//   - the poll loop is the only goroutine that polls; it hands each
//     partition's records to the partition's applier and blocks rebalances
//     while it does (kgo.BlockRebalanceOnPoll), so records fetched under one
//     assignment never reach the applier under the next one;
//   - each partition is applied by exactly one applier goroutine (partition
//     modulo Config.Appliers), in offset order; an applier commits
//     everything queued for its partitions in one transaction (group
//     commit), so under load transactions grow instead of multiplying;
//   - the Postgres claim epoch makes the owner the only writer across
//     processes too;
//   - rebalance callbacks mark the partitions they remove halted and wait
//     for the applier's transaction in flight, so none outlives the
//     assignment;
//   - with an events topic, each claimed partition has one events publisher
//     goroutine (events.go), started by the claim and ended by the worker's
//     halt; the applier hands it committed batches without blocking, and
//     its transactional ID fences any other publisher of the partition;
//   - a partition that cannot be claimed or applied is stopped alone (see
//     Reason); the poll loop claims it again with backoff between polls,
//     while rebalances are blocked, and resumes it at the stored offset.
package consumer
