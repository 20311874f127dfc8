package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// transferColumns are the columns scanTransfer reads, in its order.
const transferColumns = `id, from_account, to_account, amount, currency, status, reason, created_at, completed_at, command_id`

func scanTransfer(row pgx.Row) (ledger.Transfer, error) {
	var (
		t         ledger.Transfer
		completed pgtype.Timestamptz
	)
	err := row.Scan(&t.ID, &t.From, &t.To, &t.Amount, &t.Currency, &t.Status, &t.Reason, &t.CreatedAt, &completed, &t.CommandID)
	t.CreatedAt = t.CreatedAt.UTC()
	if completed.Valid {
		c := completed.Time.UTC()
		t.CompletedAt = &c
	}
	return t, err
}

// transferState tracks one transfer through a batch.
type transferState struct {
	stored    bool // the row exists: an update, guarded on status pending
	current   *ledger.Transfer
	changed   bool
	partition int32
}

// transferKeys lists the transfers the batches' settle commands name.
func (st *batchState) transferKeys(batches []ledger.PartitionBatch) []string {
	var ids []string
	for _, b := range batches {
		for _, r := range b.Records {
			if r.Code != "" || r.Command.Kind != ledger.KindTransferSettle {
				continue
			}
			if _, ok := st.transfers[r.Command.TransferID]; !ok {
				st.transfers[r.Command.TransferID] = &transferState{}
				ids = append(ids, r.Command.TransferID)
			}
		}
	}
	return ids
}

func (st *batchState) scanTransfers(rows pgx.Rows) error {
	for rows.Next() {
		t, err := scanTransfer(rows)
		if err != nil {
			return err
		}
		st.transfers[t.ID] = &transferState{stored: true, current: &t}
	}
	return rows.Err()
}

// transferChanged records a transfer a decision started or settled; a
// settle also ends the saga: the request that started it is answered with
// the final outcome, which also replaces its stored one.
func (st *batchState) transferChanged(d ledger.Decision, partition int32, w *batchWriter) {
	t := d.Transfer
	ts := st.transfers[t.ID]
	if ts == nil {
		ts = &transferState{partition: partition}
		st.transfers[t.ID] = ts
	}
	ts.current, ts.changed = t, true
	if t.Status == ledger.TransferPending {
		return
	}
	final := &ledger.Outcome{
		CommandID: t.CommandID, Kind: ledger.KindTransfer, AccountID: t.From,
		Status: ledger.StatusApplied, Account: d.Account, Transfer: t,
	}
	st.finals[d.Outcome.CommandID] = final
	w.final(final)
}

// emit stores a decision's next saga step in the outbox, with the headers
// the deciding record carries.
func (st *batchState) emit(r ledger.Record, next ledger.Command, partition int32, w *batchWriter) {
	value, err := wire.EncodeCommand(next)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("encode saga step %s: %w", next.ID, err)
		return
	}
	o := &ledger.Outbound{CommandID: next.ID, AccountID: next.AccountID, Value: value, Headers: r.Carry}
	st.emits[r.CommandID] = o
	w.outbox(o, partition)
}

// outbox queues an outbox row, written by partition's batch.
func (w *batchWriter) outbox(o *ledger.Outbound, partition int32) {
	headers, err := json.Marshal(o.Headers)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("encode headers of %s: %w", o.CommandID, err)
	}
	if o.Headers == nil {
		headers = []byte("[]")
	}
	w.obID = append(w.obID, o.CommandID)
	w.obAccount = append(w.obAccount, o.AccountID)
	w.obValue = append(w.obValue, o.Value)
	w.obHeaders = append(w.obHeaders, headers)
	w.obPartition = append(w.obPartition, partition)
}

// final queues the replacement of a saga's starting command's stored
// outcome by its final one.
func (w *batchWriter) final(out *ledger.Outcome) {
	raw, err := wire.EncodeOutcome(*out)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("encode final outcome of %s: %w", out.CommandID, err)
	}
	w.finID = append(w.finID, out.CommandID)
	w.finOutcome = append(w.finOutcome, raw)
}

// queueTransfers queues the inserts of new transfers, the guarded updates
// of settled ones (a transfer is settled once, while its row is pending),
// and the batch's outbox rows.
func (w *batchWriter) queueTransfers(b *pgx.Batch, bs *batchState) {
	var (
		newID, newFrom, newTo, newCur, newCommand []string
		newAmount                                 []int64
		newCreated                                []time.Time
		newPartition                              []int32
		updID, updStatus, updReason               []string
		updCompleted                              []time.Time
	)
	for id, ts := range bs.transfers {
		if !ts.changed {
			continue
		}
		t := ts.current
		if ts.stored {
			updID, updStatus, updReason = append(updID, id), append(updStatus, string(t.Status)), append(updReason, string(t.Reason))
			updCompleted = append(updCompleted, *t.CompletedAt)
			continue
		}
		newID, newFrom, newTo, newCur, newCommand = append(newID, id), append(newFrom, t.From), append(newTo, t.To), append(newCur, t.Currency), append(newCommand, t.CommandID)
		newAmount, newCreated, newPartition = append(newAmount, t.Amount), append(newCreated, t.CreatedAt), append(newPartition, ts.partition)
	}
	if len(newID) > 0 {
		w.queue(b, planGeneric, `INSERT INTO transfers (id, from_account, to_account, amount, currency, status, created_at, command_id, topic, partition)
			SELECT t.id, t.src, t.dst, t.amount, t.cur, 'pending', t.created, t.command, $9, t.part
			FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::timestamptz[], $7::text[], $8::int4[])
			AS t(id, src, dst, amount, cur, created, command, part)`,
			newID, newFrom, newTo, newAmount, newCur, newCreated, newCommand, newPartition, w.topic)
	}
	if len(updID) > 0 {
		w.queue(b, planCustom, `WITH u AS (
			UPDATE transfers x SET status = t.status, reason = t.reason, completed_at = t.completed
			FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS t(id, status, reason, completed)
			WHERE x.id = t.id AND x.status = 'pending' RETURNING 1)
			SELECT ordo_assert((SELECT count(*) FROM u) = $5, 'transfer guard: a transfer was settled twice, or changed under its partition owner')`,
			updID, updStatus, updReason, updCompleted, len(updID))
	}
	if len(w.obID) > 0 {
		w.queue(b, planGeneric, `INSERT INTO outbox (command_id, topic, partition, account_id, value, headers)
			SELECT t.id, $6, t.part, t.account, t.value, t.headers
			FROM unnest($1::text[], $2::int4[], $3::text[], $4::bytea[], $5::json[]) AS t(id, part, account, value, headers)`,
			w.obID, w.obPartition, w.obAccount, w.obValue, w.obHeaders, w.topic)
	}
}

// queueFinals queues the replacement of the stored outcomes of the
// commands whose sagas the batch ended.
func (w *batchWriter) queueFinals(b *pgx.Batch) {
	if len(w.finID) == 0 {
		return
	}
	w.queue(b, planCustom, `UPDATE commands c SET outcome = t.outcome
		FROM unnest($1::text[], $2::json[]) AS t(id, outcome) WHERE c.command_id = t.id`, w.finID, w.finOutcome)
}

// Transfer returns a transfer and the legs decided so far (debit, credit,
// settle), or ledger.ErrNotFound.
func (s *Store) Transfer(ctx context.Context, id string) (ledger.Transfer, []ledger.TransferLeg, error) {
	t, err := scanTransfer(s.pool.QueryRow(ctx, `SELECT `+transferColumns+` FROM transfers WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.Transfer{}, nil, fmt.Errorf("transfer %q: %w", id, ledger.ErrNotFound)
	}
	if err != nil {
		return ledger.Transfer{}, nil, fmt.Errorf("read transfer: %v: %w", err, ledger.ErrUnavailable)
	}
	rows, err := s.pool.Query(ctx, `SELECT command_id, kind, account_id, status, code, created_at FROM commands
		WHERE command_id = ANY($1) ORDER BY created_at, command_id`,
		[]string{t.CommandID, ledger.TransferCreditID(id), ledger.TransferSettleID(id)})
	if err != nil {
		return ledger.Transfer{}, nil, fmt.Errorf("read transfer legs: %v: %w", err, ledger.ErrUnavailable)
	}
	legs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.TransferLeg, error) {
		var l ledger.TransferLeg
		err := r.Scan(&l.CommandID, &l.Kind, &l.AccountID, &l.Status, &l.Code, &l.At)
		l.At = l.At.UTC()
		return l, err
	})
	if err != nil {
		return ledger.Transfer{}, nil, fmt.Errorf("read transfer legs: %v: %w", err, ledger.ErrUnavailable)
	}
	return t, legs, nil
}

// Unpublished lists up to limit outbox rows written by the given
// partitions' batches, not yet published, and written before olderThan
// (rows younger than that are being published by the consumer that wrote
// them), oldest first.
func (s *Store) Unpublished(ctx context.Context, topic string, partitions []int32, olderThan time.Time, limit int) ([]ledger.Outbound, error) {
	rows, err := s.pool.Query(ctx, `SELECT command_id, account_id, value, headers FROM outbox
		WHERE topic = $1 AND partition = ANY($2) AND published_at IS NULL AND created_at < $3
		ORDER BY created_at LIMIT $4`, topic, partitions, olderThan, limit)
	if err != nil {
		return nil, fmt.Errorf("unpublished outbox rows: %v: %w", err, ledger.ErrUnavailable)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Outbound, error) {
		var (
			o       ledger.Outbound
			headers []byte
		)
		if err := r.Scan(&o.CommandID, &o.AccountID, &o.Value, &headers); err != nil {
			return o, err
		}
		return o, json.Unmarshal(headers, &o.Headers)
	})
}

// MarkPublished records that the broker acknowledged these outbox rows.
// Marking is only an optimisation: a row published twice is applied once.
func (s *Store) MarkPublished(ctx context.Context, commandIDs []string) error {
	if len(commandIDs) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `UPDATE outbox SET published_at = now() WHERE command_id = ANY($1) AND published_at IS NULL`, commandIDs); err != nil {
		return fmt.Errorf("mark outbox rows published: %v: %w", err, ledger.ErrUnavailable)
	}
	return nil
}
