package api

import (
	"sync"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// inflight tracks the commands this instance is waiting on, so that
// concurrent retries of one request share one submission and one outcome,
// and replies find their waiters.
//
// A call is keyed by command ID and fingerprint, and a reply is delivered
// only to the call with its command ID and fingerprint: the outcome of one
// request never answers another request that reused its Idempotency-Key
// (each of them is submitted, and the consumer decides which is the
// original). A call lives while any request waits on it, whichever of them
// came first; it leaves the table once its outcome is known or its
// submission failed, so later requests submit afresh.
//
// The table is bounded: at most max calls hold a slot at once. A call takes
// its slot when it is created and gives it back once nobody waits on it and
// its submission ended (whichever comes last), so the requests waiting and
// the submissions running on this instance are bounded by max, and
// requests joining a call take no slot of their own. A new call beyond max
// is refused before anything is produced.
type inflight struct {
	mu    sync.Mutex
	calls map[callKey]*call
	max   int
	used  int // slots held, guarded by mu
}

type callKey struct{ id, fingerprint string }

type call struct {
	key     callKey
	waiters int // guarded by inflight.mu
	// submitting is true until the submission ended; guarded by
	// inflight.mu. The call's slot is free once waiters is 0 and
	// submitting is false.
	submitting bool

	// submitted is closed once the submission ended: ackedAt is when the
	// broker acknowledged the record, or subErr why it did not.
	submitted chan struct{}
	ackedAt   time.Time
	subErr    error

	// done is closed once outcome is set.
	done    chan struct{}
	once    sync.Once
	outcome ledger.Outcome
}

// newInflight returns a table of at most max calls (max >= 1).
func newInflight(max int) *inflight { return &inflight{calls: map[callKey]*call{}, max: max} }

// join returns the call for a command ID and fingerprint, creating it when
// none is in flight; leader is true for the creator, who must start the
// submission and end it with submitted. Every join that returns a call is
// paired with a leave. When no call is in flight and every slot is taken,
// join returns nil: the request must be refused.
func (f *inflight) join(id string, fingerprint []byte) (c *call, leader bool) {
	k := callKey{id, string(fingerprint)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, found := f.calls[k]; found {
		c.waiters++
		return c, false
	}
	if f.used >= f.max {
		return nil, false
	}
	f.used++
	c = &call{key: k, waiters: 1, submitting: true, submitted: make(chan struct{}), done: make(chan struct{})}
	f.calls[k] = c
	return c, true
}

// waiting is how many slots are held: calls with a request waiting on them
// or a submission running.
func (f *inflight) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used
}

// leave ends one request's wait; the call is forgotten when nobody waits
// on it any more.
func (f *inflight) leave(c *call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.waiters--
	if c.waiters == 0 {
		f.forget(c)
		if !c.submitting {
			f.used--
		}
	}
}

// forget removes c from the table, unless it was replaced already. Callers
// hold f.mu.
func (f *inflight) forget(c *call) {
	if f.calls[c.key] == c {
		delete(f.calls, c.key)
	}
}

// submitted records the end of c's submission: acknowledged at ackedAt, or
// failed with err. A failed call is forgotten, so the next request for the
// command submits it again.
func (f *inflight) submitted(c *call, ackedAt time.Time, err error) {
	f.mu.Lock()
	if err != nil {
		f.forget(c)
	}
	c.submitting = false
	if c.waiters == 0 {
		f.used--
	}
	f.mu.Unlock()
	c.ackedAt, c.subErr = ackedAt, err
	close(c.submitted)
}

// deliver completes the call waiting for the outcome of the command with
// this ID and fingerprint, if any. It reports whether one was waiting.
func (f *inflight) deliver(out ledger.Outcome, fingerprint []byte) bool {
	f.mu.Lock()
	c := f.calls[callKey{out.CommandID, string(fingerprint)}]
	if c != nil {
		f.forget(c)
	}
	f.mu.Unlock()
	if c == nil {
		return false
	}
	c.once.Do(func() {
		c.outcome = out
		close(c.done)
	})
	return true
}
