package main

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRaceTwoAPIInstances is the bug Ordo exists for: balance 100, two API
// instances, 50 concurrent withdrawals of 10. Exactly 10 may succeed.
func TestRaceTwoAPIInstances(t *testing.T) {
	e := newEnv(t, 3)
	a, b := e.startAPI(), e.startAPI()
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 100)

	var (
		mu    sync.Mutex
		codes = map[string]int{}
	)
	concurrently(50, func(i int) {
		base := a
		if i%2 == 1 {
			base = b
		}
		r := post(t, base+"/v1/accounts/alice/withdrawals", `{"amount":10}`, nil)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Status == http.StatusOK && r.State == "applied":
			codes["applied"]++
		case r.Status == http.StatusUnprocessableEntity && r.Code == "insufficient_funds":
			codes["insufficient_funds"]++
			if r.CommandID == "" || r.Account == nil {
				t.Errorf("insufficient_funds problem without command_id or account: %s", r.Raw)
			}
		default:
			codes[fmt.Sprintf("%d %s", r.Status, r.Raw)]++
		}
	})
	if codes["applied"] != 10 || codes["insufficient_funds"] != 40 || len(codes) != 2 {
		t.Fatalf("got %v, want 10 applied and 40 insufficient_funds", codes)
	}
	if bal, ver := e.balance("alice"); bal != 0 || ver != 12 {
		t.Fatalf("got balance %d version %d, want 0 and 12 (open, deposit, 10 withdrawals)", bal, ver)
	}
	e.auditLedger()
}

// TestIdempotencyKeyConcurrent: 20 concurrent requests with one key, on two
// API instances, apply once and all get the same outcome.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	e := newEnv(t, 3)
	a, b := e.startAPI(), e.startAPI()
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 100)

	results := make([]response, 20)
	concurrently(len(results), func(i int) {
		base := a
		if i%2 == 1 {
			base = b
		}
		results[i] = post(t, base+"/v1/accounts/alice/withdrawals", `{"amount":30}`, map[string]string{"Idempotency-Key": "pay-42"})
	})
	first := results[0]
	for i, r := range results {
		if r.Status != http.StatusOK || r.CommandID != first.CommandID || r.Account == nil || r.Account.Version != 3 || r.Account.Balance != 70 {
			t.Errorf("request %d: got %d %s, want 200 with balance 70 at version 3 and command %s", i, r.Status, r.Raw, first.CommandID)
		}
	}
	if bal, ver := e.balance("alice"); bal != 70 || ver != 3 {
		t.Fatalf("got balance %d version %d, want 70 and 3: applied once", bal, ver)
	}
	// Later: the same key replays; with another body it is refused.
	if r := post(t, b+"/v1/accounts/alice/withdrawals", `{"amount":30}`, map[string]string{"Idempotency-Key": "pay-42"}); r.Status != http.StatusOK || r.CommandID != first.CommandID {
		t.Errorf("replay: got %d %s, want the original outcome", r.Status, r.Raw)
	}
	if r := post(t, a+"/v1/accounts/alice/withdrawals", `{"amount":31}`, map[string]string{"Idempotency-Key": "pay-42"}); r.Status != http.StatusUnprocessableEntity || r.Code != "idempotency_key_reused" {
		t.Errorf("same key, other body: got %d %s, want 422 idempotency_key_reused", r.Status, r.Raw)
	}
	if bal, _ := e.balance("alice"); bal != 70 {
		t.Fatalf("got balance %d after the replays, want 70", bal)
	}
	e.auditLedger()
}

// TestPerAccountOrder: commands sent one after another, through different
// API instances, apply in the order they were sent.
func TestPerAccountOrder(t *testing.T) {
	e := newEnv(t, 3)
	apis := []string{e.startAPI(), e.startAPI()}
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, apis[0], "alice", 0)
	for i := 1; i <= 30; i++ {
		path := "/v1/accounts/alice/deposits"
		if i%3 == 0 {
			path = "/v1/accounts/alice/withdrawals"
		}
		if r := post(t, apis[i%2]+path, fmt.Sprintf(`{"amount":%d}`, i), nil); r.Status != http.StatusOK {
			t.Fatalf("command %d: got %d %s", i, r.Status, r.Raw)
		}
	}
	rows, err := e.pool.Query(t.Context(), `SELECT abs(amount) FROM entries WHERE account_id = 'alice' AND version > 1 ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := int64(1)
	for rows.Next() {
		var got int64
		if err := rows.Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("entry %d: got amount %d, want %d: applied out of order", want, got, want)
		}
		want++
	}
	if want != 31 {
		t.Fatalf("got %d entries, want 30", want-1)
	}
	e.auditLedger()

	// The group's committed offsets follow the Postgres commits, so standard
	// lag tooling sees the partitions caught up.
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	waitFor(t, 30*time.Second, func() bool {
		lag, err := adm.Lag(t.Context(), e.opts.Group)
		if err != nil {
			return false
		}
		g := lag[e.opts.Group]
		return g.Error() == nil && g.Lag.Total() == 0 && len(g.Lag[e.opts.CommandsTopic]) > 0
	})
}

// TestScaleOutAndIn: 1 -> 3 -> 1 consumers while load runs; every command
// is applied exactly once.
func TestScaleOutAndIn(t *testing.T) {
	e := newEnv(t, 6)
	apis := []string{e.startAPI(), e.startAPI()}
	_, stop1 := e.startConsumer()
	e.waitClaimed()
	accounts := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"}
	for _, a := range accounts {
		openAccount(t, apis[0], a, 1000)
	}

	const workers, each = 6, 60
	var (
		scaled, shrunk sync.WaitGroup
		stopMore       []func()
		once           [2]sync.Once
	)
	scaled.Add(1)
	shrunk.Add(1)
	step := func(done int) {
		switch {
		case done >= 60:
			once[0].Do(func() {
				go func() {
					for i := 0; i < 2; i++ {
						_, stop := e.startConsumer()
						stopMore = append(stopMore, stop)
					}
					scaled.Done()
				}()
			})
			if done >= 180 {
				once[1].Do(func() {
					go func() {
						defer shrunk.Done()
						scaled.Wait()
						stop1()
						stopMore[0]()
					}()
				})
			}
		}
	}
	all := deposits(t, "load", apis, accounts, workers, each, time.Now().Add(4*time.Minute), step)
	shrunk.Wait()
	if len(all) != workers*each {
		t.Fatalf("sent %d commands, want %d", len(all), workers*each)
	}
	e.checkDeposits(all, accounts, 1000)
	// The one consumer left claims every partition once the group settles,
	// and still applies new commands.
	waitFor(t, 60*time.Second, func() bool {
		var owners int
		err := e.pool.QueryRow(t.Context(), `SELECT count(DISTINCT member) FROM consumer_partitions WHERE topic = $1`, e.opts.CommandsTopic).Scan(&owners)
		return err == nil && owners == 1
	})
	after := deposits(t, "after", apis, accounts, 2, 10, time.Now().Add(time.Minute), nil)
	e.checkDeposits(append(all, after...), accounts, 1000)
	var claims int
	if err := e.pool.QueryRow(t.Context(), `SELECT sum(epoch) FROM consumer_partitions WHERE topic = $1`, e.opts.CommandsTopic).Scan(&claims); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d commands applied exactly once across 1 -> 3 -> 1 consumers (%d partition claims)", len(all)+len(after), claims)
}
