package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ordo-dev/ordo/ledger"
)

// Record is one consumed command record, ready to apply.
type Record struct {
	Offset    int64
	CommandID string
	AccountID string         // the record key
	Command   ledger.Command // valid when Code is empty
	// Code, when set, rejects the record before it is decided: it could not
	// be decoded (CodeInvalidCommand) or sits on the wrong partition
	// (CodeMisrouted). Detail says why.
	Code   ledger.Code
	Detail string
}

// Result is what applying one record produced.
type Result struct {
	Outcome ledger.Outcome
	// Skipped is true for a record below the stored offset: it was applied
	// by an earlier batch and must not be answered again.
	Skipped bool
}

type priorCommand struct {
	fingerprint []byte
	outcome     ledger.Outcome
}

// ApplyBatch decides a run of records from one partition, in offset order,
// and stores every outcome, journal entry, account change and the partition's
// next offset in one transaction. It fails with ledger.ErrFenced, changing
// nothing, when the claim's epoch is no longer the stored one.
//
// Records at offsets the partition has already applied are skipped. A record
// whose command ID was already decided gets the stored outcome (or, with a
// different fingerprint, an idempotency_key_reused rejection) and changes
// nothing.
func (s *Store) ApplyBatch(ctx context.Context, claim Claim, recs []Record) ([]Result, error) {
	results, err := s.applyBatch(ctx, claim, recs)
	if err != nil {
		if errors.Is(err, ledger.ErrFenced) {
			return nil, err
		}
		return nil, fmt.Errorf("apply batch %s/%d: %w", claim.Topic, claim.Partition, err)
	}
	return results, nil
}

// applyBatch is one transaction in two round trips: BEGIN, the partition
// row lock and the loads in one pipeline; the writes, the offset and COMMIT
// in the next. The writes' guards fail inside the server (ordo_assert), so
// a guard that trips aborts the transaction before COMMIT.
func (s *Store) applyBatch(ctx context.Context, claim Claim, recs []Record) ([]Result, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	// A connection released inside a transaction (an error below) is
	// destroyed by the pool, never reused.
	defer conn.Release()

	var (
		epoch int64
		next  *int64
		found bool
	)
	st := newBatchState()
	ids, accountIDs := st.keys(recs)
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	// The row lock orders this batch against ClaimPartition: either the
	// batch commits first and the new owner resumes after it, or the claim
	// commits first and the epoch check below fails.
	b.Queue(`SELECT epoch, next_offset FROM consumer_partitions WHERE topic = $1 AND partition = $2 FOR UPDATE`,
		claim.Topic, claim.Partition).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&epoch, &next)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	b.Queue(`SELECT command_id, fingerprint, outcome FROM commands WHERE command_id = ANY($1)`, ids).Query(st.scanPrior)
	b.Queue(`SELECT id, currency, balance, held, overdraft_limit, version FROM accounts WHERE id = ANY($1)`, accountIDs).Query(st.scanAccounts)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	if !found || epoch != claim.Epoch {
		_, _ = conn.Exec(ctx, `ROLLBACK`)
		return nil, fmt.Errorf("apply %s/%d with epoch %d (stored %d): %w", claim.Topic, claim.Partition, claim.Epoch, epoch, ledger.ErrFenced)
	}

	results := make([]Result, len(recs))
	w := newBatchWriter(claim)
	last := int64(-1)
	for i, r := range recs {
		if next != nil && r.Offset < *next {
			results[i].Skipped = true
			continue
		}
		results[i].Outcome = decideRecord(r, st.prior, st.accounts, w)
		last = r.Offset
	}
	if last < 0 {
		_, err := conn.Exec(ctx, `ROLLBACK`)
		return results, err
	}
	w.offset(last + 1)
	if s.beforeWrite != nil {
		s.beforeWrite()
	}
	if err := w.flush(ctx, conn, st.accounts); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == guardFailed {
			return nil, fmt.Errorf("%s: %w", pe.Message, ledger.ErrFenced)
		}
		return nil, err
	}
	return results, nil
}

// guardFailed is the SQLSTATE ordo_assert raises.
const guardFailed = "OR001"

// decideRecord decides one record against the batch's state, updates that
// state and queues the writes.
func decideRecord(r Record, prior map[string]priorCommand, accounts map[string]*accountState, w *batchWriter) ledger.Outcome {
	if p, ok := prior[r.CommandID]; ok {
		if r.Code == "" && !bytes.Equal(p.fingerprint, r.Command.Fingerprint()) {
			return ledger.Outcome{
				CommandID: r.CommandID, Kind: r.Command.Kind, AccountID: r.AccountID,
				Status: ledger.StatusRejected, Code: ledger.CodeIdempotencyMismatch,
				Detail: "this command ID was already used for a different request",
			}
		}
		return p.outcome
	}
	var (
		out ledger.Outcome
		fp  []byte
	)
	if r.Code != "" {
		out = ledger.Outcome{CommandID: r.CommandID, AccountID: r.AccountID, Status: ledger.StatusRejected, Code: r.Code, Detail: r.Detail}
		fp = []byte{}
	} else {
		st := accounts[r.Command.AccountID]
		d := ledger.Decide(st.current, r.Command)
		if d.Account != nil {
			st.current = d.Account
			w.entry(*d.Entry)
		}
		out = d.Outcome
		fp = r.Command.Fingerprint()
	}
	prior[r.CommandID] = priorCommand{fingerprint: fp, outcome: out}
	w.command(r, fp, out)
	return out
}

// accountState tracks one account through a batch: as loaded, and as the
// batch's decisions leave it.
type accountState struct {
	loadedVersion int64 // 0 when the account did not exist
	current       *ledger.Account
}

// batchState is what a batch loads: earlier outcomes of its command IDs
// and the current state of its accounts.
type batchState struct {
	prior    map[string]priorCommand
	accounts map[string]*accountState
}

func newBatchState() *batchState {
	return &batchState{prior: map[string]priorCommand{}, accounts: map[string]*accountState{}}
}

// keys lists the command IDs and distinct account IDs of recs.
func (st *batchState) keys(recs []Record) (ids, accountIDs []string) {
	ids = make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.CommandID)
		if r.Code == "" {
			id := r.Command.AccountID
			if _, ok := st.accounts[id]; !ok {
				st.accounts[id] = &accountState{}
				accountIDs = append(accountIDs, id)
			}
		}
	}
	return ids, accountIDs
}

func (st *batchState) scanPrior(rows pgx.Rows) error {
	for rows.Next() {
		var (
			id  string
			p   priorCommand
			raw []byte
		)
		if err := rows.Scan(&id, &p.fingerprint, &raw); err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &p.outcome); err != nil {
			return fmt.Errorf("decode stored outcome of %q: %w", id, err)
		}
		st.prior[id] = p
	}
	return rows.Err()
}

func (st *batchState) scanAccounts(rows pgx.Rows) error {
	for rows.Next() {
		var a ledger.Account
		if err := rows.Scan(&a.ID, &a.Currency, &a.Balance, &a.Held, &a.OverdraftLimit, &a.Version); err != nil {
			return err
		}
		a.Available = a.Balance - a.Held
		st.accounts[a.ID].loadedVersion = a.Version
		st.accounts[a.ID].current = &a
	}
	return rows.Err()
}
