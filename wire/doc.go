// Package wire is Ordo's Kafka wire format: the command record (key,
// envelope, headers) that any Kafka client may produce to the commands
// topic, and the outcome records the consumer publishes to the replies
// topic. The producer, the consumer and the reply listener share it; the
// domain (package ledger) knows nothing of it.
package wire
