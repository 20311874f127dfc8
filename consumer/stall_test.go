package consumer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
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
		{"topic recreated", fmt.Errorf("claim: %w", postgres.ErrTopicRecreated), ReasonTopicRecreated, false},
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
