package consumer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
)

func TestBackoff(t *testing.T) {
	const base, cap = 500 * time.Millisecond, 30 * time.Second
	tests := []struct {
		name     string
		attempt  int
		rnd      float64
		min, max time.Duration // the range rnd in [0, 1) spans
		want     time.Duration
	}{
		{"first, least jitter", 1, 0, 250 * time.Millisecond, 500 * time.Millisecond, 250 * time.Millisecond},
		{"first, most jitter", 1, 0.999999, 250 * time.Millisecond, 500 * time.Millisecond, 0},
		{"doubles", 3, 0, time.Second, 2 * time.Second, time.Second},
		{"capped", 20, 0, cap / 2, cap, cap / 2},
		{"capped far out", 1000, 0.5, cap / 2, cap, 3 * cap / 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := backoff(base, cap, tt.attempt, func() float64 { return tt.rnd })
			if got < tt.min || got >= tt.max {
				t.Fatalf("got %v, want in [%v, %v)", got, tt.min, tt.max)
			}
			if tt.want != 0 && got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    Reason
		retries bool
	}{
		{"stale generation", fmt.Errorf("claim: %w", ledger.ErrStaleGeneration), ReasonStaleGeneration, true},
		{"topic recreated", fmt.Errorf("claim: %w", ledger.ErrTopicRecreated), ReasonTopicRecreated, false},
		{"database", fmt.Errorf("claim: %w", ledger.ErrUnavailable), ReasonClaimFailed, true},
		{"anything else", errors.New("boom"), ReasonClaimFailed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonOf(tt.err); got != tt.want || got.Retries() != tt.retries {
				t.Fatalf("got %s (retries %v), want %s (retries %v)", got, got.Retries(), tt.want, tt.retries)
			}
		})
	}
	if ReasonOffsetOutOfRange.Retries() {
		t.Errorf("offset_out_of_range retries by itself; want it to wait for an operator")
	}
}

func TestReplyTopicsCheck(t *testing.T) {
	now := time.Unix(0, 0)
	rt := newReplyTopics([]string{"replies"}, nil, func() time.Time { return now })
	rt.counts["replies"] = 4
	rt.refreshed = now
	tests := []struct {
		name      string
		topic     string
		partition int32
		want      string
	}{
		{"allowed", "replies", 3, ""},
		{"first partition", "replies", 0, ""},
		{"another topic", "payments", 0, refusedTopic},
		{"a prefix of the allowed one", "repl", 0, refusedTopic},
		{"partition past the topic", "replies", 4, refusedBadPartition},
		{"negative partition", "replies", -1, refusedBadPartition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rt.check(context.Background(), tt.topic, tt.partition); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReplyTopicsNoneAllowed(t *testing.T) {
	rt := newReplyTopics(nil, nil, time.Now)
	if got := rt.check(context.Background(), "replies", 0); got != refusedTopic {
		t.Fatalf("got %q, want %q: with no allowed topic, no reply goes anywhere", got, refusedTopic)
	}
}

// testProcessor is a processor with a client that never connects: enough
// for the bookkeeping of stops.
func testProcessor(t *testing.T, now func() time.Time) *Processor {
	t.Helper()
	cfg := Config{Brokers: []string{"127.0.0.1:1"}, Topic: "cmds", Group: "g", RetryBackoff: time.Second, RetryBackoffMax: 8 * time.Second}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	p := &Processor{cfg: cfg, cl: cl, now: now, log: cfg.Logger, workers: map[int32]*worker{}, stalls: map[int32]*stall{}, assigned: map[int32]bool{}}
	return p
}

func TestStopBookkeeping(t *testing.T) {
	now := time.Unix(1000, 0)
	p := testProcessor(t, func() time.Time { return now })
	w := &worker{}
	w.next.Store(42)
	p.workers[3] = w

	p.stop(3, w, ReasonApplyFailed, errors.New("boom"))
	if !w.halted.Load() || p.workers[3] != nil {
		t.Fatalf("worker not halted and removed")
	}
	s := p.stalls[3]
	if s == nil || s.reason != ReasonApplyFailed || s.attempt != 1 || s.next != 42 {
		t.Fatalf("got stall %+v, want apply_failed, attempt 1, next 42", s)
	}
	if d := s.due.Sub(now); d < 500*time.Millisecond || d >= time.Second {
		t.Fatalf("first retry in %v, want in [500ms, 1s)", d)
	}

	// Claimed again and failing again: the backoff goes on growing.
	s.resumed = true
	w2 := &worker{}
	p.workers[3] = w2
	p.stop(3, w2, ReasonApplyFailed, errors.New("boom"))
	if s.attempt != 2 || s.resumed {
		t.Fatalf("got attempt %d resumed %v, want 2 and false", s.attempt, s.resumed)
	}
	if d := s.due.Sub(now); d < time.Second || d >= 2*time.Second {
		t.Fatalf("second retry in %v, want in [1s, 2s)", d)
	}
	p.applied(3) // not resumed: a commit of another claim ends nothing
	if p.stalls[3] == nil {
		t.Fatalf("stall ended by a commit while not resumed")
	}
	s.resumed = true
	p.applied(3)
	if p.stalls[3] != nil {
		t.Fatalf("stall not ended by a commit after resuming")
	}

	// A worker that is no longer the partition's stops nothing.
	stale, current := &worker{}, &worker{}
	p.workers[5] = current
	p.stop(5, stale, ReasonClaimLost, errors.New("late"))
	if p.stalls[5] != nil || p.workers[5] != current {
		t.Fatalf("a stale worker's stop stopped the partition")
	}

	// Reasons that need an operator are not retried by time.
	p.stop(7, nil, ReasonOffsetOutOfRange, errors.New("out of range"))
	if s := p.stalls[7]; s == nil || !s.due.IsZero() {
		t.Fatalf("got %+v, want a stall with no retry due", s)
	}
}
