package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/client"
	"github.com/ordo-dev/ordo/ledger"
)

// TestHistory pages an account's journal through the real API while
// deposits are applied to it, and sees every version exactly once, in
// order; then reads the account at versions and times, lists accounts and
// reads a counterparty.
func TestHistory(t *testing.T) {
	e := newEnv(t, 2)
	e.startConsumer()
	base := e.startAPI()
	e.waitClaimed()
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	beforeOpen := time.Now().Add(-time.Second)
	for _, id := range []string{"hist", "hist-b", "hist-c", "other"} {
		if _, err := c.OpenAccount(ctx, id, "USD", 0); err != nil {
			t.Fatalf("open %s: %v", id, err)
		}
	}

	const writers, deposits = 4, 50
	var done atomic.Bool
	writeErr := make(chan error, 1)
	go func() {
		defer done.Store(true)
		concurrently(writers, func(w int) {
			for i := range deposits {
				if _, err := c.Deposit(ctx, "hist", int64(w*deposits+i+1)); err != nil {
					select {
					case writeErr <- err:
					default:
					}
					return
				}
			}
		})
	}()

	// Page forward in small pages while the deposits land. A short page
	// (no next) is read again, from the same cursor, until it fills up
	// or the writers are done.
	var seen []ledger.JournalEntry
	cursor := ""
	for {
		if ctx.Err() != nil {
			t.Fatalf("paging did not finish: %d entries seen", len(seen))
		}
		last := done.Load() // before the read: a page read after it is final
		page, err := c.EntriesPage(ctx, "hist", client.EntriesQuery{After: cursor, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		if page.Next != "" {
			seen, cursor = append(seen, page.Entries...), page.Next
			continue
		}
		if last {
			seen = append(seen, page.Entries...)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-writeErr:
		t.Fatalf("deposit: %v", err)
	default:
	}
	const total = 1 + writers*deposits
	balance := int64(0)
	commands := map[string]bool{}
	for i, en := range seen {
		balance += en.Amount
		if en.Version != int64(i+1) || en.BalanceAfter != balance || commands[en.CommandID] {
			t.Fatalf("entry %d: got version %d balance_after %d command %s, want version %d balance_after %d, each command once",
				i, en.Version, en.BalanceAfter, en.CommandID, i+1, balance)
		}
		commands[en.CommandID] = true
	}
	if len(seen) != total {
		t.Fatalf("got %d entries, want %d (1 open + %d deposits)", len(seen), total, writers*deposits)
	}

	// Newest first, through the iterator.
	var desc []int64
	for en, err := range c.Entries(ctx, "hist", client.EntriesQuery{Desc: true, Limit: 50}) {
		if err != nil {
			t.Fatal(err)
		}
		desc = append(desc, en.Version)
	}
	if len(desc) != total || desc[0] != total || desc[total-1] != 1 || !slices.IsSortedFunc(desc, func(a, b int64) int { return int(b - a) }) {
		t.Fatalf("newest first: got %d versions from %v, want %d down to 1", len(desc), desc[:min(3, len(desc))], total)
	}

	// The account at a version, and at times.
	at, err := c.AccountAt(ctx, "hist", 101)
	if err != nil || at.Version != 101 || at.Balance != seen[100].BalanceAfter || at.Currency != "USD" {
		t.Fatalf("version 101: got %+v %v, want balance %d", at, err, seen[100].BalanceAfter)
	}
	for _, v := range []int{1, 50, 150, total} {
		when := seen[v-1].CreatedAt
		got, err := c.AccountAsOf(ctx, "hist", when)
		// Entries of one transaction share their time: the newest of them.
		want := v
		for want < total && !seen[want].CreatedAt.After(when) {
			want++
		}
		if err != nil || got.Version != int64(want) || got.Balance != seen[want-1].BalanceAfter {
			t.Fatalf("as of entry %d's time %s: got %+v %v, want version %d", v, when, got, err, want)
		}
	}
	if _, err := c.AccountAsOf(ctx, "hist", beforeOpen); !errors.Is(err, client.ErrAccountNotYetOpen) {
		t.Fatalf("before it was opened: got %v, want ErrAccountNotYetOpen", err)
	}
	if _, err := c.AccountAt(ctx, "hist", total+1); !errors.Is(err, client.ErrVersionNotFound) {
		t.Fatalf("beyond the current version: got %v, want ErrVersionNotFound", err)
	}
	if cur, err := c.Account(ctx, "hist"); err != nil || cur.Version != total || cur.Balance != balance {
		t.Fatalf("current: got %+v %v, want version %d balance %d", cur, err, total, balance)
	}

	// Accounts by prefix, a page at a time.
	var ids []string
	for q := (client.AccountsQuery{Prefix: "hist", Limit: 1}); ; {
		page, err := c.Accounts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Accounts {
			ids = append(ids, a.ID)
		}
		if page.Next == "" || len(ids) > 10 {
			break
		}
		q.After = page.Next
	}
	if !slices.Equal(ids, []string{"hist", "hist-b", "hist-c"}) {
		t.Fatalf("prefix hist: got %v, want hist, hist-b, hist-c", ids)
	}

	// A counterparty's balances: the external sides the journal wrote for
	// a deposit from the bank and a withdrawal to it.
	for _, r := range []struct{ path, body string }{
		{"/v1/accounts/hist/deposits", `{"amount":40,"counterparty":"bank:acme"}`},
		{"/v1/accounts/hist/withdrawals", `{"amount":2,"counterparty":"bank:acme"}`},
	} {
		if res := post(t, base+r.path, r.body, nil); res.Status != http.StatusOK {
			t.Fatalf("POST %s %s: %d %s", r.path, r.body, res.Status, res.Raw)
		}
	}
	cp, err := c.Counterparty(ctx, "bank:acme")
	want := []ledger.CounterpartyBalance{{Currency: "USD", Balance: -38, Entries: 2}}
	if err != nil || cp.Entries != 2 || !slices.Equal(cp.Balances, want) {
		t.Fatalf("counterparty: got %+v %v, want %v", cp, err, want)
	}
	if _, err := c.Counterparty(ctx, "bank:nobody"); !errors.Is(err, client.ErrCounterpartyNotFound) {
		t.Fatalf("unknown counterparty: got %v, want ErrCounterpartyNotFound", err)
	}
}

// TestHistoryReadReplica: with --read-database-url the history reads, and
// only they, come from that database. Here it is an empty one, so they do
// not find the account the primary has.
func TestHistoryReadReplica(t *testing.T) {
	e := newEnv(t, 1)
	replica := pg.NewDatabase(t)
	if err := migrate(context.Background(), replica, e.log); err != nil {
		t.Fatal(err)
	}
	e.opts.ReadDatabaseURL = replica
	e.startConsumer()
	base := e.startAPI()
	e.waitClaimed()
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.OpenAccount(ctx, "alice", "USD", 0); err != nil {
		t.Fatal(err)
	}
	if a, err := c.Account(ctx, "alice"); err != nil || a.Version != 1 {
		t.Fatalf("current account, from the primary: got %+v %v", a, err)
	}
	if _, err := c.AccountAt(ctx, "alice", 1); !errors.Is(err, client.ErrAccountNotFound) {
		t.Fatalf("version 1, from the replica: got %v, want ErrAccountNotFound", err)
	}
	if _, err := c.EntriesPage(ctx, "alice", client.EntriesQuery{}); !errors.Is(err, client.ErrAccountNotFound) {
		t.Fatalf("entries, from the replica: got %v, want ErrAccountNotFound", err)
	}
	if page, err := c.Accounts(ctx, client.AccountsQuery{}); err != nil || len(page.Accounts) != 0 {
		t.Fatalf("accounts, from the replica: got %+v %v, want none", page, err)
	}
}

// TestHistoryTenantIsolation: a key limited to shop-a: reads only shop-a:
// history: another tenant's entries and past versions are refused, a list
// of every account is narrowed to its prefix and a list of another
// tenant's refused, and external counterparties (which sum every tenant's
// entries) need a key without an account limit.
func TestHistoryTenantIsolation(t *testing.T) {
	e := newEnv(t, 2)
	e.startConsumer()
	base := e.startAPI()
	for _, id := range []string{"shop-a:alice", "shop-b:carol"} {
		openAccount(t, base, id, 10)
	}
	shopA := withKey(e.createKey("shop-a", "read", "shop-a:"))
	for _, path := range []string{
		"/v1/accounts/shop-b:carol/entries",
		"/v1/accounts/shop-b:carol?version=1",
		"/v1/accounts?prefix=shop-b:",
		"/v1/counterparties/external",
	} {
		if r := do(t, http.MethodGet, base+path, "", shopA); r.Status != http.StatusForbidden {
			t.Errorf("GET %s with a shop-a: key: %d %s, want 403", path, r.Status, r.Raw)
		}
	}
	if r := do(t, http.MethodGet, base+"/v1/accounts/shop-a:alice/entries", "", shopA); r.Status != http.StatusOK {
		t.Errorf("own entries: %d %s", r.Status, r.Raw)
	}
	r := do(t, http.MethodGet, base+"/v1/accounts", "", shopA)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Raw), "shop-a:alice") || strings.Contains(string(r.Raw), "shop-b") {
		t.Errorf("list with a shop-a: key: %d %s, want shop-a: accounts only", r.Status, r.Raw)
	}
	if r := do(t, http.MethodGet, base+"/v1/counterparties/external", "", nil); r.Status != http.StatusOK {
		t.Errorf("counterparty with the admin key: %d %s", r.Status, r.Raw)
	}
}
