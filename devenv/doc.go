// Package devenv runs the development stand-ins Ordo needs when nothing else
// is given: a Kafka-protocol broker (franz-go's kfake, persisted under a data
// directory) and a private PostgreSQL server started from the installed
// binaries. Production runs on Apache Kafka (or a Kafka-compatible service)
// and a managed or self-run PostgreSQL; nothing here is meant for it.
package devenv
