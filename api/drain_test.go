package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// TestDrainRefusesNewCommandsAndAnswersInFlight: once draining, /readyz
// answers 503 and a new command is refused before it is submitted, while a
// command already in flight still gets its outcome.
func TestDrainRefusesNewCommandsAndAnswersInFlight(t *testing.T) {
	sub := &scriptedSubmitter{}
	s, ts := newScriptedServer(t, Config{WaitBudget: 5 * time.Second}, emptyStore{}, sub)
	ctx := context.Background()
	inFlight := make(chan answer, 1)
	go func() {
		inFlight <- send(ctx, ts, "POST", "/v1/accounts/alice/withdrawals", `{"amount":10}`, HeaderIdempotencyKey, "k")
	}()
	waitForCond(t, 5*time.Second, func() bool { return len(sub.submitted()) == 1 })

	s.Drain()
	if got := send(ctx, ts, "GET", "/readyz", ""); got.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining: got %d %v, want 503", got.status, got.doc)
	}
	got := send(ctx, ts, "POST", "/v1/accounts/alice/deposits", `{"amount":5}`, HeaderIdempotencyKey, "new")
	if got.status != http.StatusServiceUnavailable || got.doc["code"] != codeUnavailable || got.doc["command_id"] != nil {
		t.Errorf("new command while draining: got %d %v, want 503 unavailable without a command ID", got.status, got.doc)
	}
	if got.header.Get("Retry-After") == "" {
		t.Errorf("got no Retry-After, want one")
	}
	if n := len(sub.submitted()); n != 1 {
		t.Errorf("got %d submissions, want only the one in flight", n)
	}

	w := withdrawal("k", 10)
	s.Deliver(ledger.Outcome{CommandID: w.ID, Kind: w.Kind, AccountID: "alice", Status: ledger.StatusApplied,
		Account: &ledger.Account{ID: "alice", Currency: "USD", Balance: 90, Available: 90, Version: 3}}, w.Fingerprint())
	if got := <-inFlight; got.status != http.StatusOK || got.doc["status"] != "applied" {
		t.Fatalf("in flight: got %d %v %v, want 200 applied", got.status, got.doc, got.err)
	}
}
