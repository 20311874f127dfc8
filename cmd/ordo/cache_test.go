package main

import (
	"net/http"
	"testing"
)

// TestCacheAnswersKeyedRetries: identical keyed POSTs, each a record of
// its own in the log, are applied once and answered with the first one's
// outcome from the partition owner's cache: no batch falls back to the
// locked way.
func TestCacheAnswersKeyedRetries(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.OpsAddr = "127.0.0.1:0"
	base := e.startAPI()
	c, _ := e.startConsumer()
	e.waitClaimed()
	openAccount(t, base, "retry-1", 100)
	var first response
	for i := range 5 {
		r := post(t, base+"/v1/accounts/retry-1/withdrawals", `{"amount":30}`, map[string]string{"Idempotency-Key": "pay-1"})
		if i == 0 {
			first = r
		}
		if r.Status != http.StatusOK || r.CommandID != first.CommandID || r.Account == nil || r.Account.Balance != 70 || r.Account.Version != 3 {
			t.Fatalf("POST %d: got %d %s, want 200 with balance 70 at version 3 and command %s", i, r.Status, r.Raw, first.CommandID)
		}
	}
	if r := post(t, base+"/v1/accounts/retry-1/withdrawals", `{"amount":31}`, map[string]string{"Idempotency-Key": "pay-1"}); r.Code != "idempotency_key_reused" {
		t.Fatalf("the same key for another amount: got %d %s, want idempotency_key_reused", r.Status, r.Raw)
	}
	r := do(t, http.MethodGet, "http://"+c.OpsAddr()+"/metrics", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", r.Status, r.Raw)
	}
	if got := metricValue(t, string(r.Raw), "ordo_consumer_batch_fallbacks_total"); got != 0 {
		t.Errorf("got %v fallbacks, want 0", got)
	}
	if bal, ver := e.balance("retry-1"); bal != 70 || ver != 3 {
		t.Fatalf("got balance %d version %d, want 70 and 3: applied once", bal, ver)
	}
}
