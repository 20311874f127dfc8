package client

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestHistoryReads(t *testing.T) {
	ctx := context.Background()
	t.Run("entries follow next", func(t *testing.T) {
		c, s, _ := newScripted(t, nil,
			step{status: 200, body: `{"entries":[{"version":1,"kind":"open_account","balance_after":0,"held_after":null},{"version":2,"kind":"deposit","amount":5,"balance_after":5,"held_after":0,"available_after":5}],"next":"c2"}`},
			step{status: 503, body: unavailable},
			step{status: 200, body: `{"entries":[{"version":3,"kind":"withdrawal","amount":-1,"balance_after":4,"counterparty":"bank:acme","metadata":{"k":"v"}}]}`})
		var got []int64
		for e, err := range c.Entries(ctx, "alice", EntriesQuery{Limit: 2}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.Version)
			if e.Version == 1 && e.HeldAfter != nil || e.Version == 2 && (*e.HeldAfter != 0 || *e.AvailableAfter != 5) ||
				e.Version == 3 && (e.Counterparty != "bank:acme" || string(e.Metadata) != `{"k":"v"}`) {
				t.Errorf("got entry %+v", e)
			}
		}
		if !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("got versions %v, want 1, 2, 3", got)
		}
		r := s.requests()
		if len(r) != 3 || r[0].path != "/v1/accounts/alice/entries" || r[0].query != "limit=2" || r[2].query != "after=c2&limit=2" {
			t.Errorf("got %+v, want the first page, then after=c2 (once more after the 503)", r)
		}
	})
	t.Run("entries newest first", func(t *testing.T) {
		c, s, _ := newScripted(t, nil,
			step{status: 200, body: `{"entries":[{"version":9}],"next":"c9"}`},
			step{status: 200, body: `{"entries":[{"version":8}]}`})
		var got []int64
		for e, err := range c.Entries(ctx, "alice", EntriesQuery{Desc: true, Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.Version)
		}
		if r := s.requests(); !slices.Equal(got, []int64{9, 8}) || len(r) != 2 || r[0].query != "limit=1&order=desc" || r[1].query != "before=c9&limit=1&order=desc" {
			t.Fatalf("got %v after %+v, want 9, 8 with before=c9", got, r)
		}
	})
	t.Run("entries error ends the iteration", func(t *testing.T) {
		c, _, _ := newScripted(t, nil, step{status: 404, body: `{"status":404,"code":"account_not_found"}`})
		n := 0
		for _, err := range c.Entries(ctx, "nobody", EntriesQuery{}) {
			n++
			if !errors.Is(err, ErrAccountNotFound) {
				t.Fatalf("got %v, want ErrAccountNotFound", err)
			}
		}
		if n != 1 {
			t.Fatalf("got %d yields, want the error once", n)
		}
	})
	t.Run("account at a version", func(t *testing.T) {
		c, s, _ := newScripted(t, nil, step{status: 200, body: `{"account":{"id":"alice","currency":"USD","balance":30,"held":null,"version":3,"recorded_at":"2026-11-30T12:03:00Z"}}`})
		a, err := c.AccountAt(ctx, "alice", 3)
		if err != nil || a.Version != 3 || a.Balance != 30 || a.Held != nil || !a.RecordedAt.Equal(time.Date(2026, 11, 30, 12, 3, 0, 0, time.UTC)) {
			t.Fatalf("got %+v %v, want version 3", a, err)
		}
		if r := s.requests()[0]; r.path != "/v1/accounts/alice" || r.query != "version=3" {
			t.Errorf("got %s?%s, want version=3", r.path, r.query)
		}
	})
	t.Run("account as of", func(t *testing.T) {
		c, s, _ := newScripted(t, nil, step{status: 404, body: `{"status":404,"code":"account_not_yet_open"}`})
		at := time.Date(2026, 11, 30, 13, 0, 0, 5, time.FixedZone("", 3600))
		if _, err := c.AccountAsOf(ctx, "alice", at); !errors.Is(err, ErrAccountNotYetOpen) {
			t.Fatalf("got %v, want ErrAccountNotYetOpen", err)
		}
		if r := s.requests()[0]; r.query != "as_of=2026-11-30T13%3A00%3A00.000000005%2B01%3A00" {
			t.Errorf("got %s, want as_of in RFC 3339 with its offset", r.query)
		}
	})
	t.Run("version not found", func(t *testing.T) {
		c, _, _ := newScripted(t, nil, step{status: 404, body: `{"status":404,"code":"version_not_found"}`})
		if _, err := c.AccountAt(ctx, "alice", 99); !errors.Is(err, ErrVersionNotFound) {
			t.Fatalf("got %v, want ErrVersionNotFound", err)
		}
	})
	t.Run("accounts", func(t *testing.T) {
		c, s, _ := newScripted(t, nil, step{status: 200, body: `{"accounts":[{"id":"alice","balance":5,"version":2}],"next":"alice"}`})
		page, err := c.Accounts(ctx, AccountsQuery{Prefix: "al", Limit: 1, After: "aa"})
		if err != nil || len(page.Accounts) != 1 || page.Accounts[0].ID != "alice" || page.Next != "alice" {
			t.Fatalf("got %+v %v, want alice and the next cursor", page, err)
		}
		if r := s.requests()[0]; r.path != "/v1/accounts" || r.query != "after=aa&limit=1&prefix=al" {
			t.Errorf("got %s?%s, want the query", r.path, r.query)
		}
	})
	t.Run("counterparty", func(t *testing.T) {
		c, s, _ := newScripted(t, nil, step{status: 200, body: `{"name":"bank:acme","balances":[{"currency":"USD","balance":-30,"entries":2}],"entries":2}`})
		doc, err := c.Counterparty(ctx, "bank:acme")
		if err != nil || doc.Entries != 2 || len(doc.Balances) != 1 || doc.Balances[0].Balance != -30 {
			t.Fatalf("got %+v %v, want USD -30 over 2 entries", doc, err)
		}
		if r := s.requests()[0]; r.path != "/v1/counterparties/bank:acme" {
			t.Errorf("got %s, want /v1/counterparties/bank:acme", r.path)
		}
	})
	t.Run("counterparty not found", func(t *testing.T) {
		c, _, _ := newScripted(t, nil, step{status: 404, body: `{"status":404,"code":"counterparty_not_found"}`})
		if _, err := c.Counterparty(ctx, "nobody"); !errors.Is(err, ErrCounterpartyNotFound) {
			t.Fatalf("got %v, want ErrCounterpartyNotFound", err)
		}
	})
}
