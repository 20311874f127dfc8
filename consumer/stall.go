package consumer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
)

// Reason says why a partition the group assigns to this consumer is not
// being applied. The set is closed: it labels a metric.
type Reason string

// Reasons a partition stops. The consumer retries the first five by itself,
// with capped, jittered exponential backoff; the last two wait for an
// operator (see Retries).
const (
	// ReasonClaimLost: a newer claim fenced this consumer's claim off. It is
	// claimed again while the group still assigns it here.
	ReasonClaimLost Reason = "claim_lost"
	// ReasonStaleGeneration: the claim was refused, the partition being
	// claimed for a newer group generation. It is claimed again with the
	// consumer's current generation, which succeeds once a rebalance has
	// brought it up to date.
	ReasonStaleGeneration Reason = "stale_generation"
	// ReasonClaimFailed: the claim could not be made (Postgres did not
	// answer, or the log start could not be read).
	ReasonClaimFailed Reason = "claim_failed"
	// ReasonGuardFailed: a write guard tripped (state changed under the
	// owner). The partition is claimed again and its records read afresh.
	ReasonGuardFailed Reason = "guard_failed"
	// ReasonApplyFailed: its batch transaction failed for another reason.
	ReasonApplyFailed Reason = "apply_failed"
	// ReasonOffsetOutOfRange: the stored next offset is outside the log.
	ReasonOffsetOutOfRange Reason = "offset_out_of_range"
	// ReasonTopicRecreated: the stored offsets belong to another incarnation
	// of the topic.
	ReasonTopicRecreated Reason = "topic_recreated"
)

// Reasons lists every reason, for metrics and operators.
var Reasons = []Reason{ReasonClaimLost, ReasonStaleGeneration, ReasonClaimFailed, ReasonGuardFailed,
	ReasonApplyFailed, ReasonOffsetOutOfRange, ReasonTopicRecreated}

// Retries reports whether the consumer retries a partition stopped for this
// reason by itself. The others need an operator to fix the log or the
// partition's row first; they are retried once it is released (its stored
// epoch changes, as `ordo partitions release` does).
func (r Reason) Retries() bool { return r != ReasonOffsetOutOfRange && r != ReasonTopicRecreated }

// reasonOf classifies a failed claim.
func reasonOf(err error) Reason {
	switch {
	case errors.Is(err, ledger.ErrStaleGeneration):
		return ReasonStaleGeneration
	case errors.Is(err, ledger.ErrTopicRecreated):
		return ReasonTopicRecreated
	default:
		return ReasonClaimFailed
	}
}

// stall is a stopped partition: why, and when it is tried again.
type stall struct {
	reason  Reason
	err     error
	attempt int       // failures in a row
	due     time.Time // next retry; zero: only when released
	// epoch is the stored claim epoch when last read (-1: not read yet).
	// A change that is not this consumer's own claim is a release.
	epoch int64
	next  int64 // stored next offset when last read (-1: none)
	// resumed: claimed again after a failed batch (apply_failed,
	// guard_failed) and applying; the stall ends when a batch commits, and
	// another failure continues the backoff where it was.
	resumed bool
}

// backoff is the wait before retry number attempt (1, 2, ...): base
// doubled per attempt, capped at max, with jitter (uniformly between half
// of it and all of it), so that consumers stopped together do not retry in
// step.
func backoff(base, max time.Duration, attempt int, rnd func() float64) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + time.Duration(rnd()*float64(d/2))
}

// stop halts a partition and records why. w is the worker that failed, or
// nil when the partition has none (a failed claim); a worker that is no
// longer the partition's (revoked, or replaced) stops nothing.
func (p *Processor) stop(partition int32, w *worker, reason Reason, err error) {
	if w != nil {
		w.halted.Store(true)
	}
	p.mu.Lock()
	if w != nil && p.workers[partition] != w {
		p.mu.Unlock()
		return
	}
	delete(p.workers, partition)
	s := p.stalls[partition]
	if s == nil {
		s = &stall{epoch: -1, next: -1}
		if w != nil {
			s.next = w.next.Load()
		}
		p.stalls[partition] = s
	}
	s.reason, s.err, s.resumed = reason, err, false
	s.attempt++
	s.due = time.Time{}
	if reason.Retries() {
		s.due = p.now().Add(backoff(p.cfg.RetryBackoff, p.cfg.RetryBackoffMax, s.attempt, rand.Float64))
	}
	wake := p.wake
	p.mu.Unlock()
	p.cl.PauseFetchPartitions(map[string][]int32{p.cfg.Topic: {partition}})
	if wake != nil {
		wake() // let the poll loop see the new stall
	}
}

// recoverStalled runs in the poll loop while rebalances are blocked. It
// forgets stalls of partitions no longer assigned here, notices releases,
// and retries the stalls that are due.
func (p *Processor) recoverStalled(ctx context.Context) {
	p.mu.Lock()
	for partition := range p.stalls {
		if !p.assigned[partition] {
			delete(p.stalls, partition)
		}
	}
	n := len(p.stalls)
	p.mu.Unlock()
	if n == 0 {
		return
	}
	// One round is bounded by ClaimTimeout as a whole, so that a database
	// that hangs cannot hold the poll loop (and with it rebalances) long.
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ClaimTimeout)
	defer cancel()
	states, err := p.store.Partitions(ctx, p.cfg.Topic)
	now := p.now()
	var due []int32
	p.mu.Lock()
	if err == nil {
		for _, st := range states {
			s := p.stalls[st.Partition]
			if s == nil {
				continue
			}
			if s.resumed {
				s.epoch = st.Epoch // this consumer's own claim
				continue
			}
			if s.epoch >= 0 && st.Epoch != s.epoch {
				p.log.Info("partition released: its stored claim changed; retrying now", "partition", st.Partition, "reason", s.reason, "epoch", st.Epoch)
				s.due, s.attempt = now, 0
			}
			s.epoch, s.next = st.Epoch, st.NextOffset
		}
	}
	for partition, s := range p.stalls {
		if !s.due.IsZero() && !now.Before(s.due) {
			due = append(due, partition)
		}
	}
	p.mu.Unlock()
	for _, partition := range due {
		if err != nil || ctx.Err() != nil {
			// The database did not answer: count the attempt, back off.
			p.mu.Lock()
			st := p.stalls[partition]
			p.mu.Unlock()
			if st == nil {
				continue
			}
			p.metrics.retries.WithLabelValues(string(st.reason)).Inc()
			p.stop(partition, nil, ReasonClaimFailed, fmt.Errorf("read partitions: %w", errors.Join(err, ctx.Err())))
			continue
		}
		p.reclaim(ctx, partition)
	}
}

// reclaim claims a stopped partition again with the current group
// generation and resumes fetching at its stored next offset.
func (p *Processor) reclaim(ctx context.Context, partition int32) {
	p.mu.Lock()
	s := p.stalls[partition]
	p.mu.Unlock()
	if s == nil {
		return
	}
	p.metrics.retries.WithLabelValues(string(s.reason)).Inc()
	member, generation := p.cl.GroupMetadata()
	claim, err := p.store.ClaimPartition(ctx, p.cfg.Topic, partition, generation, member, false, p.topicID)
	next := claim.NextOffset
	if err == nil && next < 0 {
		next, err = p.logStart(ctx, partition)
	}
	if err != nil {
		reason := reasonOf(err)
		p.log.Warn("partition still stopped; claiming it again failed", "partition", partition, "reason", reason, "attempt", s.attempt, "err", err)
		p.stop(partition, nil, reason, err)
		return
	}
	// Fetch from the stored offset: records fetched and dropped since the
	// stop are fetched again, and none is skipped. Marking first makes sure
	// the client tracks the partition, so that SetOffsets applies (and
	// re-enables a partition stopped by OFFSET_OUT_OF_RANGE); committing
	// the stored offset to the group is true: everything below it is
	// applied.
	off := map[string]map[int32]kgo.EpochOffset{p.cfg.Topic: {partition: {Epoch: -1, Offset: next}}}
	p.cl.MarkCommitOffsets(off)
	p.cl.SetOffsets(off)
	p.startWorker(claim)
	p.mu.Lock()
	if s.reason == ReasonApplyFailed || s.reason == ReasonGuardFailed {
		s.resumed, s.due = true, time.Time{}
	} else {
		delete(p.stalls, partition)
	}
	p.mu.Unlock()
	p.cl.ResumeFetchPartitions(map[string][]int32{p.cfg.Topic: {partition}})
	p.log.Info("partition claimed again after a stop", "partition", partition, "was", s.reason, "epoch", claim.Epoch, "next_offset", next)
}

// logStart is the first offset of a partition's log.
func (p *Processor) logStart(ctx context.Context, partition int32) (int64, error) {
	starts, err := p.adm.ListStartOffsets(ctx, p.cfg.Topic)
	if err != nil {
		return 0, err
	}
	o, ok := starts.Lookup(p.cfg.Topic, partition)
	if !ok {
		return 0, errors.New("log start not listed")
	}
	return o.Offset, o.Err
}

// applied ends the stall of a partition resumed after a failed batch, now
// that a batch of it committed.
func (p *Processor) applied(partition int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stalls[partition]; s != nil && s.resumed {
		delete(p.stalls, partition)
	}
}
