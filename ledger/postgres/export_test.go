package postgres

// SetBeforeWrite runs fn between a batch's reads and its writes, so tests
// can change state under a batch in flight.
func (s *Store) SetBeforeWrite(fn func()) { s.beforeWrite = fn }
