// Package baseline implements Ordo's HTTP contract the way a careful team
// would without Ordo, for `ordo bench --compare`: each command runs
// synchronously in the API process against Postgres, either under a row
// lock (SELECT ... FOR UPDATE) or optimistically (read the version, UPDATE
// ... WHERE version = $v, retry on conflict). Both use the same schema,
// the same domain rules (ledger.Decide) and the same idempotency (the
// commands table's primary key), and plug into api.Server as its Submitter,
// so validation, problem documents and Idempotency-Key handling are
// identical to Ordo's.
package baseline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// Mode selects the concurrency control.
type Mode string

// The modes.
const (
	RowLock    Mode = "rowlock"
	Optimistic Mode = "optimistic"
)

// Submitter executes commands directly against Postgres.
type Submitter struct {
	pool       *pgxpool.Pool
	mode       Mode
	deliver    func(ledger.Outcome, []byte)
	maxRetries int

	// Retries counts optimistic conflicts and lock-path retries.
	Retries atomic.Int64
}

// New returns a submitter; set where outcomes go with SetDeliver.
func New(pool *pgxpool.Pool, mode Mode) (*Submitter, error) {
	if mode != RowLock && mode != Optimistic {
		return nil, fmt.Errorf("baseline mode %q: want rowlock or optimistic", mode)
	}
	return &Submitter{pool: pool, mode: mode, maxRetries: 50}, nil
}

// SetDeliver sets where outcomes are handed (api.Server.Deliver).
func (s *Submitter) SetDeliver(fn func(ledger.Outcome, []byte)) { s.deliver = fn }

// Ping checks Postgres.
func (s *Submitter) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Submit decides and stores the command before returning, then delivers
// its outcome.
func (s *Submitter) Submit(ctx context.Context, cmd ledger.Command, _ wire.Route) (wire.Position, error) {
	var (
		out ledger.Outcome
		err error
	)
	for attempt := 0; ; attempt++ {
		if s.mode == RowLock {
			out, err = s.rowLock(ctx, cmd)
		} else {
			out, err = s.optimistic(ctx, cmd)
		}
		if !errors.Is(err, errRetry) {
			break
		}
		s.Retries.Add(1)
		if attempt >= s.maxRetries {
			return wire.Position{}, fmt.Errorf("%d conflicting retries: %w", attempt, ledger.ErrUnavailable)
		}
		// Jittered backoff, as a careful client of optimistic locking does.
		time.Sleep(time.Duration(rand.Int64N(int64(time.Millisecond) * int64(1+min(attempt, 10)))))
	}
	if err != nil {
		return wire.Position{}, fmt.Errorf("baseline %s: %v: %w", s.mode, err, ledger.ErrUnavailable)
	}
	s.deliver(out, cmd.Fingerprint())
	return wire.Position{}, nil
}

var errRetry = errors.New("retry")

// rowLock: one transaction; the account row is locked for its duration.
func (s *Submitter) rowLock(ctx context.Context, cmd ledger.Command) (ledger.Outcome, error) {
	var out ledger.Outcome
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if prior, ok, err := storedOutcome(ctx, tx, cmd); err != nil || ok {
			out = prior
			return err
		}
		acc, err := readAccount(ctx, tx, cmd.AccountID, " FOR UPDATE")
		if err != nil {
			return err
		}
		out, err = decideAndWrite(ctx, tx, acc, cmd, true)
		return err
	})
	return out, err
}

// optimistic: read without locks, then write only if the version is still
// the one read; a conflict retries from the read.
func (s *Submitter) optimistic(ctx context.Context, cmd ledger.Command) (ledger.Outcome, error) {
	if prior, ok, err := storedOutcome(ctx, s.pool, cmd); err != nil || ok {
		return prior, err
	}
	acc, err := readAccount(ctx, s.pool, cmd.AccountID, "")
	if err != nil {
		return ledger.Outcome{}, err
	}
	var out ledger.Outcome
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out, err = decideAndWrite(ctx, tx, acc, cmd, false)
		return err
	})
	return out, err
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func storedOutcome(ctx context.Context, q querier, cmd ledger.Command) (ledger.Outcome, bool, error) {
	var raw, fp []byte
	err := q.QueryRow(ctx, `SELECT outcome, fingerprint FROM commands WHERE command_id = $1`, cmd.ID).Scan(&raw, &fp)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.Outcome{}, false, nil
	}
	if err != nil {
		return ledger.Outcome{}, false, err
	}
	if !bytes.Equal(fp, cmd.Fingerprint()) {
		return ledger.Outcome{CommandID: cmd.ID, Kind: cmd.Kind, AccountID: cmd.AccountID, Status: ledger.StatusRejected,
			Code: ledger.CodeIdempotencyMismatch, Detail: "this command ID was already used for a different request"}, true, nil
	}
	var out ledger.Outcome
	return out, true, json.Unmarshal(raw, &out)
}

func readAccount(ctx context.Context, q querier, id, lock string) (*ledger.Account, error) {
	var a ledger.Account
	err := q.QueryRow(ctx, `SELECT id, currency, balance, held, overdraft_limit, version FROM accounts WHERE id = $1`+lock, id).
		Scan(&a.ID, &a.Currency, &a.Balance, &a.Held, &a.OverdraftLimit, &a.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a.Available = a.Balance - a.Held
	return &a, nil
}

// decideAndWrite applies the domain rule and writes the account (guarded
// by the version read unless the row is locked), the journal entry and the
// idempotency row. It returns errRetry on a conflict.
func decideAndWrite(ctx context.Context, tx pgx.Tx, acc *ledger.Account, cmd ledger.Command, locked bool) (ledger.Outcome, error) {
	d := ledger.Decide(ledger.State{Account: acc}, cmd)
	if d.Account != nil {
		a := d.Account
		if acc == nil {
			ct, err := tx.Exec(ctx, `INSERT INTO accounts (id, currency, balance, held, overdraft_limit, version)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`, a.ID, a.Currency, a.Balance, a.Held, a.OverdraftLimit, a.Version)
			if err != nil {
				return ledger.Outcome{}, err
			}
			if ct.RowsAffected() == 0 {
				return ledger.Outcome{}, errRetry // opened concurrently: decide again
			}
		} else {
			sql := `UPDATE accounts SET balance = $2, held = $3, version = $4, updated_at = now() WHERE id = $1`
			args := []any{a.ID, a.Balance, a.Held, a.Version}
			if !locked {
				sql += ` AND version = $5`
				args = append(args, acc.Version)
			}
			ct, err := tx.Exec(ctx, sql, args...)
			if err != nil {
				return ledger.Outcome{}, err
			}
			if ct.RowsAffected() != 1 {
				return ledger.Outcome{}, errRetry
			}
		}
		e := d.Entry
		if _, err := tx.Exec(ctx, `INSERT INTO entries (account_id, version, command_id, kind, amount, balance_after)
			VALUES ($1, $2, $3, $4, $5, $6)`, e.AccountID, e.Version, e.CommandID, string(e.Kind), e.Amount, e.BalanceAfter); err != nil {
			return ledger.Outcome{}, err
		}
	}
	raw, err := json.Marshal(d.Outcome)
	if err != nil {
		return ledger.Outcome{}, err
	}
	ct, err := tx.Exec(ctx, `INSERT INTO commands (command_id, account_id, kind, fingerprint, status, code, outcome, topic, partition, "offset")
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'baseline', 0, 0) ON CONFLICT (command_id) DO NOTHING`,
		cmd.ID, cmd.AccountID, string(cmd.Kind), cmd.Fingerprint(), string(d.Outcome.Status), string(d.Outcome.Code), raw)
	if err != nil {
		return ledger.Outcome{}, err
	}
	if ct.RowsAffected() == 0 {
		// The same command was decided concurrently: undo ours, answer theirs.
		return ledger.Outcome{}, errRetry
	}
	return d.Outcome, nil
}
