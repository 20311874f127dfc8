package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

type priorCommand struct {
	fingerprint []byte
	outcome     ledger.Outcome
}

// ApplyBatch decides a run of records from one partition, in offset order,
// and stores every outcome, journal entry, account change and the partition's
// next offset in one transaction. It fails with ledger.ErrClaimLost, changing
// nothing, when the claim's epoch is no longer the stored one.
//
// Records at offsets the partition has already applied are skipped. A record
// whose command ID was already decided gets the stored outcome (or, with a
// different fingerprint, an idempotency_key_reused rejection) and changes
// nothing.
func (s *Store) ApplyBatch(ctx context.Context, claim ledger.Claim, recs []ledger.Record) ([]ledger.Result, error) {
	res, err := s.ApplyBatches(ctx, []ledger.PartitionBatch{{Claim: claim, Records: recs}})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// ApplyBatches applies batches of several partitions of one topic in a
// single transaction (group commit): one BEGIN, one fsync at COMMIT. Each
// batch is decided as ApplyBatch decides it. If any claim is fenced, nothing
// commits and the error is a *ledger.FencedError naming those partitions; the
// caller drops them and retries the rest. If a write guard of the locked
// way trips, nothing commits and the error wraps ledger.ErrGuardFailed.
//
// When the owner's cache of every batch's partition covers it (see cache),
// the transaction is one round trip; otherwise, or when a guard of that
// attempt fails, it is two: the partition rows are locked and the commands
// and accounts read first.
func (s *Store) ApplyBatches(ctx context.Context, batches []ledger.PartitionBatch) ([][]ledger.Result, error) {
	results, err := s.applyBatches(ctx, batches)
	if err != nil {
		if errors.Is(err, ledger.ErrClaimLost) || errors.Is(err, ledger.ErrGuardFailed) {
			return nil, err
		}
		return nil, fmt.Errorf("apply batches: %w", err)
	}
	return results, nil
}

// applyBatches tries the cached way when the caches cover every batch, and
// falls back to the locked way.
func (s *Store) applyBatches(ctx context.Context, batches []ledger.PartitionBatch) ([][]ledger.Result, error) {
	if len(batches) == 0 {
		return nil, nil
	}
	topic := batches[0].Claim.Topic
	// Rows are locked in partition order, so two transactions that lock
	// overlapping sets (an old and a new owner mid-rebalance) cannot deadlock.
	order := make([]int, len(batches))
	for i, b := range batches {
		order[i] = i
		if b.Claim.Topic != topic {
			return nil, fmt.Errorf("batches of topics %s and %s in one transaction", topic, b.Claim.Topic)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return int(batches[a].Claim.Partition) - int(batches[b].Claim.Partition) })
	caches := make([]*cache, len(batches))
	cached := true
	for i, b := range batches {
		caches[i] = s.caches.take(b.Claim)
		cached = cached && caches[i].covers(b.Records)
	}
	defer s.caches.give(caches)

	var (
		results [][]ledger.Result
		nexts   []int64
		st      *batchState
		err     error
	)
	if cached {
		results, nexts, st, err = s.applyCached(ctx, topic, order, batches, caches)
		if err == nil {
			s.stats.cached.Add(1)
		} else {
			// A guard failed (the cache was wrong, a command ID not
			// remembered was decided before, the claim is gone) or the
			// database did: nothing of the attempt committed, or, if the
			// connection broke at COMMIT, the locked way finds its offsets
			// stored and skips.
			s.stats.fallbacks.Add(1)
			// When only a command ID decided before this claim tripped
			// the key (nothing the cache can know), the caches are still
			// right; after any other failure they may not be.
			if !isDuplicateCommand(err) {
				resetCaches(caches)
			}
			if ctx.Err() != nil {
				return nil, err
			}
		}
	}
	if !cached || err != nil {
		results, nexts, st, err = s.applyLocked(ctx, topic, order, batches)
		if err != nil {
			var fe *ledger.FencedError
			if errors.As(err, &fe) {
				for i, b := range batches {
					if slices.Contains(fe.Partitions, b.Claim.Partition) {
						s.caches.drop(caches[i])
					}
				}
			}
			resetCaches(caches)
			return nil, err
		}
		s.stats.locked.Add(1)
	}
	for i, b := range batches {
		caches[i].committed(nexts[i], b.Records, st)
	}
	return results, nil
}

func resetCaches(caches []*cache) {
	for _, c := range caches {
		c.reset()
	}
}

// isDuplicateCommand reports whether err is the commands table's primary
// key refusing a command ID.
func isDuplicateCommand(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == uniqueViolation && pe.ConstraintName == "commands_pkey"
}

// uniqueViolation is the SQLSTATE of a unique or primary key violation.
const uniqueViolation = "23505"

// applyCached decides the batches from their caches and commits them in one
// round trip; see cache for the guards. A command ID a cache remembers is
// answered with its stored outcome, and writes nothing.
func (s *Store) applyCached(ctx context.Context, topic string, order []int, batches []ledger.PartitionBatch, caches []*cache) ([][]ledger.Result, []int64, *batchState, error) {
	st := newBatchState()
	for i, b := range batches {
		c := caches[i]
		for _, r := range b.Records {
			if r.Offset < c.next {
				continue
			}
			if p, ok := c.decided[r.CommandID]; ok {
				st.prior[r.CommandID] = p
				continue
			}
			if r.Code != "" {
				continue
			}
			if id := r.Command.HoldID; id != "" {
				if _, ok := st.holds[id]; !ok {
					st.holds[id] = &holdState{stored: true, current: c.holds[id]}
				}
			}
			if id := r.Command.TransferID; id != "" && r.Command.Kind == ledger.KindTransferSettle {
				if _, ok := st.transfers[id]; !ok {
					st.transfers[id] = &transferState{stored: true, current: c.transfers[id]}
				}
			}
			if _, ok := st.accounts[r.Command.AccountID]; ok {
				continue
			}
			a := c.accounts[r.Command.AccountID]
			as := &accountState{current: a}
			if a != nil {
				as.loadedVersion = a.Version
			}
			st.accounts[r.Command.AccountID] = as
		}
	}
	prev := make([]int64, len(batches))
	for i := range batches {
		prev[i] = caches[i].next
	}
	w := newBatchWriter(topic, s.switchPlans)
	results, nexts := decideBatches(order, batches, prev, st, w)
	if w.empty() {
		return results, nexts, st, nil // every record was applied before
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	defer conn.Release()
	if err := w.flush(ctx, conn, st, true); err != nil {
		return nil, nil, nil, err
	}
	return results, nexts, st, nil
}

// decideBatches decides every record not below its partition's next offset
// (prev, -1 for none) in partition order, queues the writes and returns the
// results and each partition's next offset after them.
func decideBatches(order []int, batches []ledger.PartitionBatch, prev []int64, st *batchState, w *batchWriter) ([][]ledger.Result, []int64) {
	results := make([][]ledger.Result, len(batches))
	nexts := slices.Clone(prev)
	for _, i := range order {
		batch := batches[i]
		results[i] = make([]ledger.Result, len(batch.Records))
		last := int64(-1)
		for j, r := range batch.Records {
			if r.Offset < prev[i] {
				results[i][j].Skipped = true
				continue
			}
			stored := len(w.cmdID)
			results[i][j].Outcome = decideRecord(r, batch.Claim.Partition, st, w)
			if len(w.cmdID) > stored {
				// A new commands row, written with this time (see flush).
				results[i][j].Stored, results[i][j].DecidedAt = true, st.decidedAt()
			}
			results[i][j].Emit, results[i][j].Final = st.emits[r.CommandID], st.finals[r.CommandID]
			last = r.Offset
		}
		if last >= 0 {
			w.offset(batch.Claim.Partition, prev[i], last+1, batch.Claim.Epoch)
			nexts[i] = last + 1
		}
	}
	return results, nexts
}

type lockedPartition struct {
	epoch int64
	next  *int64
	found bool
}

// applyLocked is one transaction in two round trips: BEGIN, the partition
// row locks and the loads in one pipeline; the writes, the offsets and
// COMMIT in the next. The writes' guards fail inside the server
// (ordo_assert), so a guard that trips aborts the transaction before COMMIT.
func (s *Store) applyLocked(ctx context.Context, topic string, order []int, batches []ledger.PartitionBatch) ([][]ledger.Result, []int64, *batchState, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	// A connection released inside a transaction (an error below) is
	// destroyed by the pool, never reused.
	defer conn.Release()

	locks := make([]lockedPartition, len(batches))
	st := newBatchState()
	var ids, accountIDs []string
	for _, b := range batches {
		ids, accountIDs = st.keys(b.Records, ids, accountIDs)
	}
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	// The row locks order this transaction against ClaimPartition: either
	// it commits first and the new owner resumes after it, or the claim
	// commits first and the epoch check below fails.
	for _, i := range order {
		l := &locks[i]
		b.Queue(`SELECT epoch, next_offset FROM consumer_partitions WHERE topic = $1 AND partition = $2 FOR UPDATE`,
			topic, batches[i].Claim.Partition).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&l.epoch, &l.next)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			l.found = err == nil
			return err
		})
	}
	b.Queue(`SELECT command_id, fingerprint, outcome FROM commands WHERE command_id = ANY($1)`, ids).Query(st.scanPrior)
	b.Queue(`SELECT id, currency, status, balance, held, overdraft_limit, in_flight, version FROM accounts WHERE id = ANY($1)`, accountIDs).Query(st.scanAccounts)
	if holdIDs := st.holdKeys(batches); len(holdIDs) > 0 {
		b.Queue(`SELECT `+holdColumns+` FROM holds WHERE id = ANY($1)`, holdIDs).Query(st.scanHolds)
	}
	if transferIDs := st.transferKeys(batches); len(transferIDs) > 0 {
		b.Queue(`SELECT `+transferColumns+` FROM transfers WHERE id = ANY($1)`, transferIDs).Query(st.scanTransfers)
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, nil, err
	}
	var fenced []int32
	prev := make([]int64, len(batches))
	for i, l := range locks {
		if !l.found || l.epoch != batches[i].Claim.Epoch {
			fenced = append(fenced, batches[i].Claim.Partition)
		}
		prev[i] = -1
		if l.next != nil {
			prev[i] = *l.next
		}
	}
	if len(fenced) > 0 {
		_, _ = conn.Exec(ctx, `ROLLBACK`)
		return nil, nil, nil, &ledger.FencedError{Partitions: fenced}
	}

	w := newBatchWriter(topic, s.switchPlans)
	results, nexts := decideBatches(order, batches, prev, st, w)
	if w.empty() {
		_, err := conn.Exec(ctx, `ROLLBACK`)
		return results, nexts, st, err
	}
	if s.beforeWrite != nil {
		s.beforeWrite()
	}
	if err := w.flush(ctx, conn, st, false); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == guardFailed {
			return nil, nil, nil, fmt.Errorf("%s: %w", pe.Message, ledger.ErrGuardFailed)
		}
		return nil, nil, nil, err
	}
	return results, nexts, st, nil
}

// guardFailed is the SQLSTATE ordo_assert raises.
const guardFailed = "OR001"

// decideRecord decides one record against the batch's state, updates that
// state and queues the writes.
func decideRecord(r ledger.Record, partition int32, bs *batchState, w *batchWriter) ledger.Outcome {
	prior, accounts := bs.prior, bs.accounts
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
		state := ledger.State{Account: st.current}
		if r.Command.HoldID != "" {
			if hs := bs.holds[r.Command.HoldID]; hs != nil {
				state.Hold = hs.current
			}
		}
		if r.Command.TransferID != "" && r.Command.Kind == ledger.KindTransferSettle {
			if ts := bs.transfers[r.Command.TransferID]; ts != nil {
				state.Transfer = ts.current
			}
		}
		d := ledger.DecideAt(state, r.Command, bs.now)
		if d.Account != nil {
			st.current = d.Account
			w.entry(*d.Entry, d.Account.Currency)
		}
		if d.Hold != nil {
			bs.holdChanged(d.Hold, r.CommandID, partition)
		}
		if d.Transfer != nil {
			bs.transferChanged(d, partition, w)
		}
		if d.Emit != nil {
			bs.emit(r, *d.Emit, partition, w)
		}
		out = d.Outcome
		fp = r.Command.Fingerprint()
	}
	prior[r.CommandID] = priorCommand{fingerprint: fp, outcome: out}
	w.command(r, partition, fp, out)
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
	// holds are the holds the batch's commands name or create, by ID.
	holds map[string]*holdState
	// transfers are the transfers the batch's commands start or settle,
	// by ID; emits and finals are the outbox rows and saga-ending outcomes
	// its decisions produced, by the deciding record's command ID.
	transfers map[string]*transferState
	emits     map[string]*ledger.Outbound
	finals    map[string]*ledger.Outcome
	// now is the decision time of the batch's commands, for their
	// deadlines: read once, when the attempt starts deciding.
	now time.Time
}

// decidedAt is the time the batch's commands rows are stored with, at
// the precision Postgres keeps, so that an event built from memory and one
// read back from the row agree.
func (st *batchState) decidedAt() time.Time { return st.now.UTC().Truncate(time.Microsecond) }

func newBatchState() *batchState {
	return &batchState{prior: map[string]priorCommand{}, accounts: map[string]*accountState{}, holds: map[string]*holdState{},
		transfers: map[string]*transferState{}, emits: map[string]*ledger.Outbound{}, finals: map[string]*ledger.Outcome{}, now: time.Now()}
}

// keys appends the command IDs and the accounts not seen yet of recs.
func (st *batchState) keys(recs []ledger.Record, ids, accountIDs []string) ([]string, []string) {
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
		var err error
		if p.outcome, err = wire.DecodeOutcome(raw); err != nil {
			return fmt.Errorf("decode stored outcome of %q: %w", id, err)
		}
		st.prior[id] = p
	}
	return rows.Err()
}

func (st *batchState) scanAccounts(rows pgx.Rows) error {
	for rows.Next() {
		var a ledger.Account
		if err := rows.Scan(&a.ID, &a.Currency, &a.Status, &a.Balance, &a.Held, &a.OverdraftLimit, &a.InFlight, &a.Version); err != nil {
			return err
		}
		a.Available = a.Balance - a.Held
		st.accounts[a.ID].loadedVersion = a.Version
		st.accounts[a.ID].current = &a
	}
	return rows.Err()
}
