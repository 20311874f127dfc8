package consumer

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Why a reply a record asked for was not sent (a metric label).
const (
	refusedTopic        = "topic_not_allowed"
	refusedBadPartition = "partition_out_of_range"
)

// replyTopics is the allow-list of reply topics and their partition counts.
// A record names where its reply goes, and the consumer produces it with its
// own credentials, so only topics on the list are written, and only to
// partitions they have.
type replyTopics struct {
	allowed []string
	adm     *kadm.Client // nil in unit tests: counts are set directly
	now     func() time.Time

	mu        sync.Mutex
	counts    map[string]int32 // partitions per allowed topic
	refreshed time.Time
}

// refreshEvery bounds how often an unknown partition makes the consumer read
// the reply topics' partition counts again (a topic may grow).
const refreshEvery = 30 * time.Second

func newReplyTopics(allowed []string, adm *kadm.Client, now func() time.Time) *replyTopics {
	return &replyTopics{allowed: slices.Clone(allowed), adm: adm, now: now, counts: map[string]int32{}}
}

// check returns why a reply to topic and partition must not be sent, or ""
// if it may be.
func (t *replyTopics) check(ctx context.Context, topic string, partition int32) string {
	if !slices.Contains(t.allowed, topic) {
		return refusedTopic
	}
	if partition < 0 {
		return refusedBadPartition
	}
	t.mu.Lock()
	n, stale := t.counts[topic], t.now().Sub(t.refreshed) >= refreshEvery
	t.mu.Unlock()
	if partition < n {
		return ""
	}
	if stale {
		t.refresh(ctx)
		t.mu.Lock()
		n = t.counts[topic]
		t.mu.Unlock()
	}
	if partition < n {
		return ""
	}
	return refusedBadPartition
}

// refresh reads the allowed topics' partition counts; a failure keeps the
// counts known.
func (t *replyTopics) refresh(ctx context.Context) {
	t.mu.Lock()
	t.refreshed = t.now()
	t.mu.Unlock()
	if t.adm == nil || len(t.allowed) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	topics, err := t.adm.ListTopics(ctx, t.allowed...)
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, d := range topics {
		if d.Err == nil {
			t.counts[name] = int32(len(d.Partitions))
		}
	}
}
