package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// silentLog acknowledges every command at once and never decides one: a
// broker with no consumer behind it. The test delivers outcomes itself.
type silentLog struct {
	mu   sync.Mutex
	cmds []ledger.Command
}

func (l *silentLog) Submit(_ context.Context, cmd ledger.Command, _ wire.Route) (wire.Position, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = append(l.cmds, cmd)
	return wire.Position{}, nil
}

func (l *silentLog) Ping(context.Context) error { return nil }

func (l *silentLog) submitted() []ledger.Command {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ledger.Command(nil), l.cmds...)
}

// TestFloodIsBounded floods one instance whose commands are never decided
// with maxWaiting+extra concurrent deposits: maxWaiting wait, exactly extra
// are refused with 503 overloaded and Retry-After, and none of those is
// produced. Once the waiting ones are answered, the instance takes commands
// again.
func TestFloodIsBounded(t *testing.T) {
	const maxWaiting, extra = 8, 5
	log := &silentLog{}
	s, ts := newScriptedServer(t, Config{MaxWaiting: maxWaiting, WaitBudget: 20 * time.Second}, emptyStore{}, log)

	answers := make([]answer, maxWaiting+extra)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = send(context.Background(), ts, "POST", "/v1/accounts/alice/deposits", `{"amount":1}`, HeaderIdempotencyKey, fmt.Sprintf("flood-%d", i))
		}()
	}
	// The refused requests are answered at once; the others wait for an
	// outcome that never comes until the test delivers it.
	waitForCond(t, 10*time.Second, func() bool { return len(log.submitted()) == maxWaiting && s.inflight.waiting() == maxWaiting })
	waitForCond(t, 10*time.Second, func() bool { return s.metricValue(t, "ordo_commands_overloaded_total") == extra })
	if got := s.inflight.waiting(); got != maxWaiting {
		t.Fatalf("got %d commands waiting, want %d", got, maxWaiting)
	}

	// A retry of a waiting command joins it: not refused, not produced again.
	first := log.submitted()[0]
	retry := make(chan answer, 1)
	go func() {
		retry <- send(context.Background(), ts, "POST", "/v1/accounts/alice/deposits", `{"amount":1}`, HeaderIdempotencyKey, keyOf(t, first.ID, maxWaiting+extra))
	}()
	waitForCond(t, 10*time.Second, func() bool { return waiters(s, first) == 2 })

	for _, cmd := range log.submitted() {
		s.Deliver(ledger.Outcome{CommandID: cmd.ID, Kind: cmd.Kind, AccountID: cmd.AccountID, Status: ledger.StatusApplied}, cmd.Fingerprint())
	}
	wg.Wait()
	refused := 0
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Fatalf("request %d: %v", i, a.err)
		case a.status == http.StatusOK:
		case a.status == http.StatusServiceUnavailable:
			refused++
			if code := a.doc["code"]; code != codeOverloaded {
				t.Errorf("request %d: got code %v, want %s", i, code, codeOverloaded)
			}
			if a.header.Get("Retry-After") == "" {
				t.Errorf("request %d: got 503 without Retry-After", i)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("request %d: got Content-Type %q, want application/problem+json", i, ct)
			}
		default:
			t.Errorf("request %d: got status %d, want 200 or 503", i, a.status)
		}
	}
	if refused != extra {
		t.Errorf("got %d requests refused, want %d", refused, extra)
	}
	if a := <-retry; a.status != http.StatusOK {
		t.Errorf("retry of a waiting command: got status %d (%v), want 200", a.status, a.doc)
	}
	if got := len(log.submitted()); got != maxWaiting {
		t.Errorf("got %d commands produced, want %d: refused commands reached the log", got, maxWaiting)
	}

	// Every slot is free again: a new command is taken.
	waitForCond(t, 10*time.Second, func() bool { return s.inflight.waiting() == 0 })
	done := make(chan answer, 1)
	go func() {
		done <- send(context.Background(), ts, "POST", "/v1/accounts/alice/deposits", `{"amount":1}`, HeaderIdempotencyKey, "after")
	}()
	waitForCond(t, 10*time.Second, func() bool { return len(log.submitted()) == maxWaiting+1 })
	cmd := log.submitted()[maxWaiting]
	s.Deliver(ledger.Outcome{CommandID: cmd.ID, Kind: cmd.Kind, AccountID: cmd.AccountID, Status: ledger.StatusApplied}, cmd.Fingerprint())
	if a := <-done; a.status != http.StatusOK {
		t.Errorf("after the flood: got status %d (%v), want 200", a.status, a.doc)
	}
}

// TestSlotHeldUntilSubmissionEnds: a client that hangs up while its command
// is being produced does not free its slot before the submission ends, so
// hung-up clients cannot pile up submissions beyond the bound.
func TestSlotHeldUntilSubmissionEnds(t *testing.T) {
	sub := &scriptedSubmitter{ackAfter: time.Hour} // never acknowledges; gives up at the produce timeout
	s, ts := newScriptedServer(t, Config{MaxWaiting: 1, ProduceTimeout: 2 * time.Second, WaitBudget: time.Second}, emptyStore{}, sub)

	ctx, cancel := context.WithCancel(context.Background())
	hungUp := make(chan answer, 1)
	go func() {
		hungUp <- send(ctx, ts, "POST", "/v1/accounts/alice/deposits", `{"amount":1}`, HeaderIdempotencyKey, "a")
	}()
	waitForCond(t, 10*time.Second, func() bool { return s.inflight.waiting() == 1 })
	cancel()
	<-hungUp
	waitForCond(t, 10*time.Second, func() bool { return !inTable(s, "a") })

	// The submission still runs: a different command is refused.
	a := send(context.Background(), ts, "POST", "/v1/accounts/alice/deposits", `{"amount":2}`, HeaderIdempotencyKey, "b")
	if a.status != http.StatusServiceUnavailable || a.doc["code"] != codeOverloaded {
		t.Fatalf("while a hung-up submission runs: got status %d (%v), want 503 overloaded", a.status, a.doc)
	}
	// Once it gave up, the slot is free.
	waitForCond(t, 10*time.Second, func() bool { return s.inflight.waiting() == 0 })
}

// inTable reports whether a call for alice's command with this key is in
// the inflight table.
func inTable(s *Server, key string) bool {
	s.inflight.mu.Lock()
	defer s.inflight.mu.Unlock()
	for k := range s.inflight.calls {
		if k.id == keyedCommandID("alice", key) {
			return true
		}
	}
	return false
}

// keyOf finds which of the keys flood-0 .. flood-(n-1) names command id.
func keyOf(t *testing.T, id string, n int) string {
	t.Helper()
	for i := range n {
		if k := fmt.Sprintf("flood-%d", i); keyedCommandID("alice", k) == id {
			return k
		}
	}
	t.Fatalf("no flood key names command %s", id)
	return ""
}

// metricValue reads one unlabelled metric from the server's /metrics.
func (s *Server) metricValue(t *testing.T, name string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", "/metrics", nil)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	for _, line := range strings.Split(string(body), "\n") {
		var v float64
		if strings.HasPrefix(line, name+" ") {
			if _, err := fmt.Sscanf(line[len(name)+1:], "%g", &v); err == nil {
				return v
			}
		}
	}
	return -1
}
