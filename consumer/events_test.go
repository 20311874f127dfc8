package consumer

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// fakeDecisions is a commands table in memory.
type fakeDecisions struct {
	mu sync.Mutex
	ds []ledger.Decided
}

func (f *fakeDecisions) add(d ledger.Decided) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ds = append(f.ds, d)
}

func (f *fakeDecisions) DecidedAfter(_ context.Context, _ string, partition int32, after int64, limit int) ([]ledger.Decided, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ledger.Decided
	for _, d := range f.ds {
		if d.Partition == partition && d.Offset > after && len(out) < limit {
			out = append(out, d)
		}
	}
	return out, nil
}

func decided(partition int32, offset int64) ledger.Decided {
	id := wire.DefaultCommandID(partition, offset)
	return ledger.Decided{Partition: partition, Offset: offset, DecidedAt: time.Now().UTC().Truncate(time.Microsecond),
		Outcome: ledger.Outcome{CommandID: id, Kind: ledger.KindDeposit, AccountID: "acct", Status: ledger.StatusApplied,
			Account: &ledger.Account{ID: "acct", Currency: "USD", Balance: offset + 1, Version: offset + 1}}}
}

func newTestSink(t *testing.T, partitions int32) (*eventSink, *fakeDecisions, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "events"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	store := &fakeDecisions{}
	s := &eventSink{
		brokers: c.ListenAddrs(), topic: "events", commandsTopic: "cmds", store: store,
		log: slog.New(slog.DiscardHandler), backoff: 10 * time.Millisecond, backoffMax: 50 * time.Millisecond,
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "published"}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	t.Cleanup(s.close)
	return s, store, c.ListenAddrs()
}

// readEvents reads an events partition from the start, read_committed, up
// to its last stable offset, and returns the source offsets in topic order.
func readEvents(t *testing.T, brokers []string, partition int32) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	last, err := lastSourceOffset(ctx, brokers, "events", partition)
	if err != nil {
		t.Fatal(err)
	}
	if last < 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"events": {partition: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []int64
	for !slices.Contains(got, last) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read events: got %v, never reached %d", got, last)
		}
		fs.EachRecord(func(r *kgo.Record) {
			e, err := wire.DecodeEvent(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if h := header(r, wire.HeaderSourceOffset); h == "" || string(r.Key) != e.AccountID || r.Partition != e.Source.Partition {
				t.Errorf("event %s: key %q, partition %d, source offset header %q", r.Value, r.Key, r.Partition, h)
			}
			got = append(got, e.Source.Offset)
		})
	}
	return got
}

// TestEventsFencedOwnerCannotPublish: once a new owner initialises the
// partition's transactional ID, the old owner's open transaction is
// aborted and it can publish nothing more; the new owner resumes after the
// last committed event and publishes the rest from the store, so every
// decision is in the topic exactly once.
func TestEventsFencedOwnerCannotPublish(t *testing.T) {
	s, store, brokers := newTestSink(t, 2)
	ctx := context.Background()
	for off := range int64(6) {
		store.add(decided(1, off))
	}

	zombie := s.newPublisher(1, nil)
	zcl, err := zombie.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer zcl.Close()
	if err := zombie.publish(ctx, zcl, store.ds[:2]); err != nil {
		t.Fatal(err)
	}

	owner := s.newPublisher(1, nil)
	var ocl *kgo.Client
	zombie.beforeCommit = func() {
		// The zombie's transaction with offsets 2 and 3 is open (produced,
		// not committed) when the new owner takes over.
		if ocl, err = owner.open(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := zombie.publish(ctx, zcl, store.ds[2:4]); err == nil {
		t.Fatal("the fenced owner committed its transaction; want it refused")
	}
	defer ocl.Close()
	if got := owner.published.Load(); got != 1 {
		t.Errorf("new owner resumes after source offset %d, want 1 (the last committed event)", got)
	}
	zombie.beforeCommit = nil
	if err := zombie.publish(ctx, zcl, store.ds[4:]); err == nil {
		t.Error("the fenced owner published in a new transaction; want it refused")
	}
	if err := owner.resync(ctx, ocl); err != nil {
		t.Fatal(err)
	}
	if got, want := readEvents(t, brokers, 1), []int64{0, 1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("events partition 1 holds source offsets %v, want %v", got, want)
	}
	if got := readEvents(t, brokers, 0); len(got) != 0 {
		t.Errorf("events partition 0 holds %v, want nothing (manual partitioning)", got)
	}
}

// TestEventsPublisherSession: a claimed partition's publisher resyncs what
// earlier owners left unpublished, then publishes committed batches from
// memory, only their stored decisions, once each; a batch that finds the
// queue full is published by a resync.
func TestEventsPublisherSession(t *testing.T) {
	s, store, brokers := newTestSink(t, 1)
	for off := range int64(3) {
		store.add(decided(0, off)) // decided by an earlier owner, never published
	}
	w := &worker{claim: ledger.Claim{Partition: 0}}
	w.next.Store(3)
	ep := s.start(w)
	defer w.halted.Store(true)
	waitForEvents(t, brokers, []int64{0, 1, 2}) // the resync on claim

	// A committed batch: offsets 3 and 5 stored, 4 a retry answered from
	// an earlier decision (no row, no event).
	recs := []ledger.Record{{Offset: 3}, {Offset: 4}, {Offset: 5}}
	results := make([]ledger.Result, 3)
	for i, r := range recs {
		d := decided(0, r.Offset)
		results[i] = ledger.Result{Outcome: d.Outcome, Stored: r.Offset != 4, DecidedAt: d.DecidedAt}
		if results[i].Stored {
			store.add(d)
		}
	}
	ep.committed(recs, results)
	waitForEvents(t, brokers, []int64{0, 1, 2, 3, 5})

	// A batch dropped (queue full) is found by the resync the next batch
	// triggers.
	store.add(decided(0, 6))
	ep.behind.Store(true)
	d7 := decided(0, 7)
	store.add(d7)
	w.next.Store(8)
	ep.committed([]ledger.Record{{Offset: 7}}, []ledger.Result{{Outcome: d7.Outcome, Stored: true, DecidedAt: d7.DecidedAt}})
	waitForEvents(t, brokers, []int64{0, 1, 2, 3, 5, 6, 7})
	if got := ep.lag(); got != 0 {
		t.Errorf("got lag %d after publishing everything, want 0", got)
	}
}

func waitForEvents(t *testing.T, brokers []string, want []int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := readEvents(t, brokers, 0)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) || len(got) > len(want) {
			t.Fatalf("events partition 0 holds source offsets %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
