package main

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/client"
	"github.com/ordo-dev/ordo/ledger"
)

// TestClient drives the real API and consumer through package client:
// every command, reads, and a refusal as a typed error.
func TestClient(t *testing.T) {
	e := newEnv(t, 2)
	e.startConsumer()
	base := e.startAPI()
	e.waitClaimed()
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, id := range []string{"alice", "bob"} {
		res, err := c.OpenAccount(ctx, id, "USD", 0)
		if err != nil {
			t.Fatalf("open %s: %v", id, err)
		}
		if res.Status != ledger.StatusApplied || res.Location != "/v1/accounts/"+id {
			t.Fatalf("open %s: got %+v, want applied at /v1/accounts/%s", id, res, id)
		}
	}
	if _, err := c.OpenAccount(ctx, "alice", "USD", 0); !errors.Is(err, client.ErrAccountExists) {
		t.Fatalf("open alice again: got %v, want ErrAccountExists", err)
	}
	if res, err := c.Deposit(ctx, "alice", 100); err != nil || res.Account.Balance != 100 {
		t.Fatalf("deposit: got %+v %v, want balance 100", res, err)
	}
	if res, err := c.Withdraw(ctx, "alice", 10); err != nil || res.Account.Balance != 90 {
		t.Fatalf("withdraw: got %+v %v, want balance 90", res, err)
	}

	// A refusal is a *Problem, never retried into an application.
	_, err = c.Withdraw(ctx, "alice", 1000)
	var p *client.Problem
	if !errors.Is(err, client.ErrInsufficientFunds) || !errors.As(err, &p) {
		t.Fatalf("overdraw: got %v, want ErrInsufficientFunds as a *Problem", err)
	}
	if p.Status != http.StatusUnprocessableEntity || p.CommandID == "" || p.Account == nil || p.Account.Balance != 90 {
		t.Errorf("overdraw: got %+v, want 422 with the command and the account at 90", p)
	}

	// A hold, captured in part.
	held, err := c.CreateHold(ctx, "alice", 30, time.Hour)
	if err != nil || held.Hold == nil || held.Account.Available != 60 || held.Account.Held != 30 {
		t.Fatalf("hold: got %+v %v, want 30 held of 90", held, err)
	}
	got, err := c.Hold(ctx, "alice", held.Hold.ID)
	if err != nil || got.Status != ledger.HoldOpen || got.Amount != 30 {
		t.Fatalf("read hold: got %+v %v, want it open for 30", got, err)
	}
	page, err := c.Holds(ctx, "alice", client.HoldsQuery{Status: ledger.HoldOpen, Limit: 10})
	if err != nil || len(page.Holds) != 1 || page.Holds[0].ID != held.Hold.ID || page.Next != "" {
		t.Fatalf("list holds: got %+v %v, want the one open hold", page, err)
	}
	captured, err := c.CaptureHold(ctx, "alice", held.Hold.ID, 20)
	if err != nil || captured.Hold.Status != ledger.HoldCaptured || captured.Account.Balance != 70 || captured.Account.Held != 0 {
		t.Fatalf("capture: got %+v %v, want 20 captured, balance 70", captured, err)
	}
	if _, err := c.ReleaseHold(ctx, "alice", held.Hold.ID); !errors.Is(err, client.ErrHoldNotOpen) {
		t.Fatalf("release a captured hold: got %v, want ErrHoldNotOpen", err)
	}

	// Conditions: a stale version is refused, the current one applies.
	acc, err := c.Account(ctx, "alice")
	if err != nil || acc.Balance != 70 {
		t.Fatalf("read alice: got %+v %v, want balance 70", acc, err)
	}
	if _, err := c.Deposit(ctx, "alice", 1, client.IfMatch(acc.Version-1)); !errors.Is(err, client.ErrPreconditionFailed) {
		t.Fatalf("stale If-Match: got %v, want ErrPreconditionFailed", err)
	}
	if _, err := c.SetOverdraftLimit(ctx, "alice", 5, client.IfMatch(acc.Version)); err != nil {
		t.Fatalf("current If-Match: %v", err)
	}

	// An explicit key names one command: the same call twice applies once.
	for range 2 {
		if res, err := c.Deposit(ctx, "bob", 7, client.IdempotencyKey("bob-once")); err != nil || res.Account.Balance != 7 {
			t.Fatalf("keyed deposit: got %+v %v, want balance 7 once", res, err)
		}
	}

	// A transfer returns once final.
	tr, err := c.Transfer(ctx, client.TransferRequest{From: "alice", To: "bob", Amount: 20, Currency: "USD"})
	if err != nil || tr.Transfer == nil || tr.Transfer.Status != ledger.TransferCompleted {
		t.Fatalf("transfer: got %+v %v, want completed", tr, err)
	}
	doc, err := c.TransferByID(ctx, tr.Transfer.ID)
	if err != nil || doc.Status != ledger.TransferCompleted || len(doc.Legs) < 2 {
		t.Fatalf("read transfer: got %+v %v, want completed with its legs", doc, err)
	}
	out, err := c.Command(ctx, tr.CommandID)
	if err != nil || out.Status != ledger.StatusApplied || out.Kind != ledger.KindTransfer {
		t.Fatalf("read command: got %+v %v, want the applied transfer", out, err)
	}
	if _, err := c.Transfer(ctx, client.TransferRequest{From: "bob", To: "alice", Amount: 1000, Currency: "USD"}); !errors.Is(err, client.ErrInsufficientFunds) {
		t.Fatalf("overdrawing transfer: got %v, want ErrInsufficientFunds", err)
	}

	// The lifecycle.
	if _, err := c.Freeze(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Withdraw(ctx, "bob", 1); !errors.Is(err, client.ErrAccountFrozen) {
		t.Fatalf("withdraw from a frozen account: got %v, want ErrAccountFrozen", err)
	}
	if _, err := c.Unfreeze(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Close(ctx, "bob"); !errors.Is(err, client.ErrAccountNotEmpty) {
		t.Fatalf("close bob with 27: got %v, want ErrAccountNotEmpty", err)
	}
	if _, err := c.Withdraw(ctx, "bob", 27); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Close(ctx, "bob"); err != nil || res.Account.Status != ledger.AccountClosed {
		t.Fatalf("close bob: got %+v %v, want closed", res, err)
	}
	if _, err := c.Account(ctx, "carol"); !errors.Is(err, client.ErrAccountNotFound) {
		t.Fatalf("read carol: got %v, want ErrAccountNotFound", err)
	}
}

// countAccepted counts the 202 answers a client gets.
type countAccepted struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countAccepted) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(r)
	if err == nil && res.StatusCode == http.StatusAccepted {
		c.n.Add(1)
	}
	return res, err
}

// TestClientFollowsAccepted: with no consumer running, a command is
// answered 202; the client follows it and returns the outcome once a
// consumer starts.
func TestClientFollowsAccepted(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.WaitBudget = time.Second
	base := e.startAPI()
	rt := &countAccepted{next: http.DefaultTransport}
	c, err := client.New(base, client.WithHTTPClient(&http.Client{Transport: rt}), client.WithBackoff(100*time.Millisecond, 500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	type answer struct {
		res *client.Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := c.OpenAccount(ctx, "late", "USD", 0)
		done <- answer{res, err}
	}()
	waitFor(t, 30*time.Second, func() bool { return rt.n.Load() >= 2 })
	select {
	case a := <-done:
		t.Fatalf("got %+v %v before any consumer ran, want the call still following its 202", a.res, a.err)
	default:
	}
	e.startConsumer()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		t.Fatal("the call did not return")
	}
	if a.err != nil {
		t.Fatalf("got %v, want the account opened", a.err)
	}
	if a.res.Status != ledger.StatusApplied || a.res.Account == nil || a.res.Account.ID != "late" || a.res.Account.Version != 1 {
		t.Fatalf("got %+v, want the account opened once", a.res)
	}
	acc, err := c.Account(ctx, "late")
	if err != nil || acc.Version != 1 {
		t.Fatalf("got %+v %v, want version 1: opened once however often it was sent", acc, err)
	}
}
