// Package postgres stores the ledger in PostgreSQL through pgx.
//
// It owns the schema (embedded, ordered migrations), the per-partition
// ownership records that fence off stale consumers, and the one transaction
// per batch that applies commands and advances the stored offset together.
package postgres
