package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ordo-dev/ordo/ledger"
)

// holdColumns are the columns scanHold reads, in its order.
const holdColumns = `id, account_id, amount, captured, status, created_at, expires_at, settled_at`

func scanHold(row pgx.Row) (ledger.Hold, error) {
	var (
		h       ledger.Hold
		settled pgtype.Timestamptz
	)
	err := row.Scan(&h.ID, &h.AccountID, &h.Amount, &h.Captured, &h.Status, &h.CreatedAt, &h.ExpiresAt, &settled)
	h.CreatedAt, h.ExpiresAt = h.CreatedAt.UTC(), h.ExpiresAt.UTC()
	if settled.Valid {
		t := settled.Time.UTC()
		h.SettledAt = &t
	}
	return h, err
}

// holdState tracks one hold through a batch: whether it was stored before
// the batch, and as the batch's decisions leave it.
type holdState struct {
	stored    bool // the row exists: an update, guarded on status open
	current   *ledger.Hold
	changed   bool
	commandID string // the command that created it
	partition int32
}

// holdKeys lists the holds the batches' commands settle.
func (st *batchState) holdKeys(batches []ledger.PartitionBatch) []string {
	var ids []string
	for _, b := range batches {
		for _, r := range b.Records {
			if r.Code != "" || r.Command.HoldID == "" {
				continue
			}
			if _, ok := st.holds[r.Command.HoldID]; !ok {
				st.holds[r.Command.HoldID] = &holdState{}
				ids = append(ids, r.Command.HoldID)
			}
		}
	}
	return ids
}

func (st *batchState) scanHolds(rows pgx.Rows) error {
	for rows.Next() {
		h, err := scanHold(rows)
		if err != nil {
			return err
		}
		st.holds[h.ID] = &holdState{stored: true, current: &h}
	}
	return rows.Err()
}

// holdChanged records a hold a decision created or settled.
func (st *batchState) holdChanged(h *ledger.Hold, commandID string, partition int32) {
	hs := st.holds[h.ID]
	if hs == nil {
		hs = &holdState{}
		st.holds[h.ID] = hs
	}
	if hs.current == nil {
		hs.commandID, hs.partition = commandID, partition
	}
	hs.current, hs.changed = h, true
}

// queueHolds queues the inserts of new holds and the guarded updates of
// settled ones. A stored hold is updated only while its row is still open:
// a hold is settled once, even if an owner's memory of it was wrong.
func (w *batchWriter) queueHolds(b *pgx.Batch, holds map[string]*holdState) {
	var (
		newID, newAccount, newStatus, newCommand []string
		newPartition                             []int32
		newAmount, newCaptured                   []int64
		newCreated, newExpires                   []time.Time
		newSettled                               []pgtype.Timestamptz
		updID, updStatus                         []string
		updCaptured                              []int64
		updSettled                               []pgtype.Timestamptz
	)
	settled := func(h *ledger.Hold) pgtype.Timestamptz {
		if h.SettledAt == nil {
			return pgtype.Timestamptz{}
		}
		return pgtype.Timestamptz{Time: *h.SettledAt, Valid: true}
	}
	for id, hs := range holds {
		if !hs.changed {
			continue
		}
		h := hs.current
		if hs.stored {
			updID, updStatus = append(updID, id), append(updStatus, string(h.Status))
			updCaptured, updSettled = append(updCaptured, h.Captured), append(updSettled, settled(h))
			continue
		}
		newID, newAccount, newStatus, newCommand = append(newID, id), append(newAccount, h.AccountID), append(newStatus, string(h.Status)), append(newCommand, hs.commandID)
		newPartition, newAmount, newCaptured = append(newPartition, hs.partition), append(newAmount, h.Amount), append(newCaptured, h.Captured)
		newCreated, newExpires, newSettled = append(newCreated, h.CreatedAt), append(newExpires, h.ExpiresAt), append(newSettled, settled(h))
	}
	if len(newID) > 0 {
		w.queue(b, planGeneric, `INSERT INTO holds (id, account_id, topic, partition, amount, captured, status, created_at, expires_at, settled_at, command_id)
			SELECT t.id, t.account, $11, t.part, t.amount, t.captured, t.status, t.created, t.expires, t.settled, t.command
			FROM unnest($1::text[], $2::text[], $3::int4[], $4::int8[], $5::int8[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::text[])
			AS t(id, account, part, amount, captured, status, created, expires, settled, command)`,
			newID, newAccount, newPartition, newAmount, newCaptured, newStatus, newCreated, newExpires, newSettled, newCommand, w.topic)
	}
	if len(updID) > 0 {
		w.queue(b, planCustom, `WITH u AS (
			UPDATE holds h SET status = t.status, captured = t.captured, settled_at = t.settled
			FROM unnest($1::text[], $2::text[], $3::int8[], $4::timestamptz[]) AS t(id, status, captured, settled)
			WHERE h.id = t.id AND h.status = 'open' RETURNING 1)
			SELECT ordo_assert((SELECT count(*) FROM u) = $5, 'hold guard: a hold was settled twice, or changed under its partition owner')`,
			updID, updStatus, updCaptured, updSettled, len(updID))
	}
}

// Hold returns one of an account's holds, or ledger.ErrNotFound.
func (s *Store) Hold(ctx context.Context, accountID, holdID string) (ledger.Hold, error) {
	h, err := scanHold(s.pool.QueryRow(ctx, `SELECT `+holdColumns+` FROM holds WHERE id = $1 AND account_id = $2`, holdID, accountID))
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.Hold{}, fmt.Errorf("hold %q of account %q: %w", holdID, accountID, ledger.ErrNotFound)
	}
	if err != nil {
		return ledger.Hold{}, fmt.Errorf("read hold: %v: %w", err, ledger.ErrUnavailable)
	}
	return h, nil
}

// Holds lists an account's holds with the given status ("" for all),
// newest first, limit at a time from the cursor after ("" for the first
// page). next is the cursor of the following page, "" after the last one. An
// open hold past its expiry is listed as open: the stored state (see
// ledger.Hold.AsOf).
func (s *Store) Holds(ctx context.Context, accountID string, status ledger.HoldStatus, after string, limit int) (holds []ledger.Hold, next string, err error) {
	f := struct {
		Status ledger.HoldStatus
		After  string
		Limit  int
	}{status, after, limit}
	var (
		afterTime time.Time
		afterID   string
		hasAfter  bool
	)
	if f.After != "" {
		if afterTime, afterID, err = decodeHoldCursor(f.After); err != nil {
			return nil, "", err
		}
		hasAfter = true
	}
	rows, err := s.pool.Query(ctx, `SELECT `+holdColumns+` FROM holds
		WHERE account_id = $1 AND ($2 = '' OR status = $2)
		  AND (NOT $3 OR (created_at, id) < ($4, $5))
		ORDER BY created_at DESC, id DESC LIMIT $6`,
		accountID, string(f.Status), hasAfter, afterTime, afterID, f.Limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list holds: %v: %w", err, ledger.ErrUnavailable)
	}
	holds, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Hold, error) { return scanHold(r) })
	if err != nil {
		return nil, "", fmt.Errorf("list holds: %v: %w", err, ledger.ErrUnavailable)
	}
	if len(holds) > f.Limit {
		holds = holds[:f.Limit]
		last := holds[len(holds)-1]
		next = encodeHoldCursor(last.CreatedAt, last.ID)
	}
	return holds, next, nil
}

// A hold cursor is the creation time and ID of the last hold of a page.
func encodeHoldCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + " " + id))
}

func decodeHoldCursor(c string) (time.Time, string, error) {
	invalid := &ledger.FieldError{Field: "after", Reason: "must be a cursor from a previous page's next"}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", invalid
	}
	ts, id, ok := strings.Cut(string(raw), " ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || ledger.ValidateCommandID("after", id) != nil {
		return time.Time{}, "", invalid
	}
	return t, id, nil
}

// DueHolds lists up to limit open holds of the given partitions whose
// expiry is at or before now, oldest expiry first: what their owner must
// expire.
func (s *Store) DueHolds(ctx context.Context, topic string, partitions []int32, now time.Time, limit int) ([]ledger.Hold, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+holdColumns+` FROM holds
		WHERE topic = $1 AND partition = ANY($2) AND status = 'open' AND expires_at <= $3
		ORDER BY expires_at LIMIT $4`, topic, partitions, now, limit)
	if err != nil {
		return nil, fmt.Errorf("due holds: %v: %w", err, ledger.ErrUnavailable)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Hold, error) { return scanHold(r) })
}
