package postgres

import "context"

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
