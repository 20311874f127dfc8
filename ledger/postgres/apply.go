package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

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
	results := make([]Result, len(recs))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			epoch int64
			next  *int64
		)
		// The row lock orders this batch against ClaimPartition: either the
		// batch commits first and the new owner resumes after it, or the
		// claim commits first and this check fails.
		err := tx.QueryRow(ctx, `SELECT epoch, next_offset FROM consumer_partitions
			WHERE topic = $1 AND partition = $2 FOR UPDATE`, claim.Topic, claim.Partition).Scan(&epoch, &next)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && epoch != claim.Epoch) {
			return fmt.Errorf("apply %s/%d with epoch %d (stored %d): %w", claim.Topic, claim.Partition, claim.Epoch, epoch, ledger.ErrFenced)
		}
		if err != nil {
			return err
		}
		todo := make([]int, 0, len(recs))
		for i, r := range recs {
			if next != nil && r.Offset < *next {
				results[i].Skipped = true
				continue
			}
			todo = append(todo, i)
		}
		if len(todo) == 0 {
			return nil
		}
		prior, accounts, err := loadBatchState(ctx, tx, recs, todo)
		if err != nil {
			return err
		}
		w := newBatchWriter(claim)
		for _, i := range todo {
			results[i].Outcome = decideRecord(recs[i], prior, accounts, w)
		}
		w.offset(recs[todo[len(todo)-1]].Offset + 1)
		return w.flush(ctx, tx, accounts)
	})
	if err != nil {
		if errors.Is(err, ledger.ErrFenced) {
			return nil, err
		}
		return nil, fmt.Errorf("apply batch %s/%d: %w", claim.Topic, claim.Partition, err)
	}
	return results, nil
}

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

func loadBatchState(ctx context.Context, tx pgx.Tx, recs []Record, todo []int) (map[string]priorCommand, map[string]*accountState, error) {
	ids := make([]string, 0, len(todo))
	accounts := map[string]*accountState{}
	accountIDs := []string{}
	for _, i := range todo {
		ids = append(ids, recs[i].CommandID)
		if recs[i].Code == "" {
			id := recs[i].Command.AccountID
			if _, ok := accounts[id]; !ok {
				accounts[id] = &accountState{}
				accountIDs = append(accountIDs, id)
			}
		}
	}
	prior := map[string]priorCommand{}
	rows, err := tx.Query(ctx, `SELECT command_id, fingerprint, outcome FROM commands WHERE command_id = ANY($1)`, ids)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var (
			id  string
			p   priorCommand
			raw []byte
		)
		if err := rows.Scan(&id, &p.fingerprint, &raw); err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal(raw, &p.outcome); err != nil {
			return nil, nil, fmt.Errorf("decode stored outcome of %q: %w", id, err)
		}
		prior[id] = p
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows, err = tx.Query(ctx, `SELECT id, currency, balance, held, overdraft_limit, version
		FROM accounts WHERE id = ANY($1)`, accountIDs)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var a ledger.Account
		if err := rows.Scan(&a.ID, &a.Currency, &a.Balance, &a.Held, &a.OverdraftLimit, &a.Version); err != nil {
			return nil, nil, err
		}
		a.Available = a.Balance - a.Held
		accounts[a.ID].loadedVersion = a.Version
		accounts[a.ID].current = &a
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return prior, accounts, nil
}
