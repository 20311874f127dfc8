package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// holdDoc is the hold in an answer.
type holdDoc struct {
	ID        string    `json:"id"`
	Amount    int64     `json:"amount"`
	Captured  int64     `json:"captured"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expires_at"`
}

func holdOf(t testing.TB, r response) holdDoc {
	t.Helper()
	var doc struct {
		Hold holdDoc `json:"hold"`
	}
	if err := json.Unmarshal(r.Raw, &doc); err != nil || doc.Hold.ID == "" {
		t.Fatalf("got %d %s, want a hold in the answer", r.Status, r.Raw)
	}
	return doc.Hold
}

func (e *env) held(id string) (held int64) {
	e.t.Helper()
	if err := e.pool.QueryRow(context.Background(), `SELECT held FROM accounts WHERE id = $1`, id).Scan(&held); err != nil {
		e.t.Fatal(err)
	}
	return held
}

// TestConcurrentHolds: 100 concurrent holds of 10 on an account holding 250,
// through two API instances: exactly 25 are created, 75 refused, and all of
// the balance is held.
func TestConcurrentHolds(t *testing.T) {
	e := newEnv(t, 4)
	apis := []string{e.startAPI(), e.startAPI()}
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, apis[0], "loan", 250)
	var created, refused atomic.Int64
	concurrently(100, func(i int) {
		r := decided(t, apis[i%2]+"/v1/accounts/loan/holds", `{"amount":10}`, fmt.Sprintf("hold-%d", i), time.Now().Add(time.Minute))
		switch {
		case r.Status == http.StatusCreated:
			created.Add(1)
		case r.Status == http.StatusUnprocessableEntity && r.Code == "insufficient_funds":
			refused.Add(1)
		default:
			t.Errorf("hold %d: got %d %s", i, r.Status, r.Raw)
		}
	})
	g := do(t, http.MethodGet, apis[0]+"/v1/accounts/loan", "", nil)
	if created.Load() != 25 || refused.Load() != 75 || g.Account.Balance != 250 || g.Account.Available != 0 || e.held("loan") != 250 {
		t.Fatalf("got %d created, %d refused, %s; want 25, 75, balance 250 all held", created.Load(), refused.Load(), g.Raw)
	}
	e.auditLedger()
}

// TestConcurrentSettlements: 20 concurrent captures and releases of one
// hold: exactly one settles it; the others get 409 hold_not_open.
func TestConcurrentSettlements(t *testing.T) {
	e := newEnv(t, 2)
	apis := []string{e.startAPI(), e.startAPI()}
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, apis[0], "card", 100)
	h := holdOf(t, post(t, apis[0]+"/v1/accounts/card/holds", `{"amount":40}`, nil))
	var settled, refused atomic.Int64
	concurrently(20, func(i int) {
		action := "capture"
		if i%2 == 1 {
			action = "release"
		}
		r := decided(t, apis[i%2]+"/v1/accounts/card/holds/"+h.ID+"/"+action, ``, fmt.Sprintf("settle-%d", i), time.Now().Add(time.Minute))
		switch {
		case r.Status == http.StatusOK:
			settled.Add(1)
		case r.Status == http.StatusConflict && r.Code == "hold_not_open":
			refused.Add(1)
		default:
			t.Errorf("%s %d: got %d %s", action, i, r.Status, r.Raw)
		}
	})
	if settled.Load() != 1 || refused.Load() != 19 || e.held("card") != 0 {
		t.Fatalf("got %d settled, %d refused, held %d; want 1, 19, 0", settled.Load(), refused.Load(), e.held("card"))
	}
	if bal, _ := e.balance("card"); bal != 100 && bal != 60 {
		t.Fatalf("got balance %d, want 100 (released) or 60 (captured)", bal)
	}
	e.auditLedger()
}

// TestHoldExpires: a hold released by nobody expires within the bound with
// no traffic on its account. A capture whose record time is past the
// expiry is refused even when it reaches the log before the expiry command.
func TestHoldExpires(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.HoldExpiryInterval = time.Minute // no scan within the first part
	a := e.startAPI()
	_, stop := e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 100)
	h := holdOf(t, post(t, a+"/v1/accounts/alice/holds", `{"amount":30,"expires_in":"1s"}`, nil))
	waitFor(t, 10*time.Second, func() bool { return time.Now().After(h.ExpiresAt.Add(50 * time.Millisecond)) })
	r := post(t, a+"/v1/accounts/alice/holds/"+h.ID+"/capture", ``, nil)
	if r.Status != http.StatusConflict || r.Code != "hold_not_open" || holdOf(t, r).Status != "expired" {
		t.Fatalf("capture after the expiry: got %d %s, want 409 hold_not_open showing the hold expired", r.Status, r.Raw)
	}
	if held := e.held("alice"); held != 30 {
		t.Fatalf("got held %d before any expiry command, want 30 still held", held)
	}
	stop()

	// A consumer that scans: the hold is expired without any request.
	e.opts.HoldExpiryInterval = 200 * time.Millisecond
	e.startConsumer()
	started := time.Now()
	waitFor(t, 15*time.Second, func() bool { return e.held("alice") == 0 })
	t.Logf("expired %s after the consumer started (scan every %s)", time.Since(started).Round(time.Millisecond), e.opts.HoldExpiryInterval)
	g := do(t, http.MethodGet, a+"/v1/accounts/alice/holds/"+h.ID, "", nil)
	if got := holdOf(t, g); got.Status != "expired" || got.Captured != 0 {
		t.Fatalf("got %+v, want the hold expired with nothing captured", got)
	}
	if bal, _ := e.balance("alice"); bal != 100 {
		t.Fatalf("got balance %d, want 100: an expired hold moves nothing", bal)
	}
	e.auditLedger()
}

// TestHoldExpiresWithinBound: with the default scan interval, a hold with
// no traffic is expired within 5 s of its expiry.
func TestHoldExpiresWithinBound(t *testing.T) {
	e := newEnv(t, 2)
	a := e.startAPI()
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "bob", 50)
	h := holdOf(t, post(t, a+"/v1/accounts/bob/holds", `{"amount":50,"expires_in":"1s"}`, nil))
	waitFor(t, 15*time.Second, func() bool { return e.held("bob") == 0 })
	late := time.Since(h.ExpiresAt)
	t.Logf("expired %s after expires_at", late.Round(time.Millisecond))
	if late > 5*time.Second {
		t.Fatalf("got the hold expired %s after expires_at, want within 5s", late)
	}
}

// TestIfMatchConcurrent: 30 concurrent withdrawals carrying the same
// If-Match: exactly one applies, 29 get 412.
func TestIfMatchConcurrent(t *testing.T) {
	e := newEnv(t, 2)
	apis := []string{e.startAPI(), e.startAPI()}
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, apis[0], "acct", 300)
	etag := do(t, http.MethodGet, apis[0]+"/v1/accounts/acct", "", nil).Header.Get("ETag")
	var applied, failed atomic.Int64
	concurrently(30, func(i int) {
		r := post(t, apis[i%2]+"/v1/accounts/acct/withdrawals", `{"amount":10}`, map[string]string{"If-Match": etag})
		switch {
		case r.Status == http.StatusOK:
			applied.Add(1)
		case r.Status == http.StatusPreconditionFailed && r.Code == "precondition_failed":
			failed.Add(1)
		default:
			t.Errorf("withdrawal %d: got %d %s", i, r.Status, r.Raw)
		}
	})
	if bal, _ := e.balance("acct"); applied.Load() != 1 || failed.Load() != 29 || bal != 290 {
		t.Fatalf("got %d applied, %d refused, balance %d; want 1, 29, 290", applied.Load(), failed.Load(), bal)
	}
}

// TestHoldsSurviveConsumerKill: a consumer process is killed while holds are
// created and captured; afterwards the balance is the sum of the entries,
// held the sum of the open holds, and no hold was settled twice.
func TestHoldsSurviveConsumerKill(t *testing.T) {
	e := newEnv(t, 4)
	apis := []string{e.startAPI(), e.startAPI()}
	victim := e.startConsumerProcess()
	e.waitClaimed()
	accounts := []string{"h0", "h1", "h2", "h3"}
	for _, acc := range accounts {
		openAccount(t, apis[0], acc, 1000)
	}
	var done atomic.Int64
	killed := make(chan struct{})
	deadline := time.Now().Add(3 * time.Minute)
	concurrently(8, func(w int) {
		for i := range 10 {
			acc := accounts[(w+i)%len(accounts)]
			api := apis[(w+i)%2]
			key := fmt.Sprintf("w%d-%d", w, i)
			r := decided(t, api+"/v1/accounts/"+acc+"/holds", `{"amount":7}`, key+"-hold", deadline)
			if r.Status != http.StatusCreated {
				t.Errorf("hold %s: got %d %s", key, r.Status, r.Raw)
				return
			}
			if i%2 == 0 {
				id := holdOf(t, r).ID
				if c := decided(t, api+"/v1/accounts/"+acc+"/holds/"+id+"/capture", `{"amount":5}`, key+"-capture", deadline); c.Status != http.StatusOK {
					t.Errorf("capture %s: got %d %s", key, c.Status, c.Raw)
				}
			}
			if done.Add(1) == 30 {
				_ = victim.Process.Signal(syscall.SIGKILL)
				_, _ = victim.Process.Wait()
				e.startConsumerProcess()
				close(killed)
			}
		}
	})
	select {
	case <-killed:
	default:
		t.Fatal("the consumer was never killed")
	}
	var held, balance int64
	for _, acc := range accounts {
		b, _ := e.balance(acc)
		balance += b
		held += e.held(acc)
	}
	// 80 holds of 7, 40 of them captured for 5 (the other 2 released).
	if held != 40*7 || balance != 4*1000-40*5 {
		t.Fatalf("got held %d, balances %d; want %d held and %d", held, balance, 40*7, 4*1000-40*5)
	}
	e.auditLedger()
}
