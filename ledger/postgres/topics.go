package postgres

import (
	"context"
	"fmt"

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
