package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pb33f/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/internal/testinfra"
	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/topics"
	"github.com/ordo-dev/ordo/wire"
)

// TestEventsRebuildLedger: deposits and withdrawals (some refused for
// insufficient funds, some retried with their key) go through two
// consumers, one of them a process SIGKILLed midway and replaced. The
// events topic, read from the start (read_committed), then holds exactly
// one event per stored command and none for the retries, each account's
// versions strictly increase in topic order, every event validates against
// docs/events.schema.json, and the balances rebuilt from the events are
// Postgres's.
func TestEventsRebuildLedger(t *testing.T) {
	e := newEnv(t, 4)
	api := e.startAPI()
	e.startConsumer()
	victim := e.startConsumerProcess()
	e.waitClaimed()
	accounts := []string{"ev0", "ev1", "ev2", "ev3", "ev4", "ev5"}
	for _, a := range accounts {
		openAccount(t, api, a, 50)
	}

	const workers, perWorker, killAt = 4, 40, 60
	deadline := time.Now().Add(4 * time.Minute)
	var (
		mu                        sync.Mutex
		done, refused, retried    int
		killOnce                  sync.Once
		killed                    = make(chan struct{})
		statusRefused, statusGood = http.StatusUnprocessableEntity, http.StatusOK
	)
	concurrently(workers, func(w int) {
		rng := rand.New(rand.NewPCG(uint64(w), 16))
		for i := 0; i < perWorker && time.Now().Before(deadline); i++ {
			account := accounts[rng.IntN(len(accounts))]
			kind, amount := "deposits", 1+rng.IntN(20)
			if rng.IntN(2) == 0 {
				kind, amount = "withdrawals", 1+rng.IntN(60)
			}
			key := fmt.Sprintf("ev-w%d-%d", w, i)
			url, body := api+"/v1/accounts/"+account+"/"+kind, fmt.Sprintf(`{"amount":%d}`, amount)
			r := decided(t, url, body, key, deadline)
			if r.Status != statusGood && !(r.Status == statusRefused && r.Code == string(ledger.CodeInsufficientFunds)) {
				t.Errorf("%s %s: got %d %s, want 200 or 422 insufficient_funds", kind, key, r.Status, r.Raw)
			}
			retry := rng.IntN(4) == 0
			if retry {
				// A keyed retry: answered from the stored outcome, no event.
				if again := decided(t, url, body, key, deadline); again.Status != r.Status || again.CommandID != r.CommandID {
					t.Errorf("retry of %s: got %d %s, want %d for %s", key, again.Status, again.Raw, r.Status, r.CommandID)
				}
			}
			mu.Lock()
			done++
			if r.Status == statusRefused {
				refused++
			}
			if retry {
				retried++
			}
			n := done
			mu.Unlock()
			if n >= killAt {
				killOnce.Do(func() {
					// Commands are in flight: the other workers keep sending.
					if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
						t.Errorf("kill: %v", err)
					}
					_, _ = victim.Process.Wait()
					e.startConsumerProcess()
					close(killed)
				})
			}
		}
	})
	select {
	case <-killed:
	default:
		t.Fatal("the consumer process was never killed")
	}
	if refused == 0 || refused == done {
		t.Fatalf("%d of %d commands refused: want a mix", refused, done)
	}

	ctx := context.Background()
	stored := map[string]bool{}
	rows, err := e.pool.Query(ctx, `SELECT command_id FROM commands WHERE topic = $1`, e.opts.CommandsTopic)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	events := readAllEvents(t, e, len(stored), 2*time.Minute)
	schema := testinfra.JSONSchema(t, "../../docs/events.schema.json")
	seen := map[string]int{}
	type last struct{ version, balance int64 }
	rebuilt := map[string]last{}
	for _, ev := range events {
		seen[ev.e.EventID]++
		if err := schema.Validate(ev.doc); err != nil {
			t.Errorf("event %s does not validate against docs/events.schema.json: %v", ev.raw, err)
		}
		if ev.e.Account == nil {
			continue
		}
		prev, ok := rebuilt[ev.e.AccountID]
		v := ev.e.Account.Version
		switch {
		case ev.e.Status == ledger.StatusApplied && ok && v <= prev.version:
			t.Errorf("account %s: applied event %s has version %d after version %d", ev.e.AccountID, ev.e.EventID, v, prev.version)
		case ev.e.Status == ledger.StatusRejected && ok && v < prev.version:
			t.Errorf("account %s: refused event %s shows version %d after version %d", ev.e.AccountID, ev.e.EventID, v, prev.version)
		}
		rebuilt[ev.e.AccountID] = last{version: v, balance: ev.e.Account.Balance}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("command %s has %d events, want exactly 1", id, n)
		}
		if !stored[id] {
			t.Errorf("event %s names no stored command", id)
		}
	}
	for id := range stored {
		if seen[id] == 0 {
			t.Errorf("stored command %s has no event", id)
		}
	}
	for _, a := range accounts {
		bal, ver := e.balance(a)
		if got := rebuilt[a]; got.balance != bal || got.version != ver {
			t.Errorf("account %s: rebuilt from events balance %d version %d, Postgres has %d and %d", a, got.balance, got.version, bal, ver)
		}
	}
	t.Logf("%d commands (%d refused, %d retried with their key), %d stored, %d events; one: %s", done, refused, retried, len(stored), len(events), events[len(events)-1].raw)
}

type readEvent struct {
	e   wire.Event
	raw []byte
	doc any
}

// readAllEvents consumes the test's events topic from the start,
// read_committed, until it holds at least want events and every partition
// has been read to its last stable offset as of then, so duplicates would
// show.
func readAllEvents(t *testing.T, e *env, want int, timeout time.Duration) []readEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...),
		kgo.ConsumeTopics(e.opts.EventsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var (
		out     []readEvent
		ends    map[int32]int64 // last stable offsets, once want events are in
		reached = map[int32]int64{}
	)
	for {
		if len(out) >= want && ends == nil {
			listed, err := adm.ListCommittedOffsets(ctx, e.opts.EventsTopic)
			if err != nil {
				t.Fatal(err)
			}
			ends = map[int32]int64{}
			listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
		}
		if ends != nil {
			all := true
			for p, end := range ends {
				if end > 0 && reached[p] < end-1 {
					all = false
				}
			}
			if all {
				return out
			}
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d events of %d within %v", len(out), want, timeout)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("read events partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			reached[r.Partition] = max(reached[r.Partition], r.Offset)
			if r.Attrs.IsControl() {
				return
			}
			ev, err := wire.DecodeEvent(r.Value)
			if err != nil {
				t.Fatalf("event at %d/%d: %v", r.Partition, r.Offset, err)
			}
			if string(r.Key) != ev.AccountID || r.Partition != ev.Source.Partition || ev.Source.Topic != e.opts.CommandsTopic {
				t.Errorf("event %s is on partition %d with key %q: want the account as key and its commands partition", r.Value, r.Partition, r.Key)
			}
			if v := eventHeader(r, wire.HeaderEventVersion); v != "1" {
				t.Errorf("event %s: version header %q, want 1", ev.EventID, v)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Value))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, readEvent{e: ev, raw: r.Value, doc: doc})
		})
	}
}

func eventHeader(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestEventsTopicPartitionMismatch: a role refuses to start when the events
// topic has another partition count than the commands topic.
func TestEventsTopicPartitionMismatch(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	adm, err := newAdmin(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := topics.Ensure(ctx, adm, []topics.Spec{e.opts.topicLayout().EventsSpec(2)}, true, e.log); err != nil {
		t.Fatal(err)
	}
	if c, err := NewConsumer(ctx, e.opts, e.log); err == nil {
		c.Close()
		t.Fatal("consumer started with 2 events partitions for 4 commands partitions; want it refused")
	} else if !strings.Contains(err.Error(), "must match") {
		t.Fatalf("got %v, want the partition count mismatch", err)
	}
	e.opts.EventsTopic = ""
	c, err := NewConsumer(ctx, e.opts, e.log)
	if err != nil {
		t.Fatalf("without events: %v", err)
	}
	c.Close()
}
