package api

import (
	"sync"
	"time"
)

// deadlineGrace is how long after a command's deadline the API still
// calls it pending when no outcome is stored. A consumer reads its clock
// when it decides a batch and commits within its batch timeout (30 s by
// default), and clocks are assumed to agree within a few seconds (NTP), so a
// command with no outcome a minute after its deadline can no longer take
// effect: the consumer will refuse it as expired.
const deadlineGrace = time.Minute

// maxPending bounds the commands an instance remembers as pending.
const maxPending = 100_000

// pending remembers the deadlines of the commands this instance answered
// 202 (or could not confirm), so that GET /v1/commands/{id} can say
// "pending until D" before the deadline and "expired" after it, without a
// write on the hot path. Deadlines grow with submission time (one
// configured duration per process), so the oldest entry always expires
// first and a FIFO queue is enough to forget them.
type pending struct {
	mu        sync.Mutex
	deadlines map[string]pendingCommand
	order     []pendingEntry // by deadline, oldest first
}

// pendingCommand is what GET needs of a pending command: its account,
// whose key may read it, and its deadline.
type pendingCommand struct {
	account  string
	deadline time.Time
}

type pendingEntry struct {
	id       string
	deadline time.Time
}

func newPending() *pending { return &pending{deadlines: map[string]pendingCommand{}} }

// add remembers a command's account and deadline; now is the caller's
// clock.
func (p *pending) add(id, account string, deadline, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	if len(p.order) >= maxPending {
		p.drop()
	}
	// A retry with the same command ID keeps the later deadline: until it
	// passes, either submission may still be decided.
	if d, ok := p.deadlines[id]; ok && !deadline.After(d.deadline) {
		return
	}
	p.order = append(p.order, pendingEntry{id, deadline})
	p.deadlines[id] = pendingCommand{account, deadline}
}

// deadline returns a remembered command's account and deadline.
func (p *pending) deadline(id string, now time.Time) (account string, deadline time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	d, ok := p.deadlines[id]
	return d.account, d.deadline, ok
}

// pendingRetention is how long after its deadline a command is remembered,
// so that GET still answers "expired" rather than 404 for a while.
const pendingRetention = time.Hour

// expire forgets the commands whose deadline passed more than
// pendingRetention before now.
func (p *pending) expire(now time.Time) {
	for len(p.order) > 0 && now.Sub(p.order[0].deadline) > pendingRetention {
		p.drop()
	}
}

func (p *pending) drop() {
	e := p.order[0]
	p.order = p.order[1:]
	if p.deadlines[e.id].deadline == e.deadline {
		delete(p.deadlines, e.id)
	}
}
