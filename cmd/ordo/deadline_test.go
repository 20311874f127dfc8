package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/wire"
)

// TestAcceptedThenExpired: a command answered 202 while no consumer runs is
// pending with its deadline; when a consumer reaches it after the deadline
// it is refused as expired, moves no money, and a retry with its key gets
// the same refusal. The client that got the 202 learns for certain that it
// never applied.
func TestAcceptedThenExpired(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.WaitBudget = 300 * time.Millisecond
	e.opts.ProduceTimeout = time.Second
	e.opts.CommandDeadline = 3 * time.Second
	a := e.startAPI()
	_, stop := e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 100)
	stop()

	key := map[string]string{"Idempotency-Key": "late-withdrawal"}
	r := post(t, a+"/v1/accounts/alice/withdrawals", `{"amount":40}`, key)
	if r.Status != http.StatusAccepted || r.State != "pending" {
		t.Fatalf("got %d %s, want 202 pending", r.Status, r.Raw)
	}
	var accepted struct {
		Deadline time.Time `json:"deadline"`
	}
	if err := json.Unmarshal(r.Raw, &accepted); err != nil || accepted.Deadline.IsZero() {
		t.Fatalf("got %s, want a deadline in the 202 (%v)", r.Raw, err)
	}
	if left := time.Until(accepted.Deadline); left <= 0 || left > e.opts.CommandDeadline {
		t.Fatalf("got a deadline %s from now, want within the configured %s", left, e.opts.CommandDeadline)
	}
	loc := a + r.Header.Get("Location")
	if g := do(t, http.MethodGet, loc, "", nil); g.Status != http.StatusOK || g.State != "pending" {
		t.Fatalf("got %d %s before the deadline, want 200 pending", g.Status, g.Raw)
	}
	waitFor(t, 10*time.Second, func() bool { return time.Now().After(accepted.Deadline.Add(100 * time.Millisecond)) })

	e.startConsumer()
	waitFor(t, 60*time.Second, func() bool {
		g := do(t, http.MethodGet, loc, "", nil)
		return g.Status == http.StatusOK && g.Code == "expired"
	})
	var stored string
	if err := e.pool.QueryRow(context.Background(), `SELECT code FROM commands WHERE command_id = $1`, r.CommandID).Scan(&stored); err != nil || stored != "expired" {
		t.Fatalf("got stored code %q (%v), want expired", stored, err)
	}
	if bal, _ := e.balance("alice"); bal != 100 {
		t.Fatalf("got balance %d, want 100: an expired withdrawal moves nothing", bal)
	}
	if again := post(t, a+"/v1/accounts/alice/withdrawals", `{"amount":40}`, key); again.Status != http.StatusConflict || again.Code != "expired" {
		t.Fatalf("retry: got %d %s, want 409 expired", again.Status, again.Raw)
	}
	e.auditLedger()
}

// TestForeignRecordDeadlines: records from other Kafka clients expire too:
// at the deadline their envelope names, or, without one, at the record's
// timestamp plus the default deadline.
func TestForeignRecordDeadlines(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.WaitBudget = time.Second
	e.opts.CommandDeadline = 30 * time.Second
	a := e.startAPI()
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 10)

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...), kgo.DefaultProduceTopic(e.opts.CommandsTopic), kgo.RecordPartitioner(wire.Partitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now()
	deposit := func(id string, amount int, deadline string, ts time.Time) *kgo.Record {
		v := fmt.Sprintf(`{"v":1,"kind":"deposit","account_id":"alice","amount":%d%s}`, amount, deadline)
		return &kgo.Record{Key: []byte("alice"), Value: []byte(v), Timestamp: ts, Headers: []kgo.RecordHeader{{Key: wire.HeaderCommandID, Value: []byte(id)}}}
	}
	recs := []*kgo.Record{
		deposit("past-deadline", 1, `,"deadline":"`+now.Add(-time.Second).UTC().Format(time.RFC3339)+`"`, now),
		deposit("future-deadline", 2, `,"deadline":"`+now.Add(time.Hour).UTC().Format(time.RFC3339)+`"`, now.Add(-time.Hour)),
		deposit("old-record", 4, "", now.Add(-time.Minute)),
		deposit("fresh-record", 8, "", now),
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"past-deadline": "expired", "future-deadline": "", "old-record": "expired", "fresh-record": ""}
	for id, code := range want {
		waitFor(t, 30*time.Second, func() bool {
			g := do(t, http.MethodGet, a+"/v1/commands/"+id, "", nil)
			return g.Status == http.StatusOK && g.Code == code
		})
	}
	if bal, _ := e.balance("alice"); bal != 20 {
		t.Fatalf("got balance %d, want 20: only the records within their deadlines apply", bal)
	}
	e.auditLedger()
}
