package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// DecidedAfter lists up to limit stored decisions of a commands partition
// whose offset is above after (-1: from the start), in offset order: what a
// partition's events publisher has not published yet (see consumer/events.go).
// The commands table is the outbox; commands_source_idx finds the rows.
func (s *Store) DecidedAfter(ctx context.Context, topic string, partition int32, after int64, limit int) ([]ledger.Decided, error) {
	rows, err := s.pool.Query(ctx, `SELECT command_id, outcome, "offset", created_at FROM commands
		WHERE topic = $1 AND partition = $2 AND "offset" > $3 ORDER BY "offset" LIMIT $4`,
		topic, partition, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read decisions after offset %d of partition %d: %w", after, partition, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Decided, error) {
		var (
			id  string
			raw []byte
			at  time.Time
			d   = ledger.Decided{Partition: partition}
		)
		if err := r.Scan(&id, &raw, &d.Offset, &at); err != nil {
			return d, err
		}
		o, err := wire.DecodeOutcome(raw)
		if err != nil {
			return d, fmt.Errorf("decode stored outcome of %q: %w", id, err)
		}
		d.Outcome, d.DecidedAt = o, at.UTC()
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read decisions after offset %d of partition %d: %w", after, partition, err)
	}
	return out, nil
}
