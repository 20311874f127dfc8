// Package testinfra starts the real dependencies integration tests run
// against: PostgreSQL through the testcontainers postgres module and a Kafka
// protocol broker container. Tests never skip when they are missing: a
// failure to start them fails the test run with the reason.
//
// Environment:
//
//	ORDO_TEST_POSTGRES_URL    use this server instead of a container (a database is created per test)
//	ORDO_TEST_POSTGRES_IMAGE  Postgres image (default postgres:16-alpine)
//	ORDO_TEST_BROKERS         use these brokers instead of a container (fresh topics per test)
//	ORDO_TEST_KAFKA_IMAGE     broker image (default apache/kafka:3.9.1; `make image`
//	                          builds ordo/broker:dev, which needs no registry)
package testinfra
