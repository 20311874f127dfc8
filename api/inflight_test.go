package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// scriptedSubmitter acknowledges every command after ackAfter (or fails it
// when its context ends first) and never decides one: the test plays the
// consumer and delivers outcomes itself.
type scriptedSubmitter struct {
	ackAfter time.Duration
	mu       sync.Mutex
	cmds     []ledger.Command
}

func (s *scriptedSubmitter) Submit(ctx context.Context, cmd ledger.Command, _ wire.Route) (wire.Position, error) {
	select {
	case <-time.After(s.ackAfter):
	case <-ctx.Done():
		return wire.Position{}, errors.Join(ctx.Err(), ledger.ErrUnavailable)
	}
	s.mu.Lock()
	s.cmds = append(s.cmds, cmd)
	s.mu.Unlock()
	return wire.Position{}, nil
}

func (s *scriptedSubmitter) Ping(context.Context) error { return nil }

func (s *scriptedSubmitter) submitted() []ledger.Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ledger.Command(nil), s.cmds...)
}

// emptyStore has decided nothing yet.
type emptyStore struct{ noHolds }

func (emptyStore) Account(context.Context, string) (ledger.Account, error) {
	return ledger.Account{}, ledger.ErrNotFound
}
func (emptyStore) Outcome(context.Context, string) (ledger.Outcome, []byte, error) {
	return ledger.Outcome{}, nil, ledger.ErrNotFound
}
func (emptyStore) Ping(context.Context) error { return nil }

func newScriptedServer(t *testing.T, cfg Config, store Store, sub Submitter) (*Server, *httptest.Server) {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	s := New(cfg, store, sub)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

// answer is what a test request got.
type answer struct {
	status int
	header http.Header
	doc    map[string]any
	err    error
}

func send(ctx context.Context, ts *httptest.Server, method, path, body string, header ...string) answer {
	req, err := http.NewRequestWithContext(ctx, method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{Timeout: 20 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, header: res.Header}
	_ = json.Unmarshal(raw, &a.doc)
	return a
}

// waitForCond polls cond every 10ms until it holds, failing the test after
// timeout.
func waitForCond(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waiters is how many requests wait on the call for a command.
func waiters(s *Server, cmd ledger.Command) int {
	s.inflight.mu.Lock()
	defer s.inflight.mu.Unlock()
	if c := s.inflight.calls[callKey{cmd.ID, string(cmd.Fingerprint())}]; c != nil {
		return c.waiters
	}
	return 0
}

func withdrawal(key string, amount int64) ledger.Command {
	return ledger.Command{ID: keyedCommandID("alice", key), Kind: ledger.KindWithdrawal, AccountID: "alice", Amount: amount}
}

// TestReplyAnswersOnlyItsOwnRequest is issue 11's sequence: a keyed
// withdrawal of 20 gets 202 while its partition is slow; a second request
// with the same key and amount 25 is submitted; the consumer applies the
// first and refuses the second as idempotency_key_reused. The first's reply
// must not answer the second request.
func TestReplyAnswersOnlyItsOwnRequest(t *testing.T) {
	sub := &scriptedSubmitter{}
	s, ts := newScriptedServer(t, Config{WaitBudget: time.Second}, emptyStore{}, sub)
	ctx := context.Background()

	first := send(ctx, ts, "POST", "/v1/accounts/alice/withdrawals", `{"amount":20}`, HeaderIdempotencyKey, "order-7")
	if first.status != http.StatusAccepted {
		t.Fatalf("first request: got %d %v %v, want 202", first.status, first.doc, first.err)
	}

	second := make(chan answer, 1)
	go func() {
		second <- send(ctx, ts, "POST", "/v1/accounts/alice/withdrawals", `{"amount":25}`, HeaderIdempotencyKey, "order-7")
	}()
	waitForCond(t, 5*time.Second, func() bool { return len(sub.submitted()) == 2 })

	// The consumer's replies, in log order, each carrying the fingerprint
	// of the record it answers.
	w20, w25 := withdrawal("order-7", 20), withdrawal("order-7", 25)
	if w20.ID != first.doc["command_id"] {
		t.Fatalf("got command ID %v, want %s", first.doc["command_id"], w20.ID)
	}
	s.Deliver(ledger.Outcome{CommandID: w20.ID, Kind: w20.Kind, AccountID: "alice", Status: ledger.StatusApplied,
		Account: &ledger.Account{ID: "alice", Currency: "USD", Balance: 80, Available: 80, Version: 3}}, w20.Fingerprint())
	s.Deliver(ledger.Outcome{CommandID: w25.ID, Kind: w25.Kind, AccountID: "alice", Status: ledger.StatusRejected,
		Code: ledger.CodeIdempotencyMismatch, Detail: "this command ID was already used for a different request"}, w25.Fingerprint())

	got := <-second
	if got.status != http.StatusUnprocessableEntity || got.doc["code"] != string(ledger.CodeIdempotencyMismatch) {
		t.Fatalf("second request (amount 25): got %d %v %v, want 422 idempotency_key_reused", got.status, got.doc, got.err)
	}
}

// TestDifferentRequestsWithOneKeyEachGetTheirVerdict: two requests with one
// key and different bodies in flight at once are both submitted, and each
// gets the consumer's verdict on its own record, whichever came first.
func TestDifferentRequestsWithOneKeyEachGetTheirVerdict(t *testing.T) {
	sub := &scriptedSubmitter{}
	s, ts := newScriptedServer(t, Config{WaitBudget: 5 * time.Second}, emptyStore{}, sub)
	ctx := context.Background()
	w20, w25 := withdrawal("k", 20), withdrawal("k", 25)
	answers := map[int64]chan answer{20: make(chan answer, 1), 25: make(chan answer, 1)}
	for amount, ch := range answers {
		go func() {
			ch <- send(ctx, ts, "POST", "/v1/accounts/alice/withdrawals", fmt.Sprintf(`{"amount":%d}`, amount), HeaderIdempotencyKey, "k")
		}()
	}
	waitForCond(t, 5*time.Second, func() bool { return len(sub.submitted()) == 2 })
	// The 25 reached the log first.
	s.Deliver(ledger.Outcome{CommandID: w25.ID, Kind: w25.Kind, AccountID: "alice", Status: ledger.StatusApplied,
		Account: &ledger.Account{ID: "alice", Currency: "USD", Balance: 75, Available: 75, Version: 3}}, w25.Fingerprint())
	s.Deliver(ledger.Outcome{CommandID: w20.ID, Kind: w20.Kind, AccountID: "alice", Status: ledger.StatusRejected,
		Code: ledger.CodeIdempotencyMismatch}, w20.Fingerprint())
	if got := <-answers[25]; got.status != http.StatusOK || got.doc["status"] != "applied" {
		t.Errorf("amount 25: got %d %v %v, want 200 applied", got.status, got.doc, got.err)
	}
	if got := <-answers[20]; got.status != http.StatusUnprocessableEntity || got.doc["code"] != string(ledger.CodeIdempotencyMismatch) {
		t.Errorf("amount 20: got %d %v %v, want 422 idempotency_key_reused", got.status, got.doc, got.err)
	}
}

// TestLeaderHangUpKeepsSharedWait: when the first of two requests with one
// Idempotency-Key hangs up before the outcome arrives, the second still
// gets the outcome when it does, not a 202 after its whole budget.
func TestLeaderHangUpKeepsSharedWait(t *testing.T) {
	sub := &scriptedSubmitter{}
	s, ts := newScriptedServer(t, Config{WaitBudget: 5 * time.Second}, emptyStore{}, sub)
	w := withdrawal("k", 10)

	leaderCtx, hangUp := context.WithCancel(context.Background())
	leader := make(chan answer, 1)
	go func() {
		leader <- send(leaderCtx, ts, "POST", "/v1/accounts/alice/withdrawals", `{"amount":10}`, HeaderIdempotencyKey, "k")
	}()
	waitForCond(t, 5*time.Second, func() bool { return len(sub.submitted()) == 1 })
	follower := make(chan answer, 1)
	go func() {
		follower <- send(context.Background(), ts, "POST", "/v1/accounts/alice/withdrawals", `{"amount":10}`, HeaderIdempotencyKey, "k")
	}()
	waitForCond(t, 5*time.Second, func() bool { return waiters(s, w) == 2 })

	hangUp()
	if got := <-leader; got.err == nil {
		t.Fatalf("leader: got %d, want its hang-up", got.status)
	}
	waitForCond(t, 5*time.Second, func() bool { return waiters(s, w) != 2 }) // the leader's handler is gone

	s.Deliver(ledger.Outcome{CommandID: w.ID, Kind: w.Kind, AccountID: "alice", Status: ledger.StatusApplied,
		Account: &ledger.Account{ID: "alice", Currency: "USD", Balance: 90, Available: 90, Version: 3}}, w.Fingerprint())
	if got := <-follower; got.status != http.StatusOK || got.doc["status"] != "applied" {
		t.Fatalf("follower: got %d %v %v, want 200 applied", got.status, got.doc, got.err)
	}
	if n := len(sub.submitted()); n != 1 {
		t.Errorf("got %d submissions, want 1 shared", n)
	}
}

// TestLeaderHangUpDuringProduceKeepsSubmission: a leader that hangs up
// while the broker has not acknowledged yet does not cancel the submission
// its followers wait on.
func TestLeaderHangUpDuringProduceKeepsSubmission(t *testing.T) {
	sub := &scriptedSubmitter{ackAfter: 300 * time.Millisecond}
	s, ts := newScriptedServer(t, Config{WaitBudget: 5 * time.Second}, emptyStore{}, sub)
	w := withdrawal("k", 10)

	leaderCtx, hangUp := context.WithCancel(context.Background())
	leader := make(chan answer, 1)
	go func() {
		leader <- send(leaderCtx, ts, "POST", "/v1/accounts/alice/withdrawals", `{"amount":10}`, HeaderIdempotencyKey, "k")
	}()
	waitForCond(t, 5*time.Second, func() bool { return waiters(s, w) == 1 })
	follower := make(chan answer, 1)
	go func() {
		follower <- send(context.Background(), ts, "POST", "/v1/accounts/alice/withdrawals", `{"amount":10}`, HeaderIdempotencyKey, "k")
	}()
	waitForCond(t, 5*time.Second, func() bool { return waiters(s, w) == 2 })
	hangUp()
	<-leader

	waitForCond(t, 5*time.Second, func() bool { return len(sub.submitted()) == 1 }) // acknowledged despite the hang-up
	s.Deliver(ledger.Outcome{CommandID: w.ID, Kind: w.Kind, AccountID: "alice", Status: ledger.StatusApplied,
		Account: &ledger.Account{ID: "alice", Currency: "USD", Balance: 90, Available: 90, Version: 3}}, w.Fingerprint())
	if got := <-follower; got.status != http.StatusOK || got.doc["status"] != "applied" {
		t.Fatalf("follower: got %d %v %v, want 200 applied", got.status, got.doc, got.err)
	}
}
