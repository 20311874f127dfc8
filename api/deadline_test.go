package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for deadlines.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newDeadlineServer(t *testing.T) (*ledgerFake, *httptest.Server, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	f := newFake()
	f.server = New(Config{WaitBudget: 50 * time.Millisecond, CommandDeadline: time.Hour, Now: clock.Now, Logger: slog.New(slog.DiscardHandler)}, f, f)
	ts := httptest.NewServer(f.server.Handler())
	t.Cleanup(ts.Close)
	return f, ts, clock
}

// TestCommandCarriesDeadline: every submitted command carries its request
// time plus the configured deadline, to the millisecond.
func TestCommandCarriesDeadline(t *testing.T) {
	f, ts, clock := newDeadlineServer(t)
	clock.advance(1234567 * time.Microsecond)
	request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.submitted) != 1 {
		t.Fatalf("got %d commands submitted, want 1", len(f.submitted))
	}
	want := time.Date(2026, 11, 30, 13, 0, 1, 234e6, time.UTC)
	if got := f.submitted[0].Deadline; !got.Equal(want) {
		t.Fatalf("got deadline %s, want %s", got, want)
	}
}

// TestPendingUntilDeadline: a command answered 202 is pending, with its
// deadline, until the deadline; a minute after it (the grace for clocks
// and commits) GET says expired; a command this instance never submitted
// is not found.
func TestPendingUntilDeadline(t *testing.T) {
	f, ts, clock := newDeadlineServer(t)
	f.silent = true // no consumer: every command stays undecided
	res, doc := request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`, "Idempotency-Key", "k1")
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("got %d %v, want 202", res.StatusCode, doc)
	}
	wantDeadline := "2026-11-30T13:00:00Z"
	if doc["deadline"] != wantDeadline {
		t.Fatalf("got deadline %v in the 202, want %s", doc["deadline"], wantDeadline)
	}
	id, _ := doc["command_id"].(string)

	for _, step := range []struct {
		name       string
		advance    time.Duration
		wantStatus string
		wantCode   any
	}{
		{"right after", 0, "pending", nil},
		{"at the deadline", time.Hour, "pending", nil},
		{"within the grace", deadlineGrace, "pending", nil},
		{"after the grace", time.Millisecond, "rejected", "expired"},
	} {
		clock.advance(step.advance)
		res, doc := request(t, ts, "GET", "/v1/commands/"+id, "")
		if res.StatusCode != http.StatusOK || doc["status"] != step.wantStatus || doc["code"] != step.wantCode {
			t.Fatalf("%s: got %d %v, want 200 %s %v", step.name, res.StatusCode, doc, step.wantStatus, step.wantCode)
		}
		if step.wantStatus == "pending" && doc["deadline"] != wantDeadline {
			t.Fatalf("%s: got deadline %v, want %s", step.name, doc["deadline"], wantDeadline)
		}
	}
	if res, doc := request(t, ts, "GET", "/v1/commands/never-submitted", ""); res.StatusCode != http.StatusNotFound || doc["code"] != "command_not_found" {
		t.Fatalf("got %d %v for an unknown command, want 404 command_not_found", res.StatusCode, doc)
	}
}

func TestPendingForgets(t *testing.T) {
	p := newPending()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p.add("a", "acc", t0, t0.Add(-time.Hour))
	p.add("b", "acc", t0.Add(time.Minute), t0.Add(-time.Hour))
	p.add("a", "acc", t0.Add(2*time.Minute), t0.Add(-time.Hour)) // a retry: the later deadline counts
	if _, d, ok := p.deadline("a", t0); !ok || !d.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("got %s %v for a retried command, want its later deadline", d, ok)
	}
	later := t0.Add(time.Minute + pendingRetention + time.Second)
	if _, _, ok := p.deadline("b", later); ok {
		t.Fatal("got b remembered past its retention, want it forgotten")
	}
	if _, _, ok := p.deadline("a", later); !ok {
		t.Fatal("got a forgotten within its retention, want it remembered")
	}
	if _, _, ok := p.deadline("a", t0.Add(2*time.Minute+pendingRetention+time.Second)); ok || len(p.deadlines) != 0 || len(p.order) != 0 {
		t.Fatalf("got %d deadlines and %d queued after every retention passed, want none", len(p.deadlines), len(p.order))
	}
}
