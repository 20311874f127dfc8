package api

import (
	"bytes"
	"sync"

	"github.com/ordo-dev/ordo/ledger"
)

// inflight tracks the commands this instance is waiting on, so that
// concurrent retries of one Idempotency-Key share one submission and one
// outcome, and replies find their waiters.
type inflight struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	fingerprint []byte
	done        chan struct{} // closed once outcome or err is set
	once        sync.Once
	outcome     ledger.Outcome
	err         error
}

func (c *call) finish(out ledger.Outcome, err error) {
	c.once.Do(func() {
		c.outcome, c.err = out, err
		close(c.done)
	})
}

func newInflight() *inflight { return &inflight{calls: map[string]*call{}} }

// join returns the call for a command ID, creating it when none is in
// flight; leader is true for the creator, who must submit the command and
// later leave. ok is false when the ID is in flight for another request.
func (f *inflight) join(id string, fingerprint []byte) (c *call, leader, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, found := f.calls[id]; found {
		return c, false, bytes.Equal(c.fingerprint, fingerprint)
	}
	c = &call{fingerprint: fingerprint, done: make(chan struct{})}
	f.calls[id] = c
	return c, true, true
}

// leave forgets a call once its leader is done with it.
func (f *inflight) leave(id string, c *call) {
	f.mu.Lock()
	if f.calls[id] == c {
		delete(f.calls, id)
	}
	f.mu.Unlock()
}

// deliver completes the call waiting for an outcome, if any.
func (f *inflight) deliver(out ledger.Outcome) {
	f.mu.Lock()
	c := f.calls[out.CommandID]
	f.mu.Unlock()
	if c != nil {
		c.finish(out, nil)
	}
}
