// Package postgres stores the ledger in PostgreSQL through pgx.
//
// It owns the schema (embedded, ordered migrations), the per-partition
// ownership records that fence off stale consumers, the one transaction
// per batch that applies commands and advances the stored offset together,
// and each partition owner's cache, kept per claim, that lets a batch
// commit in one round trip. Its sessions carry server-side timeouts
// (Options), so a stuck client cannot hold locks without bound.
package postgres
