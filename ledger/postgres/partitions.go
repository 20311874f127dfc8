package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
)

// Claim is a consumer's ownership of one partition, as recorded in
// consumer_partitions. Epoch is the fencing token: every claim increments it,
// and a batch commits only while the stored epoch is still the claim's.
type Claim struct {
	Topic      string
	Partition  int32
	Epoch      int64
	Generation int32
	// NextOffset is the next log offset to apply, or -1 when the partition
	// has never been applied (start at the log start).
	NextOffset int64
}

// ErrStaleGeneration is returned by ClaimPartition when the partition was
// already claimed for a newer consumer-group generation: the caller is a
// member that was assigned the partition and then lost it again. It wraps
// ledger.ErrFenced.
var ErrStaleGeneration = fmt.Errorf("partition claimed for a newer group generation: %w", ledger.ErrFenced)

// ClaimPartition takes ownership of a partition for a consumer-group member
// at a generation, fencing off every earlier owner: their open or future
// batches fail with ledger.ErrFenced. The claim waits for a batch still in
// flight (it holds the row lock), so the returned NextOffset includes it.
//
// A claim for an older generation than the stored one fails with
// ErrStaleGeneration, so a member that was slow to act on an assignment it
// has since lost cannot steal the partition back. With force, the
// generation check is skipped: for a group that was deleted and recreated,
// whose generations restarted (see consumer.Processor).
func (s *Store) ClaimPartition(ctx context.Context, topic string, partition, generation int32, member string, force bool) (Claim, error) {
	c := Claim{Topic: topic, Partition: partition, Generation: generation}
	var next *int64
	err := s.pool.QueryRow(ctx, `
		INSERT INTO consumer_partitions AS p (topic, partition, next_offset, epoch, generation, member)
		VALUES ($1, $2, NULL, 1, $3, $4)
		ON CONFLICT (topic, partition) DO UPDATE
		   SET epoch = p.epoch + 1, generation = excluded.generation, member = excluded.member, claimed_at = now()
		 WHERE p.generation <= excluded.generation OR $5
		RETURNING epoch, next_offset`, topic, partition, generation, member, force).Scan(&c.Epoch, &next)
	if errors.Is(err, pgx.ErrNoRows) {
		return Claim{}, fmt.Errorf("claim %s/%d at generation %d: %w", topic, partition, generation, ErrStaleGeneration)
	}
	if err != nil {
		return Claim{}, fmt.Errorf("claim %s/%d: %v: %w", topic, partition, err, ledger.ErrUnavailable)
	}
	c.NextOffset = -1
	if next != nil {
		c.NextOffset = *next
	}
	return c, nil
}

// PartitionState is one row of consumer_partitions, for operators and tests.
type PartitionState struct {
	Partition  int32
	NextOffset int64 // -1 when nothing was applied yet
	Epoch      int64
	Generation int32
	Member     string
}

// Partitions lists the stored state of a topic's partitions.
func (s *Store) Partitions(ctx context.Context, topic string) ([]PartitionState, error) {
	rows, err := s.pool.Query(ctx, `SELECT partition, coalesce(next_offset, -1), epoch, generation, member
		FROM consumer_partitions WHERE topic = $1 ORDER BY partition`, topic)
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PartitionState, error) {
		var p PartitionState
		err := r.Scan(&p.Partition, &p.NextOffset, &p.Epoch, &p.Generation, &p.Member)
		return p, err
	})
}
