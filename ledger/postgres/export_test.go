package postgres

import (
	"context"
	"strings"
)

// SetBeforeWrite runs fn between a batch's reads and its writes, so tests
// can change state under a batch in flight.
func (s *Store) SetBeforeWrite(fn func()) { s.beforeWrite = fn }

// CachedAccounts is how many accounts the cache of a topic's partition
// holds (-1: there is none).
func (s *Store) CachedAccounts(topic string, partition int32) int {
	s.caches.mu.Lock()
	defer s.caches.mu.Unlock()
	c := s.caches.byPartition[cacheKey{topic, partition}]
	if c == nil {
		return -1
	}
	return len(c.accounts)
}

// Setting reads a session setting on one of the pool's connections.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&v)
	return v, err
}

// GenericPlans is how many times the prepared statements of one of the
// pool's connections ran a generic plan (pg_prepared_statements), by
// statement text; with a pool of one connection, every statement the store
// ran. Statements without parameters have only a generic plan and are
// left out.
func (s *Store) GenericPlans(ctx context.Context) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT statement, generic_plans FROM pg_prepared_statements WHERE generic_plans > 0 AND cardinality(parameter_types) > 0`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	plans := map[string]int64{}
	for rows.Next() {
		var (
			stmt string
			n    int64
		)
		if err := rows.Scan(&stmt, &n); err != nil {
			return nil, err
		}
		plans[stmt] = n
	}
	return plans, rows.Err()
}

// ExplainAccountUpdate is the plan of the batched account update for the
// accounts ids, planned on one of the pool's sessions with its settings.
func (s *Store) ExplainAccountUpdate(ctx context.Context, ids []string) (string, error) {
	n := len(ids)
	ints, texts := make([]int64, n), make([]string, n)
	rows, err := s.pool.Query(ctx, `EXPLAIN (COSTS OFF) `+updateAccountsSQL, ids, ints, ints, ints, ints, ints, texts, ints, n)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		plan = append(plan, line)
	}
	return strings.Join(plan, "\n"), rows.Err()
}

// Exec runs sql on one of the pool's sessions.
func (s *Store) Exec(ctx context.Context, sql string) error {
	_, err := s.pool.Exec(ctx, sql)
	return err
}
