package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// Store is the ledger's PostgreSQL adapter.
type Store struct {
	pool  *pgxpool.Pool
	stats applyCounters
	// beforeWrite, set only by tests, runs between a batch's reads and its
	// writes.
	beforeWrite func()
}

// Open connects to the database at url (a libpq URL or DSN) and checks that
// it answers.
func Open(ctx context.Context, url string, maxConns int32) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %v: %w", err, ledger.ErrUnavailable)
	}
	return &Store{pool: pool}, nil
}

// Close releases the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %v: %w", err, ledger.ErrUnavailable)
	}
	return nil
}

// Account returns an account's current state, or ledger.ErrNotFound.
func (s *Store) Account(ctx context.Context, id string) (ledger.Account, error) {
	var a ledger.Account
	err := s.pool.QueryRow(ctx, `SELECT id, currency, balance, held, overdraft_limit, version
		FROM accounts WHERE id = $1`, id).Scan(&a.ID, &a.Currency, &a.Balance, &a.Held, &a.OverdraftLimit, &a.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.Account{}, fmt.Errorf("account %q: %w", id, ledger.ErrNotFound)
	}
	if err != nil {
		return ledger.Account{}, fmt.Errorf("read account: %v: %w", err, ledger.ErrUnavailable)
	}
	a.Available = a.Balance - a.Held
	return a, nil
}

// Outcome returns a decided command's stored outcome and the fingerprint of
// the request that decided it, or ledger.ErrNotFound while it is undecided.
func (s *Store) Outcome(ctx context.Context, commandID string) (ledger.Outcome, []byte, error) {
	var (
		raw []byte
		fp  []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT outcome, fingerprint FROM commands WHERE command_id = $1`, commandID).Scan(&raw, &fp)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.Outcome{}, nil, fmt.Errorf("command %q: %w", commandID, ledger.ErrNotFound)
	}
	if err != nil {
		return ledger.Outcome{}, nil, fmt.Errorf("read command: %v: %w", err, ledger.ErrUnavailable)
	}
	out, err := wire.DecodeOutcome(raw)
	if err != nil {
		return ledger.Outcome{}, nil, fmt.Errorf("decode stored outcome of %q: %w", commandID, err)
	}
	return out, fp, nil
}
