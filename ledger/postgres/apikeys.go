package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/apikey"
	"github.com/ordo-dev/ordo/ledger"
)

// CreateAPIKey stores a new key (its hash, never its secret). Its
// CreatedAt is the database's clock; an existing ID is ledger.ErrConflict.
func (s *Store) CreateAPIKey(ctx context.Context, k apikey.Key) (apikey.Key, error) {
	if !k.Scope.Valid() {
		return apikey.Key{}, fmt.Errorf("api key %s: scope %q: %w", k.ID, k.Scope, ledger.ErrInvalid)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, name, scope, account_prefix, secret_hash)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
		k.ID, k.Name, string(k.Scope), k.AccountPrefix, k.Hash)
	if err != nil {
		return apikey.Key{}, fmt.Errorf("create api key: %v: %w", err, ledger.ErrUnavailable)
	}
	if tag.RowsAffected() == 0 {
		return apikey.Key{}, fmt.Errorf("api key %s: %w", k.ID, ledger.ErrConflict)
	}
	return s.APIKey(ctx, k.ID)
}

const apiKeyColumns = `id, name, scope, account_prefix, secret_hash, created_at, revoked_at`

func scanAPIKey(row pgx.Row) (apikey.Key, error) {
	var (
		k     apikey.Key
		scope string
	)
	err := row.Scan(&k.ID, &k.Name, &scope, &k.AccountPrefix, &k.Hash, &k.CreatedAt, &k.RevokedAt)
	k.Scope = apikey.Scope(scope)
	return k, err
}

// APIKey reads a key, revoked or not, or ledger.ErrNotFound.
func (s *Store) APIKey(ctx context.Context, id string) (apikey.Key, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return apikey.Key{}, fmt.Errorf("api key %s: %w", id, ledger.ErrNotFound)
	}
	if err != nil {
		return apikey.Key{}, fmt.Errorf("read api key: %v: %w", err, ledger.ErrUnavailable)
	}
	return k, nil
}

// APIKeys lists every key, revoked ones included, oldest first.
func (s *Store) APIKeys(ctx context.Context) ([]apikey.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %v: %w", err, ledger.ErrUnavailable)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apikey.Key, error) { return scanAPIKey(r) })
	if err != nil {
		return nil, fmt.Errorf("list api keys: %v: %w", err, ledger.ErrUnavailable)
	}
	return keys, nil
}

// RevokeAPIKey revokes a key at the database's clock and returns when it
// was revoked; revoking a revoked key keeps its first revocation time. An
// unknown ID is ledger.ErrNotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) (time.Time, error) {
	var at time.Time
	err := s.pool.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING revoked_at`, id).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, fmt.Errorf("api key %s: %w", id, ledger.ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("revoke api key: %v: %w", err, ledger.ErrUnavailable)
	}
	return at, nil
}
