package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
)

// CheckPartitionCount records a commands topic's partition count the first
// time it is used, and afterwards compares the count a role sees with the
// recorded one. A different count fails with an error that wraps
// ledger.ErrPartitionCountChanged: it would move accounts between partitions
// and break their order.
func (s *Store) CheckPartitionCount(ctx context.Context, topic string, partitions int32) error {
	var recorded int32
	err := s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO topic_partitions (topic, partitions) VALUES ($1, $2)
			ON CONFLICT (topic) DO NOTHING RETURNING partitions)
		SELECT partitions FROM ins UNION ALL SELECT partitions FROM topic_partitions WHERE topic = $1 LIMIT 1`,
		topic, partitions).Scan(&recorded)
	if err != nil {
		return fmt.Errorf("check the partition count of %s: %v: %w", topic, err, ledger.ErrUnavailable)
	}
	if recorded != partitions {
		return fmt.Errorf("topic %s has %d partitions, but this deployment was started with %d (table topic_partitions): "+
			"accounts would move to other partitions and their commands could apply out of order. "+
			"Give the topic %d partitions again, or change the count with the procedure in DESIGN.md (\"Changing the partition count\"): %w",
			topic, partitions, recorded, recorded, ledger.ErrPartitionCountChanged)
	}
	return nil
}

// RecordedPartitionCount is the partition count recorded for topic; ok is
// false when none is (no role has run against it yet).
func (s *Store) RecordedPartitionCount(ctx context.Context, topic string) (partitions int32, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT partitions FROM topic_partitions WHERE topic = $1`, topic).Scan(&partitions)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read the partition count of %s: %w", topic, err)
	}
	return partitions, true, nil
}

// RecordPartitionCount changes topic's recorded partition count from from
// to to; it fails if the recorded count is not from (someone else changed
// it) unless it is already to.
func (s *Store) RecordPartitionCount(ctx context.Context, topic string, from, to int32) error {
	var now int32
	err := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE topic_partitions SET partitions = $3, recorded_at = now()
			WHERE topic = $1 AND partitions = $2 RETURNING partitions)
		SELECT partitions FROM u UNION ALL SELECT partitions FROM topic_partitions WHERE topic = $1 LIMIT 1`,
		topic, from, to).Scan(&now)
	if err != nil {
		return fmt.Errorf("record the partition count of %s: %w", topic, err)
	}
	if now != to {
		return fmt.Errorf("record the partition count of %s: it is %d, not %d as read before", topic, now, from)
	}
	return nil
}

// Unsettled counts what must be 0 before the partition count changes:
// transfers still pending and outbox rows (saga steps) not yet published.
func (s *Store) Unsettled(ctx context.Context) (transfers, outbox int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM transfers WHERE status = 'pending'),
			(SELECT count(*) FROM outbox WHERE published_at IS NULL)`).Scan(&transfers, &outbox)
	if err != nil {
		err = fmt.Errorf("count unsettled transfers: %w", err)
	}
	return transfers, outbox, err
}
