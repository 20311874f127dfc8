package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// historyFake is a History over an in-memory journal: accounts with entries
// at versions 1..n, entry v created at base + v minutes.
type historyFake struct {
	base     time.Time
	journals map[string][]ledger.JournalEntry
	accounts []ledger.Account // in byte order
	cps      map[string][]ledger.CounterpartyBalance
}

func newHistoryFake() *historyFake {
	f := &historyFake{base: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), journals: map[string][]ledger.JournalEntry{},
		cps: map[string][]ledger.CounterpartyBalance{"bank:acme": {{Currency: "EUR", Balance: 5, Entries: 1}, {Currency: "USD", Balance: -300, Entries: 2}}}}
	for _, id := range []string{"alice", "alpha", "bob"} {
		f.accounts = append(f.accounts, ledger.Account{ID: id, Currency: "USD", Status: ledger.AccountActive, Version: 1})
	}
	held, status := int64(2), ledger.AccountFrozen
	for v := int64(1); v <= 5; v++ {
		e := ledger.JournalEntry{Version: v, CommandID: "c" + string(rune('0'+v)), Kind: ledger.KindDeposit, Amount: 10, BalanceAfter: 10 * v,
			CreatedAt: f.base.Add(time.Duration(v) * time.Minute)}
		if v > 1 { // entry 1 predates the state-after columns
			avail := e.BalanceAfter - held
			e.HeldAfter, e.AvailableAfter, e.StatusAfter, e.Counterparty, e.Metadata = &held, &avail, &status, "bank:acme", []byte(`{"k":"v"}`)
		}
		f.journals["alice"] = append(f.journals["alice"], e)
	}
	return f
}

func (f *historyFake) Entries(_ context.Context, id string, q ledger.EntryQuery) ([]ledger.JournalEntry, bool, error) {
	j, ok := f.journals[id]
	if !ok {
		return nil, false, ledger.ErrNotFound
	}
	var out []ledger.JournalEntry
	for _, e := range j {
		if e.Version > q.After && (q.Before == 0 || e.Version < q.Before) {
			out = append(out, e)
		}
	}
	if q.Desc {
		slices.Reverse(out)
	}
	if len(out) > q.Limit {
		return out[:q.Limit], true, nil
	}
	return out, false, nil
}

func (f *historyFake) AccountAtVersion(_ context.Context, id string, v int64) (ledger.AccountVersion, error) {
	j, ok := f.journals[id]
	if !ok {
		return ledger.AccountVersion{}, ledger.ErrNotFound
	}
	if v < 1 || v > int64(len(j)) {
		return ledger.AccountVersion{}, ledger.ErrNotInHistory
	}
	return ledger.AccountAt(id, "USD", j[v-1]), nil
}

func (f *historyFake) AccountAsOf(ctx context.Context, id string, t time.Time) (ledger.AccountVersion, error) {
	j, ok := f.journals[id]
	if !ok {
		return ledger.AccountVersion{}, ledger.ErrNotFound
	}
	v := int64(0)
	for _, e := range j {
		if !e.CreatedAt.After(t) {
			v = e.Version
		}
	}
	return f.AccountAtVersion(ctx, id, v)
}

func (f *historyFake) Accounts(_ context.Context, prefix, after string, limit int) ([]ledger.Account, bool, error) {
	var out []ledger.Account
	for _, a := range f.accounts {
		if strings.HasPrefix(a.ID, prefix) && a.ID > after {
			out = append(out, a)
		}
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func (f *historyFake) Counterparty(_ context.Context, name string) ([]ledger.CounterpartyBalance, error) {
	if b, ok := f.cps[name]; ok {
		return b, nil
	}
	return nil, ledger.ErrNotFound
}

func newHistoryServer(t *testing.T) *historyClient {
	t.Helper()
	f := newFake()
	f.accounts["alice"] = &ledger.Account{ID: "alice", Currency: "USD", Status: ledger.AccountActive, Balance: 50, Version: 5}
	_, ts := newScriptedServer(t, Config{History: newHistoryFake()}, f, f)
	return &historyClient{ts}
}

type historyClient struct{ ts *httptest.Server }

func (s *historyClient) get(t *testing.T, path string) answer {
	t.Helper()
	a := send(context.Background(), s.ts, "GET", path, "")
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a
}

func entryVersions(t *testing.T, doc map[string]any) []float64 {
	t.Helper()
	list, ok := doc["entries"].([]any)
	if !ok {
		t.Fatalf("got %v, want an entries list", doc)
	}
	var vs []float64
	for _, e := range list {
		vs = append(vs, e.(map[string]any)["version"].(float64))
	}
	return vs
}

func TestEntriesEndpoint(t *testing.T) {
	s := newHistoryServer(t)
	// Page through in both orders: every version once, in order.
	for _, order := range []string{"asc", "desc"} {
		t.Run(order, func(t *testing.T) {
			var got []float64
			cursor, param := "", "after"
			if order == "desc" {
				param = "before"
			}
			for range 10 {
				path := "/v1/accounts/alice/entries?limit=2&order=" + order
				if cursor != "" {
					path += "&" + param + "=" + url.QueryEscape(cursor)
				}
				a := s.get(t, path)
				if a.status != http.StatusOK {
					t.Fatalf("got %d %v, want 200", a.status, a.doc)
				}
				got = append(got, entryVersions(t, a.doc)...)
				next, _ := a.doc["next"].(string)
				if next == "" {
					break
				}
				cursor = next
			}
			want := []float64{1, 2, 3, 4, 5}
			if order == "desc" {
				slices.Reverse(want)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got versions %v, want %v", got, want)
			}
		})
	}

	a := s.get(t, "/v1/accounts/alice/entries")
	entries := a.doc["entries"].([]any)
	if _, has := a.doc["next"]; has || len(entries) != 5 {
		t.Fatalf("default page: got %v, want all 5 entries and no next", a.doc)
	}
	legacy, full := entries[0].(map[string]any), entries[1].(map[string]any)
	for _, k := range []string{"held_after", "available_after", "status_after", "metadata", "in_flight_after", "overdraft_limit_after"} {
		if v, has := legacy[k]; !has || v != nil {
			t.Errorf("entry 1: got %s %v, want null", k, v)
		}
	}
	if full["held_after"] != 2.0 || full["available_after"] != 18.0 || full["status_after"] != "frozen" || full["counterparty"] != "bank:acme" ||
		full["metadata"].(map[string]any)["k"] != "v" || full["created_at"] != "2026-11-30T12:02:00Z" || full["command_id"] != "c2" || full["kind"] != "deposit" {
		t.Errorf("entry 2: got %v", full)
	}

	// A cursor of another account, or none at all, is refused.
	bobs := encodeEntryCursor("bob", 2)
	for _, tt := range []struct{ query, field string }{
		{"after=" + bobs, "after"},
		{"before=" + bobs, "before"},
		{"after=garbage!", "after"},
		{"after=" + encodeEntryCursor("alice", 0), "after"},
		{"after=eyJ2IjoyLCJhIjoiYWxpY2UiLCJuIjoxfQ", "after"}, // format 2
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"limit=1e2", "limit"},
		{"order=up", "order"},
		{"since=1", "since"},
	} {
		if a := s.get(t, "/v1/accounts/alice/entries?"+tt.query); a.status != 400 || a.doc["code"] != "invalid_request" || a.doc["field"] != tt.field {
			t.Errorf("%s: got %d %v, want 400 invalid_request on %s", tt.query, a.status, a.doc, tt.field)
		}
	}
	if a := s.get(t, "/v1/accounts/alice/entries?limit=500&after="+encodeEntryCursor("alice", 4)); a.status != 200 || !slices.Equal(entryVersions(t, a.doc), []float64{5}) {
		t.Errorf("after 4: got %d %v, want entry 5", a.status, a.doc)
	}
	if a := s.get(t, "/v1/accounts/nobody/entries"); a.status != 404 || a.doc["code"] != "account_not_found" {
		t.Errorf("unknown account: got %d %v, want 404 account_not_found", a.status, a.doc)
	}
}

func TestAccountAtEndpoint(t *testing.T) {
	s := newHistoryServer(t)
	a := s.get(t, "/v1/accounts/alice?version=3")
	acc, _ := a.doc["account"].(map[string]any)
	if a.status != 200 || acc["version"] != 3.0 || acc["balance"] != 30.0 || acc["held"] != 2.0 || acc["available"] != 28.0 ||
		acc["status"] != "frozen" || acc["recorded_at"] != "2026-11-30T12:03:00Z" || a.header.Get("ETag") != "" {
		t.Fatalf("version 3: got %d %v ETag %q, want version 3, balance 30, no ETag", a.status, a.doc, a.header.Get("ETag"))
	}
	a = s.get(t, "/v1/accounts/alice?version=1")
	if acc := a.doc["account"].(map[string]any); acc["held"] != nil || acc["status"] != nil || acc["balance"] != 10.0 {
		t.Fatalf("version 1 (before state was recorded): got %v, want balance 10, held and status null", acc)
	}
	if a := s.get(t, "/v1/accounts/alice?as_of=2026-11-30T12:04:30Z"); a.status != 200 || a.doc["account"].(map[string]any)["version"] != 4.0 {
		t.Fatalf("as of 12:04:30: got %d %v, want version 4", a.status, a.doc)
	}
	if a := s.get(t, "/v1/accounts/alice?as_of=2026-11-30T14:01:00%2B02:00"); a.status != 200 || a.doc["account"].(map[string]any)["version"] != 1.0 {
		t.Fatalf("as of 12:01 UTC given in +02:00: got %d %v, want version 1", a.status, a.doc)
	}
	// The current state keeps its ETag and conditional answer.
	if a := s.get(t, "/v1/accounts/alice"); a.status != 200 || a.header.Get("ETag") != `"5"` {
		t.Fatalf("current: got %d ETag %q, want 200 \"5\"", a.status, a.header.Get("ETag"))
	}

	for _, tt := range []struct {
		query  string
		status int
		code   string
	}{
		{"version=6", 404, "version_not_found"},
		{"as_of=2026-11-30T12:00:59Z", 404, "account_not_yet_open"},
		{"version=0", 400, "invalid_request"},
		{"version=x", 400, "invalid_request"},
		{"version=", 400, "invalid_request"},
		{"as_of=yesterday", 400, "invalid_request"},
		{"as_of=2026-11-30", 400, "invalid_request"},
		{"version=2&as_of=2026-11-30T12:04:00Z", 400, "invalid_request"},
	} {
		if a := s.get(t, "/v1/accounts/alice?"+tt.query); a.status != tt.status || a.doc["code"] != tt.code {
			t.Errorf("%s: got %d %v, want %d %s", tt.query, a.status, a.doc, tt.status, tt.code)
		}
	}
	for _, q := range []string{"version=1", "as_of=2026-11-30T12:04:00Z"} {
		if a := s.get(t, "/v1/accounts/nobody?"+q); a.status != 404 || a.doc["code"] != "account_not_found" {
			t.Errorf("unknown account, %s: got %d %v, want 404 account_not_found", q, a.status, a.doc)
		}
	}
}

func TestAccountsEndpoint(t *testing.T) {
	s := newHistoryServer(t)
	var got []string
	after := ""
	for range 10 {
		a := s.get(t, "/v1/accounts?prefix=al&limit=1&after="+after)
		if a.status != 200 {
			t.Fatalf("got %d %v", a.status, a.doc)
		}
		for _, acc := range a.doc["accounts"].([]any) {
			got = append(got, acc.(map[string]any)["id"].(string))
		}
		next, _ := a.doc["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	if !slices.Equal(got, []string{"alice", "alpha"}) {
		t.Fatalf("prefix al: got %v, want alice, alpha", got)
	}
	if a := s.get(t, "/v1/accounts"); len(a.doc["accounts"].([]any)) != 3 {
		t.Fatalf("all: got %v, want 3 accounts", a.doc)
	}
	if a := s.get(t, "/v1/accounts?prefix=zz"); a.status != 200 || len(a.doc["accounts"].([]any)) != 0 {
		t.Fatalf("no match: got %d %v, want an empty list", a.status, a.doc)
	}
	for _, tt := range []struct{ query, field string }{
		{"prefix=a%20b", "prefix"},
		{"prefix=" + strings.Repeat("a", 65), "prefix"},
		{"after=a%2Fb", "after"},
		{"limit=501", "limit"},
		{"status=open", "status"},
	} {
		if a := s.get(t, "/v1/accounts?"+tt.query); a.status != 400 || a.doc["field"] != tt.field {
			t.Errorf("%s: got %d %v, want 400 on %s", tt.query, a.status, a.doc, tt.field)
		}
	}
}

func TestCounterpartyEndpoint(t *testing.T) {
	s := newHistoryServer(t)
	a := s.get(t, "/v1/counterparties/bank:acme")
	bs, _ := a.doc["balances"].([]any)
	if a.status != 200 || a.doc["name"] != "bank:acme" || a.doc["entries"] != 3.0 || len(bs) != 2 || bs[1].(map[string]any)["balance"] != -300.0 {
		t.Fatalf("got %d %v, want bank:acme with 3 entries, USD -300", a.status, a.doc)
	}
	if a := s.get(t, "/v1/counterparties/bank:none"); a.status != 404 || a.doc["code"] != "counterparty_not_found" {
		t.Fatalf("unknown: got %d %v, want 404 counterparty_not_found", a.status, a.doc)
	}
	if a := s.get(t, "/v1/counterparties/"+strings.Repeat("x", 129)); a.status != 400 || a.doc["field"] != "name" {
		t.Fatalf("long name: got %d %v, want 400 on name", a.status, a.doc)
	}
}

// TestHistoryRoutesNeedHistory: a server whose store has no history reads
// serves none of their routes, and the account route as before.
func TestHistoryRoutesNeedHistory(t *testing.T) {
	f := newFake()
	f.accounts["alice"] = &ledger.Account{ID: "alice", Currency: "USD", Version: 5}
	_, ts := newScriptedServer(t, Config{}, f, f)
	s := &historyClient{ts}
	if a := s.get(t, "/v1/accounts/alice/entries"); a.status != 404 || a.doc["code"] != "not_found" {
		t.Fatalf("entries: got %d %v, want 404 not_found", a.status, a.doc)
	}
	if a := s.get(t, "/v1/accounts/alice?version=1"); a.status != 200 || a.doc["account"].(map[string]any)["version"] != 5.0 {
		t.Fatalf("version=1 without history: got %d %v, want the current account", a.status, a.doc)
	}
}
