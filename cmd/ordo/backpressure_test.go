package main

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestFloodRefusedWhileConsumersStall: an API instance with --max-waiting 4
// whose consumers are stopped keeps 4 commands waiting; a flood of 20 more
// is refused at once with 503 overloaded and Retry-After, none of them
// reaches the commands topic, and the refusals are counted. Once a consumer
// runs again, the waiting commands are decided and new ones are taken.
func TestFloodRefusedWhileConsumersStall(t *testing.T) {
	const maxWaiting, flood = 4, 20
	e := newEnv(t, 2)
	e.opts.MaxWaiting = maxWaiting
	e.opts.WaitBudget = 10 * time.Second
	a := e.startAPI()
	_, stop := e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 0)
	stop() // the consumers stall: nothing is decided from here on

	before := e.logEndTotal()
	waiting := make(chan response, maxWaiting)
	for i := range maxWaiting {
		go func() {
			r, err := tryPost(a+"/v1/accounts/alice/deposits", `{"amount":1}`, fmt.Sprintf("wait-%d", i))
			if err != nil {
				t.Errorf("waiting request %d: %v", i, err)
			}
			waiting <- r
		}()
	}
	waitFor(t, 30*time.Second, func() bool { return apiMetric(t, a, "ordo_commands_waiting") == maxWaiting })
	waitFor(t, 30*time.Second, func() bool { return e.logEndTotal() == before+maxWaiting })

	concurrently(flood, func(i int) {
		r, err := tryPost(a+"/v1/accounts/alice/deposits", `{"amount":1}`, fmt.Sprintf("flood-%d", i))
		switch {
		case err != nil:
			t.Errorf("flood request %d: %v", i, err)
		case r.Status != http.StatusServiceUnavailable || r.Code != "overloaded":
			t.Errorf("flood request %d: got %d %s, want 503 overloaded", i, r.Status, r.Raw)
		case r.Header.Get("Retry-After") == "":
			t.Errorf("flood request %d: got 503 without Retry-After", i)
		}
	})
	if got := e.logEndTotal(); got != before+maxWaiting {
		t.Fatalf("got %d records on the commands topic, want %d: refused commands were produced", got-before, maxWaiting)
	}
	if got := apiMetric(t, a, "ordo_commands_overloaded_total"); got != flood {
		t.Errorf("got ordo_commands_overloaded_total %v, want %d", got, flood)
	}

	e.startConsumer()
	for range maxWaiting {
		if r := <-waiting; r.Status != http.StatusOK && r.Status != http.StatusAccepted {
			t.Errorf("waiting request: got %d %s, want 200 (or 202)", r.Status, r.Raw)
		}
	}
	if r := decided(t, a+"/v1/accounts/alice/deposits", `{"amount":1}`, "after", time.Now().Add(60*time.Second)); r.Status != http.StatusOK {
		t.Fatalf("after the stall: got %d %s, want 200", r.Status, r.Raw)
	}
	waitFor(t, 30*time.Second, func() bool { bal, _ := e.balance("alice"); return bal == maxWaiting+1 })
	e.auditLedger()
}

// apiMetric reads an unlabelled metric from an API instance's /metrics.
func apiMetric(t *testing.T, base, name string) float64 {
	t.Helper()
	res, err := httpClient.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	text, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return metricValue(t, string(text), name)
}
