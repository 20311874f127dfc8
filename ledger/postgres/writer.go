package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// batchWriter collects a batch's writes column by column and sends them as
// a few set-based statements (unnest) in one pipelined round trip.
type batchWriter struct {
	topic string

	cmdID, cmdAccount, cmdKind, cmdStatus, cmdCode []string
	cmdFP, cmdOutcome                              [][]byte
	cmdOffset                                      []int64
	cmdPartition                                   []int32

	entAccount, entCommand, entKind   []string
	entVersion, entAmount, entBalance []int64
	// the entries' journal columns (0008): the other side, the caller's
	// reference and metadata (canonical JSON, '' for none), the account's
	// state after the entry
	entCounterparty, entReference, entMetadata, entStatus []string
	entHeld, entFlight, entOD                             []int64
	// the external side of the entries that have one (HasExternalSide)
	extAccount, extCounterparty, extCurrency, extCommand []string
	extVersion, extAmount                                []int64

	// outbox rows and saga-ending outcomes (transfers.go)
	obID, obAccount    []string
	obValue, obHeaders [][]byte
	obPartition        []int32
	finID              []string
	finOutcome         [][]byte

	offPartition               []int32
	offPrev, offNext, offEpoch []int64
	err                        error

	// switchPlans: the transaction may switch to generic plans for the
	// statements marked planGeneric (the session plans every execution
	// because Ordo set it, not the database URL); current is the plans the
	// transaction runs now.
	switchPlans bool
	current     plan
}

func newBatchWriter(topic string, switchPlans bool) *batchWriter {
	return &batchWriter{topic: topic, switchPlans: switchPlans}
}

// plan says which plans a batch statement may run.
type plan bool

const (
	// planCustom: the statement reads a table that grows (a join or a
	// lookup on accounts, holds, transfers or commands), so a generic
	// plan made from stale statistics could scan it (DESIGN.md, "Query
	// plans"): it is planned at each execution, as the session is.
	planCustom plan = false
	// planGeneric: every plan of the statement is as good as any other
	// whatever the statistics say: an INSERT of rows from unnest, which
	// reads no table, or a statement on consumer_partitions, which has a
	// row per partition. Planning it at every execution cost more than
	// running it (pg_stat_statements under load: the offsets update took
	// 97 µs to plan and 61 µs to run), so it runs its cached generic plan.
	planGeneric plan = true
)

// queue queues a statement of the batch's transaction, switching the
// transaction's plan_cache_mode first (SET LOCAL, through set_config, which
// has no parameters and so is never planned again) when the statement
// needs other plans than the one before it.
func (w *batchWriter) queue(b *pgx.Batch, p plan, sql string, args ...any) {
	if w.switchPlans && p != w.current {
		mode := "force_custom_plan"
		if p == planGeneric {
			mode = "force_generic_plan"
		}
		b.Queue(`SELECT set_config('plan_cache_mode', '` + mode + `', true)`)
		w.current = p
	}
	b.Queue(sql, args...)
}

func (w *batchWriter) command(r ledger.Record, partition int32, fp []byte, out ledger.Outcome) {
	raw, err := wire.EncodeOutcome(out)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("encode outcome: %w", err)
	}
	w.cmdID = append(w.cmdID, r.CommandID)
	w.cmdAccount = append(w.cmdAccount, r.AccountID)
	w.cmdKind = append(w.cmdKind, string(out.Kind))
	w.cmdStatus = append(w.cmdStatus, string(out.Status))
	w.cmdCode = append(w.cmdCode, string(out.Code))
	w.cmdFP = append(w.cmdFP, fp)
	w.cmdOutcome = append(w.cmdOutcome, raw)
	w.cmdOffset = append(w.cmdOffset, r.Offset)
	w.cmdPartition = append(w.cmdPartition, partition)
}

// entry queues a journal entry of an account of the given currency and,
// when its counterparty is external, the external side: the same amount
// with the opposite sign, in the same transaction.
func (w *batchWriter) entry(e ledger.Entry, currency string) {
	w.entAccount = append(w.entAccount, e.AccountID)
	w.entCommand = append(w.entCommand, e.CommandID)
	w.entKind = append(w.entKind, string(e.Kind))
	w.entVersion = append(w.entVersion, e.Version)
	w.entAmount = append(w.entAmount, e.Amount)
	w.entBalance = append(w.entBalance, e.BalanceAfter)
	w.entCounterparty = append(w.entCounterparty, e.Counterparty)
	w.entReference = append(w.entReference, e.Reference)
	w.entMetadata = append(w.entMetadata, string(e.Metadata))
	w.entStatus = append(w.entStatus, string(e.StatusAfter))
	w.entHeld = append(w.entHeld, e.HeldAfter)
	w.entFlight = append(w.entFlight, e.InFlightAfter)
	w.entOD = append(w.entOD, e.OverdraftLimitAfter)
	if e.HasExternalSide() {
		w.extAccount = append(w.extAccount, e.AccountID)
		w.extVersion = append(w.extVersion, e.Version)
		w.extCounterparty = append(w.extCounterparty, e.Counterparty)
		w.extCurrency = append(w.extCurrency, currency)
		w.extAmount = append(w.extAmount, -e.Amount)
		w.extCommand = append(w.extCommand, e.CommandID)
	}
}

// offset moves a partition's next offset from prev (-1: none) to next,
// under its claim's epoch.
func (w *batchWriter) offset(partition int32, prev, next, epoch int64) {
	w.offPartition = append(w.offPartition, partition)
	w.offPrev = append(w.offPrev, prev)
	w.offNext = append(w.offNext, next)
	w.offEpoch = append(w.offEpoch, epoch)
}

// empty reports whether there is nothing to write: every record was skipped.
func (w *batchWriter) empty() bool { return len(w.offPartition) == 0 }

// flush sends the batch's writes, the offset update and COMMIT in one
// pipeline on conn, which is inside the batch's transaction, or with begin,
// starts it too. The offset update lands only on the epoch and the next
// offset the batch was decided against, so a batch can neither commit
// under a lost claim nor skip or repeat records. Account rows
// are written with a version guard as a second line of defence behind the
// epoch fence: an update only lands on the version this batch loaded, and a
// new account is a plain insert that fails if the account appeared
// meanwhile. Guards fail in the server (ordo_assert), aborting the
// transaction before COMMIT runs.
func (w *batchWriter) flush(ctx context.Context, conn *pgxpool.Conn, bs *batchState, begin bool) error {
	if w.err != nil {
		return w.err
	}
	var (
		updID, updStatus, newID, newCur, newStatus []string
		updBal, updHeld, updOD, updVer, updPrev    []int64
		newBal, newHeld, newOD, newVer             []int64
		updFlight, newFlight                       []int64
	)
	for id, st := range bs.accounts {
		if st.current == nil || st.current.Version == st.loadedVersion {
			continue
		}
		a := st.current
		if st.loadedVersion == 0 {
			newID, newCur, newStatus = append(newID, id), append(newCur, a.Currency), append(newStatus, string(a.Status))
			newBal, newHeld, newOD, newVer = append(newBal, a.Balance), append(newHeld, a.Held), append(newOD, a.OverdraftLimit), append(newVer, a.Version)
			newFlight = append(newFlight, a.InFlight)
			continue
		}
		updID, updStatus = append(updID, id), append(updStatus, string(a.Status))
		updBal, updHeld, updOD = append(updBal, a.Balance), append(updHeld, a.Held), append(updOD, a.OverdraftLimit)
		updFlight = append(updFlight, a.InFlight)
		updVer, updPrev = append(updVer, a.Version), append(updPrev, st.loadedVersion)
	}

	b := &pgx.Batch{}
	if begin {
		// Without the locked way's first round trip, lock the partition
		// rows here, first and in partition order, as it does: a claim or
		// another owner's transaction then waits for this one (or this one
		// for it) before either touches an account, and no two can
		// deadlock.
		b.Queue(`BEGIN`)
		w.queue(b, planGeneric, `SELECT 1 FROM consumer_partitions WHERE topic = $1 AND partition = ANY($2) ORDER BY partition FOR UPDATE`,
			w.topic, w.offPartition)
	}
	if len(newID) > 0 {
		w.queue(b, planGeneric, `INSERT INTO accounts (id, currency, balance, held, overdraft_limit, version, status, in_flight)
			SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::text[], $8::int8[])`,
			newID, newCur, newBal, newHeld, newOD, newVer, newStatus, newFlight)
	}
	if len(updID) > 0 {
		w.queue(b, planCustom, updateAccountsSQL,
			updID, updBal, updHeld, updVer, updPrev, updOD, updStatus, updFlight, len(updID))
	}
	if len(w.entAccount) > 0 {
		w.queue(b, planGeneric, `INSERT INTO entries (account_id, version, command_id, kind, amount, balance_after,
			       counterparty, reference, metadata, status_after, held_after, in_flight_after, overdraft_limit_after)
			SELECT t.account, t.version, t.command, t.kind, t.amount, t.balance,
			       t.counterparty, t.reference, nullif(t.metadata, '')::json, t.status, t.held, t.in_flight, t.overdraft
			FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::int8[],
			            $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::int8[], $13::int8[])
			AS t(account, version, command, kind, amount, balance, counterparty, reference, metadata, status, held, in_flight, overdraft)`,
			w.entAccount, w.entVersion, w.entCommand, w.entKind, w.entAmount, w.entBalance,
			w.entCounterparty, w.entReference, w.entMetadata, w.entStatus, w.entHeld, w.entFlight, w.entOD)
	}
	if len(w.extAccount) > 0 {
		w.queue(b, planGeneric, `INSERT INTO external_entries (account_id, version, counterparty, currency, amount, command_id)
			SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::text[])`,
			w.extAccount, w.extVersion, w.extCounterparty, w.extCurrency, w.extAmount, w.extCommand)
	}
	w.queueHolds(b, bs.holds)
	w.queueTransfers(b, bs)
	if len(w.cmdID) > 0 {
		// created_at is the batch's decision time, which the results
		// carry too (Result.DecidedAt): the events built from them and
		// from these rows agree.
		w.queue(b, planGeneric, `INSERT INTO commands (command_id, account_id, kind, fingerprint, status, code, outcome, topic, partition, "offset", created_at)
			SELECT c.id, c.account, c.kind, c.fp, c.status, c.code, c.outcome, $10, c.part, c.off, $11
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::json[], $8::int8[], $9::int4[])
			AS c(id, account, kind, fp, status, code, outcome, off, part)`,
			w.cmdID, w.cmdAccount, w.cmdKind, w.cmdFP, w.cmdStatus, w.cmdCode, w.cmdOutcome, w.cmdOffset, w.cmdPartition, w.topic, bs.decidedAt())
	}
	w.queueFinals(b)
	w.queue(b, planGeneric, `WITH u AS (
		UPDATE consumer_partitions p SET next_offset = t.next, updated_at = now()
		FROM unnest($2::int4[], $3::int8[], $4::int8[], $5::int8[]) AS t(partition, next, epoch, prev)
		WHERE p.topic = $1 AND p.partition = t.partition AND p.epoch = t.epoch
		  AND coalesce(p.next_offset, -1) = t.prev RETURNING 1)
		SELECT ordo_assert((SELECT count(*) FROM u) = $6, 'partition ownership lost, or its offset moved, while applying')`,
		w.topic, w.offPartition, w.offNext, w.offEpoch, w.offPrev, len(w.offPartition))
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		_, _ = conn.Exec(ctx, `ROLLBACK`)
		return err
	}
	return nil
}

// updateAccountsSQL writes a batch's changed accounts in one statement,
// guarded by each account's previous version: $1 IDs, $2 balances, $3 held,
// $4 new versions, $5 previous versions, $6 overdraft limits, $7 statuses,
// $8 in_flight, $9 the number of accounts.
const updateAccountsSQL = `WITH u AS (
	UPDATE accounts a SET balance = t.balance, held = t.held, overdraft_limit = t.overdraft, status = t.status,
	       in_flight = t.in_flight, version = t.version, updated_at = now()
	FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::text[], $8::int8[])
	     AS t(id, balance, held, version, prev, overdraft, status, in_flight)
	WHERE a.id = t.id AND a.version = t.prev RETURNING 1)
	SELECT ordo_assert((SELECT count(*) FROM u) = $9, 'account version guard: an account changed under its partition owner')`
