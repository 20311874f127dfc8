package main

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestOutcomeRetention: with a (test-only, below the flag's floor)
// retention of a second, the consumer deletes old commands rows while it
// keeps applying; a pruned command answers 404, its entry stays, the
// watermark is recorded and verify stays clean.
func TestOutcomeRetention(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.outcomeRetentionTest = time.Second // --outcome-retention must be at least 24h
	a := e.startAPI()
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 0)
	first := post(t, a+"/v1/accounts/alice/deposits", `{"amount":10}`, map[string]string{"Idempotency-Key": "first"})
	if first.Status != http.StatusOK || first.CommandID == "" {
		t.Fatalf("deposit: got %d %s", first.Status, first.Raw)
	}
	ctx := context.Background()
	deposits := int64(0)
	started := time.Now()
	waitFor(t, 30*time.Second, func() bool {
		if r := post(t, a+"/v1/accounts/alice/deposits", `{"amount":1}`, nil); r.Status != http.StatusOK {
			t.Fatalf("deposit while pruning: got %d %s", r.Status, r.Raw)
		}
		deposits++
		var n int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM commands WHERE command_id = $1`, first.CommandID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	t.Logf("pruned %s after it was decided, %d deposits applied meanwhile", time.Since(started).Round(time.Millisecond), deposits)
	if bal, _ := e.balance("alice"); bal != 10+deposits {
		t.Fatalf("got balance %d, want %d", bal, 10+deposits)
	}
	var entries int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM entries WHERE command_id = $1`, first.CommandID).Scan(&entries); err != nil || entries != 1 {
		t.Fatalf("got %d entries of the pruned command (%v), want 1: the journal is kept", entries, err)
	}
	if r := do(t, http.MethodGet, a+"/v1/commands/"+first.CommandID, "", nil); r.Status != http.StatusNotFound {
		t.Fatalf("GET a pruned command: got %d %s, want 404", r.Status, r.Raw)
	}
	var marks int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM outcome_retention WHERE topic = $1`, e.opts.CommandsTopic).Scan(&marks); err != nil || marks == 0 {
		t.Fatalf("got %d watermarks (%v), want at least one", marks, err)
	}
	if out, err := e.verifyOrdo(); err != nil {
		t.Fatalf("verify after pruning: %v\n%s", err, out)
	}
}
