package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
)

// Outcome retention. The commands table holds every decision's stored
// outcome and idempotency key; with a retention set, the owner of each
// partition deletes its rows older than the retention, a batch at a time
// (consumer/retention.go). The journal (entries, external_entries, holds,
// transfers) is kept forever.
//
// A batch looks at the next rows of the partition in offset order past the
// partition's pruned_through_offset (commands_source_idx), so it reads at
// most batch index entries however large the partition is. It deletes the
// prefix of them created before the cutoff and below the offset bound (the
// events publisher's), except a pending transfer's command and the command
// of an unpublished outbox row, which stay. Offsets and decision times grow
// together within a partition, so the first row at or past the cutoff ends
// the pass. The outcome_retention row is written in the same transaction.

// PruneOutcomes deletes one batch of the partition's commands rows created
// before cutoff with an offset below below, and records the watermark. It
// returns how many rows it deleted and whether more may be due (the batch
// was full of rows old enough).
func (s *Store) PruneOutcomes(ctx context.Context, topic string, partition int32, below int64, cutoff time.Time, batch int) (deleted int64, more bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var looked int64
		var through *int64
		if err := tx.QueryRow(ctx, `
			WITH cand AS (
				SELECT command_id, "offset", created_at FROM commands
				WHERE topic = $1 AND partition = $2 AND "offset" < $3
				  AND "offset" > coalesce((SELECT pruned_through_offset FROM outcome_retention WHERE topic = $1 AND partition = $2), -1)
				ORDER BY "offset" LIMIT $5
			), old AS (
				SELECT command_id, "offset" FROM cand
				WHERE "offset" < coalesce((SELECT min("offset") FROM cand WHERE created_at >= $4), $3)
			), gone AS (
				DELETE FROM commands c USING old
				WHERE c.command_id = old.command_id
				  AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.command_id = c.command_id AND t.status = 'pending')
				  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.command_id = c.command_id AND o.published_at IS NULL)
				RETURNING 1
			)
			SELECT (SELECT count(*) FROM old), (SELECT max("offset") FROM old), (SELECT count(*) FROM gone)`,
			topic, partition, below, cutoff, batch).Scan(&looked, &through, &deleted); err != nil {
			return err
		}
		more = looked == int64(batch)
		if through == nil {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO outcome_retention (topic, partition, pruned_before, pruned_through_offset)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (topic, partition) DO UPDATE SET
				pruned_before = greatest(outcome_retention.pruned_before, excluded.pruned_before),
				pruned_through_offset = greatest(outcome_retention.pruned_through_offset, excluded.pruned_through_offset),
				updated_at = now()`, topic, partition, cutoff, *through)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("prune outcomes of %s/%d: %v: %w", topic, partition, err, ledger.ErrUnavailable)
	}
	return deleted, more, nil
}
