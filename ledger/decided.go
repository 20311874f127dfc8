package ledger

import "time"

// Decided is one stored decision as the events topic publishes it: the
// stored outcome of a command and where in the commands log it came from.
// Every commands-table row is one; retries answered from a stored outcome
// are not.
type Decided struct {
	Outcome   Outcome
	Partition int32
	Offset    int64
	DecidedAt time.Time
}
