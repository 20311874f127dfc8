package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
)

// ClaimPartition takes ownership of a partition for a consumer-group member
// at a generation, fencing off every earlier owner: their open or future
// batches fail with ledger.ErrClaimLost. The claim waits for a batch still in
// flight (it holds the row lock), so the returned NextOffset includes it.
// The store starts a fresh owner's cache for the claim's epoch.
//
// A claim for an older generation than the stored one fails with
// ledger.ErrStaleGeneration, so a member that was slow to act on an assignment it
// has since lost cannot steal the partition back. With force, the
// generation check is skipped: for a group that was deleted and recreated,
// whose generations restarted (see consumer.Processor).
//
// topicID is the topic's Kafka ID (empty when the broker has none). A
// partition whose offsets were stored under another ID is refused with
// ledger.ErrTopicRecreated.
func (s *Store) ClaimPartition(ctx context.Context, topic string, partition, generation int32, member string, force bool, topicID string) (ledger.Claim, error) {
	c := ledger.Claim{Topic: topic, Partition: partition, Generation: generation}
	var (
		next     *int64
		storedID string
		claimed  bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT topic_id FROM consumer_partitions WHERE topic = $1 AND partition = $2 FOR UPDATE`,
			topic, partition).Scan(&storedID)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if storedID != "" && topicID != "" && storedID != topicID {
			return nil
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO consumer_partitions AS p (topic, partition, next_offset, epoch, generation, member, topic_id)
			VALUES ($1, $2, NULL, 1, $3, $4, $6)
			ON CONFLICT (topic, partition) DO UPDATE
			   SET epoch = p.epoch + 1, generation = excluded.generation, member = excluded.member, claimed_at = now(),
			       topic_id = CASE WHEN p.topic_id = '' THEN excluded.topic_id ELSE p.topic_id END
			 WHERE p.generation <= excluded.generation OR $5
			RETURNING epoch, next_offset`, topic, partition, generation, member, force, topicID).Scan(&c.Epoch, &next)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		claimed = err == nil
		return err
	})
	if err != nil {
		return ledger.Claim{}, fmt.Errorf("claim %s/%d: %v: %w", topic, partition, err, ledger.ErrUnavailable)
	}
	if storedID != "" && topicID != "" && storedID != topicID {
		return ledger.Claim{}, fmt.Errorf("claim %s/%d: topic ID %s, stored %s: %w", topic, partition, topicID, storedID, ledger.ErrTopicRecreated)
	}
	if !claimed {
		return ledger.Claim{}, fmt.Errorf("claim %s/%d at generation %d: %w", topic, partition, generation, ledger.ErrStaleGeneration)
	}
	c.NextOffset = -1
	if next != nil {
		c.NextOffset = *next
	}
	s.caches.claimed(c)
	return c, nil
}

// Partitions lists the stored state of a topic's partitions.
func (s *Store) Partitions(ctx context.Context, topic string) ([]ledger.PartitionState, error) {
	rows, err := s.pool.Query(ctx, `SELECT partition, coalesce(next_offset, -1), epoch, generation, member
		FROM consumer_partitions WHERE topic = $1 ORDER BY partition`, topic)
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.PartitionState, error) {
		var p ledger.PartitionState
		err := r.Scan(&p.Partition, &p.NextOffset, &p.Epoch, &p.Generation, &p.Member)
		return p, err
	})
}

// ReleasePartition increments a partition's stored claim epoch, for
// operators (`ordo partitions release`). The owner's claim becomes stale:
// its next batch fails with ledger.ErrClaimLost, and a consumer that holds
// the partition stopped notices the change; either claims it again and
// resumes at the stored next offset. Nothing is skipped or applied twice.
// It returns the new epoch, or ledger.ErrNotFound when the partition was
// never claimed.
func (s *Store) ReleasePartition(ctx context.Context, topic string, partition int32) (int64, error) {
	var epoch int64
	err := s.pool.QueryRow(ctx, `UPDATE consumer_partitions SET epoch = epoch + 1, claimed_at = now()
		WHERE topic = $1 AND partition = $2 RETURNING epoch`, topic, partition).Scan(&epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("release %s/%d: never claimed: %w", topic, partition, ledger.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("release %s/%d: %v: %w", topic, partition, err, ledger.ErrUnavailable)
	}
	return epoch, nil
}
