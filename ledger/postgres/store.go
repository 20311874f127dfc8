package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// Store is the ledger's PostgreSQL adapter.
type Store struct {
	pool   *pgxpool.Pool
	stats  applyCounters
	caches *caches
	// beforeWrite, set only by tests, runs between a batch's reads and its
	// writes.
	beforeWrite func()
	// switchPlans: the sessions plan every execution because Open set
	// it, so a batch's writes that cannot take a bad plan switch to
	// generic plans inside the transaction (planGeneric, writer.go).
	switchPlans bool
}

// Options configure a Store. The zero value is usable: pgx's pool size,
// no server-side timeouts, the default cache sizes.
type Options struct {
	// MaxConns: the most connections in the pool. 0: pgx's default
	// (the larger of 4 and the number of CPUs).
	MaxConns int32
	// StatementTimeout, LockTimeout and IdleInTransactionTimeout set the
	// sessions' statement_timeout, lock_timeout and
	// idle_in_transaction_session_timeout (whole milliseconds; 0: not set,
	// the server's default applies). Postgres enforces them, so they hold
	// even when the client is stuck: a session idle in a transaction past
	// its bound is terminated, its locks released and its transaction
	// rolled back.
	StatementTimeout         time.Duration
	LockTimeout              time.Duration
	IdleInTransactionTimeout time.Duration
	// CacheAccounts: how many accounts each partition owner's cache holds
	// (0: DefaultCacheAccounts; negative: no cache, every batch takes the
	// locked way). When full it starts over.
	CacheAccounts int
	// Logger, when set, receives pgx's log: failed statements at warn, and
	// every statement at debug when the logger is enabled at debug.
	Logger *slog.Logger
	// Tracer, when set, traces every statement (otelpgx's tracer).
	Tracer pgx.QueryTracer
	// CacheCommands: how many decided command IDs each partition owner's
	// cache remembers, so that a retry of one is answered from memory (0:
	// DefaultCacheCommands). When full the oldest is forgotten.
	CacheCommands int
}

// runtimeParams are the session settings o asks for, sent at connection
// start-up.
func (o Options) runtimeParams() map[string]string {
	params := map[string]string{}
	for name, d := range map[string]time.Duration{
		"statement_timeout":                   o.StatementTimeout,
		"lock_timeout":                        o.LockTimeout,
		"idle_in_transaction_session_timeout": o.IdleInTransactionTimeout,
	} {
		if d > 0 {
			params[name] = strconv.FormatInt(max(d.Milliseconds(), 1), 10)
		}
	}
	return params
}

// planCacheMode is the session setting that decides whether a prepared
// statement may run a generic plan.
//
// Ordo's sessions plan every execution for its parameters
// (force_custom_plan) unless the database URL sets plan_cache_mode itself.
// pgx prepares each statement once per connection, and Postgres switches a
// prepared statement to a generic plan after five executions if that plan
// looks no costlier than the custom ones so far. On a new database, or
// after a restore or a bulk load, the statistics describe tables far smaller
// than they are, so the generic plan it keeps is a sequential scan (of
// accounts for the batched update, of commands for the outcome lookup), and
// it stays until autovacuum happens to analyze the table, costing more with
// every row the table gains (BENCHMARKS.md, "No cold start"). A custom plan sees the real arrays and the tables' real sizes in
// pages, so it takes the primary-key index once a table is large enough to
// make that worth it (with the random_page_cost below). It
// costs a planning per execution, paid once per batch statement.
//
// Sessions also take random_page_cost=1.1 unless the URL sets it, the usual
// value for data on SSDs or in memory, where a random page costs about what
// a sequential one does. With the server's default of 4, a custom plan for
// the batched account update joins by scanning all of accounts once a batch
// holds a few dozen commands and the table a few thousand rows: measured on
// a fresh `ordo dev` with 10,000 accounts, 1583 sequential scans of accounts
// in a minute and a first minute at three quarters of the later speed,
// against 87 scans and no slow start with 1.1.
const planCacheMode = "plan_cache_mode"

// Open connects to the database at url (a libpq URL or DSN) and checks that
// it answers. Settings in o override the same ones in url. Sessions run with
// plan_cache_mode=force_custom_plan and random_page_cost=1.1 unless url sets
// them (see planCacheMode).
func Open(ctx context.Context, url string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	for name, v := range o.runtimeParams() {
		cfg.ConnConfig.RuntimeParams[name] = v
	}
	_, userPlans := cfg.ConnConfig.RuntimeParams[planCacheMode]
	if !userPlans {
		cfg.ConnConfig.RuntimeParams[planCacheMode] = "force_custom_plan"
	}
	if _, set := cfg.ConnConfig.RuntimeParams["random_page_cost"]; !set {
		cfg.ConnConfig.RuntimeParams["random_page_cost"] = "1.1"
	}
	var tracers []pgx.QueryTracer
	if o.Logger != nil {
		tracers = append(tracers, queryTracer(o.Logger))
	}
	if o.Tracer != nil {
		tracers = append(tracers, o.Tracer)
	}
	switch len(tracers) {
	case 1:
		cfg.ConnConfig.Tracer = tracers[0]
	case 2:
		cfg.ConnConfig.Tracer = multitracer.New(tracers...)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %v: %w", err, ledger.ErrUnavailable)
	}
	return &Store{pool: pool, caches: newCaches(o.CacheAccounts, o.CacheCommands), switchPlans: !userPlans}, nil
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
	err := s.pool.QueryRow(ctx, `SELECT id, currency, status, balance, held, overdraft_limit, in_flight, version
		FROM accounts WHERE id = $1`, id).Scan(&a.ID, &a.Currency, &a.Status, &a.Balance, &a.Held, &a.OverdraftLimit, &a.InFlight, &a.Version)
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
