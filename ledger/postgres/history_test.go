package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

// historyDB is a fresh migrated database, with a store on it and a pool to
// write rows the way the journal does, without depending on the writer.
func historyDB(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	s, url := newStoreURL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return s, pool
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

var histT0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// journal writes an account of n deposits of 10 each, version v created at
// histT0 + v minutes. Versions up to legacy have only balance_after, as rows
// written before migration 0008.
func journal(t *testing.T, pool *pgxpool.Pool, id string, n, legacy int) {
	t.Helper()
	exec(t, pool, `INSERT INTO accounts (id, currency, balance, held, version) VALUES ($1, 'USD', $2, 3, $3)`, id, 10*n, n)
	exec(t, pool, `INSERT INTO entries (account_id, version, command_id, kind, amount, balance_after, created_at)
		SELECT $1, v, $1 || '-c' || v, 'deposit', 10, 10 * v, $2::timestamptz + v * interval '1 minute' FROM generate_series(1, $3) v`,
		id, histT0, n)
	exec(t, pool, `UPDATE entries SET counterparty = 'bank:acme', reference = 'ref-' || version, metadata = json_build_object('n', version::text),
		status_after = 'active', held_after = 3, in_flight_after = 0, overdraft_limit_after = 5
		WHERE account_id = $1 AND version > $2`, id, legacy)
}

func versions(es []ledger.JournalEntry) []int64 {
	var vs []int64
	for _, e := range es {
		vs = append(vs, e.Version)
	}
	return vs
}

func TestEntriesPages(t *testing.T) {
	s, pool := historyDB(t)
	journal(t, pool, "alice", 7, 2)
	journal(t, pool, "bob", 2, 0)
	exec(t, pool, `INSERT INTO accounts (id, currency, balance, version) VALUES ('empty', 'USD', 0, 1)`)
	ctx := context.Background()

	tests := []struct {
		name string
		q    ledger.EntryQuery
		want []int64
		more bool
	}{
		{"first page", ledger.EntryQuery{Limit: 3}, []int64{1, 2, 3}, true},
		{"middle page", ledger.EntryQuery{After: 3, Limit: 3}, []int64{4, 5, 6}, true},
		{"last page", ledger.EntryQuery{After: 6, Limit: 3}, []int64{7}, false},
		{"exactly the rest", ledger.EntryQuery{After: 4, Limit: 3}, []int64{5, 6, 7}, false},
		{"newest first", ledger.EntryQuery{Desc: true, Limit: 3}, []int64{7, 6, 5}, true},
		{"newest first, before", ledger.EntryQuery{Desc: true, Before: 5, Limit: 3}, []int64{4, 3, 2}, true},
		{"between", ledger.EntryQuery{After: 2, Before: 5, Limit: 10}, []int64{3, 4}, false},
		{"after the newest", ledger.EntryQuery{After: 7, Limit: 10}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := s.Entries(ctx, "alice", tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(versions(got), tt.want) || more != tt.more {
				t.Fatalf("got %v more=%v, want %v more=%v", versions(got), more, tt.want, tt.more)
			}
		})
	}

	got, _, err := s.Entries(ctx, "alice", ledger.EntryQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	legacy, full := got[1], got[2]
	if legacy.HeldAfter != nil || legacy.AvailableAfter != nil || legacy.StatusAfter != nil || legacy.Metadata != nil ||
		legacy.BalanceAfter != 20 || legacy.CommandID != "alice-c2" || legacy.Kind != ledger.KindDeposit || !legacy.CreatedAt.Equal(histT0.Add(2*time.Minute)) {
		t.Fatalf("legacy entry: got %+v, want balance 20, no state after", legacy)
	}
	var meta map[string]string
	if full.HeldAfter == nil || *full.HeldAfter != 3 || *full.AvailableAfter != 27 || *full.StatusAfter != ledger.AccountActive ||
		*full.OverdraftLimitAfter != 5 || *full.InFlightAfter != 0 || full.Counterparty != "bank:acme" || full.Reference != "ref-3" ||
		json.Unmarshal(full.Metadata, &meta) != nil || meta["n"] != "3" {
		t.Fatalf("entry 3: got %+v metadata %s, want held 3, available 27, active, bank:acme, ref-3, {n:3}", full, full.Metadata)
	}

	if _, _, err := s.Entries(ctx, "nobody", ledger.EntryQuery{Limit: 10}); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("unknown account: got %v, want ErrNotFound", err)
	}
	if got, more, err := s.Entries(ctx, "empty", ledger.EntryQuery{Limit: 10}); err != nil || len(got) != 0 || more {
		t.Fatalf("account without entries: got %v %v %v, want an empty page", got, more, err)
	}
}

func TestAccountAtVersionAndTime(t *testing.T) {
	s, pool := historyDB(t)
	journal(t, pool, "alice", 37, 0)
	// Two entries in one transaction share their time.
	exec(t, pool, `UPDATE entries SET created_at = $1::timestamptz + interval '20 minutes' WHERE account_id = 'alice' AND version = 21`, histT0)
	ctx := context.Background()

	a, err := s.AccountAtVersion(ctx, "alice", 5)
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != 5 || a.Balance != 50 || *a.Held != 3 || *a.Available != 47 || a.Currency != "USD" || *a.Status != ledger.AccountActive ||
		*a.OverdraftLimit != 5 || !a.RecordedAt.Equal(histT0.Add(5*time.Minute)) {
		t.Fatalf("version 5: got %+v, want balance 50, held 3, available 47", a)
	}
	for _, v := range []int64{0, 38} {
		if _, err := s.AccountAtVersion(ctx, "alice", v); !errors.Is(err, ledger.ErrNotInHistory) {
			t.Fatalf("version %d: got %v, want ErrNotInHistory", v, err)
		}
	}
	if _, err := s.AccountAtVersion(ctx, "nobody", 1); !errors.Is(err, ledger.ErrNotFound) || errors.Is(err, ledger.ErrNotInHistory) {
		t.Fatalf("unknown account: got %v, want ErrNotFound alone", err)
	}

	// Every second from before the first entry to after the last: the
	// newest version created at or before it.
	for at := histT0; at.Before(histT0.Add(40 * time.Minute)); at = at.Add(30 * time.Second) {
		want := int64(0)
		for v := int64(1); v <= 37; v++ {
			created := histT0.Add(time.Duration(v) * time.Minute)
			if v == 21 {
				created = histT0.Add(20 * time.Minute)
			}
			if !created.After(at) {
				want = v
			}
		}
		got, err := s.AccountAsOf(ctx, "alice", at)
		switch {
		case want == 0 && !errors.Is(err, ledger.ErrNotInHistory):
			t.Fatalf("as of %s: got %+v %v, want ErrNotInHistory", at, got, err)
		case want != 0 && (err != nil || got.Version != want || got.Balance != 10*want):
			t.Fatalf("as of %s: got version %d balance %d (%v), want version %d", at, got.Version, got.Balance, err, want)
		}
	}
	if _, err := s.AccountAsOf(ctx, "nobody", histT0); !errors.Is(err, ledger.ErrNotFound) || errors.Is(err, ledger.ErrNotInHistory) {
		t.Fatalf("unknown account as of: got %v, want ErrNotFound alone", err)
	}
}

func TestAccountsList(t *testing.T) {
	s, pool := historyDB(t)
	// In byte order; a language collation (en_US) would interleave these,
	// ignoring punctuation and case.
	ids := []string{"A1", "Ab", "a-b", "a.c", "a:z", "aB", "a_d", "ab", "ab-1", "ab1", "abc", "b"}
	if !slices.IsSorted(ids) {
		t.Fatal("ids must be in byte order")
	}
	for _, id := range ids {
		exec(t, pool, `INSERT INTO accounts (id, currency, balance, held, version) VALUES ($1, 'EUR', 7, 2, 1)`, id)
	}
	ctx := context.Background()
	list := func(prefix string, limit int) []string {
		t.Helper()
		var got []string
		after := ""
		for range 100 {
			page, more, err := s.Accounts(ctx, prefix, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page {
				got = append(got, a.ID)
				if a.Available != 5 || a.Currency != "EUR" || a.Version != 1 {
					t.Fatalf("got %+v, want EUR, available 5, version 1", a)
				}
			}
			if !more {
				return got
			}
			after = page[len(page)-1].ID
		}
		t.Fatal("too many pages")
		return nil
	}
	for _, tt := range []struct {
		prefix string
		want   []string
	}{
		{"", ids},
		{"a", []string{"a-b", "a.c", "a:z", "aB", "a_d", "ab", "ab-1", "ab1", "abc"}},
		{"ab", []string{"ab", "ab-1", "ab1", "abc"}},
		{"a-", []string{"a-b"}},
		{"A", []string{"A1", "Ab"}},
		{"c", nil},
	} {
		for _, limit := range []int{1, 2, 50} {
			if got := list(tt.prefix, limit); !slices.Equal(got, tt.want) {
				t.Fatalf("prefix %q, pages of %d: got %v, want %v", tt.prefix, limit, got, tt.want)
			}
		}
	}
	if got, _, _ := s.Accounts(ctx, "a", "ab", 50); !slices.Equal(accountIDs(got), []string{"ab-1", "ab1", "abc"}) {
		t.Fatalf("after ab: got %v", accountIDs(got))
	}
}

func accountIDs(as []ledger.Account) []string {
	var ids []string
	for _, a := range as {
		ids = append(ids, a.ID)
	}
	return ids
}

func TestCounterpartyBalances(t *testing.T) {
	s, pool := historyDB(t)
	for i, r := range []struct {
		cp, cur string
		amount  int64
	}{{"bank:acme", "USD", -100}, {"bank:acme", "USD", -50}, {"bank:acme", "EUR", 30}, {"bank:acme", "USD", 20}, {"external", "USD", -7}} {
		exec(t, pool, `INSERT INTO external_entries (account_id, version, counterparty, currency, amount, command_id) VALUES ('alice', $1, $2, $3, $4, 'c')`,
			i+1, r.cp, r.cur, r.amount)
	}
	got, err := s.Counterparty(context.Background(), "bank:acme")
	want := []ledger.CounterpartyBalance{{Currency: "EUR", Balance: 30, Entries: 1}, {Currency: "USD", Balance: -130, Entries: 3}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v %v, want %v", got, err, want)
	}
	if _, err := s.Counterparty(context.Background(), "bank:none"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("unknown counterparty: got %v, want ErrNotFound", err)
	}
}

// TestHistoryQueriesUseIndexes EXPLAINs every history statement on tables
// of 100k+ rows, with the plan Postgres would cache for any parameters
// (generic) and with planned-for-these-parameters (custom) ones: none reads
// a whole table.
func TestHistoryQueriesUseIndexes(t *testing.T) {
	_, pool := historyDB(t)
	ctx := context.Background()
	exec(t, pool, `INSERT INTO accounts (id, currency, balance, version) SELECT 'acct-' || i, 'USD', 0, 1 FROM generate_series(1, 100000) i`)
	exec(t, pool, `INSERT INTO accounts (id, currency, balance, version) VALUES ('hot', 'USD', 0, 150000)`)
	exec(t, pool, `INSERT INTO entries (account_id, version, command_id, kind, amount, balance_after, created_at)
		SELECT 'hot', v, 'c' || v, 'deposit', 1, v, $1::timestamptz + v * interval '1 second' FROM generate_series(1, 150000) v`, histT0)
	exec(t, pool, `INSERT INTO entries (account_id, version, command_id, kind, amount, balance_after)
		SELECT 'acct-' || i, 1, 'o' || i, 'open_account', 0, 0 FROM generate_series(1, 100000) i`)
	exec(t, pool, `INSERT INTO external_entries (account_id, version, counterparty, currency, amount, command_id)
		SELECT 'hot', v, 'bank:' || (v % 1000), 'USD', -1, 'c' || v FROM generate_series(1, 150000) v`)
	exec(t, pool, `ANALYZE accounts, entries, external_entries`)

	args := map[string]string{
		"entries asc":        `'hot', 100, 200, 51`,
		"entries desc":       `'hot', 0, 9000, 51`,
		"account at version": `'hot', 77`,
		"account as of":      `'hot', '2026-11-30T12:16:40Z'`,
		"entry":              `'hot', 77`,
		"accounts":           `'acct-12', 'acct-12', 'acct-13', 51`,
		"counterparty":       `'bank:7'`,
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for name, sql := range postgres.HistoryQueries {
		for _, mode := range []string{"force_generic_plan", "force_custom_plan"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				if _, err := conn.Exec(ctx, `SET plan_cache_mode = `+mode); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(ctx, `PREPARE q AS `+sql); err != nil {
					t.Fatal(err)
				}
				defer conn.Exec(ctx, `DEALLOCATE q`) //nolint:errcheck
				rows, err := conn.Query(ctx, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE q(`+args[name]+`)`)
				if err != nil {
					t.Fatal(err)
				}
				var plan []string
				for rows.Next() {
					var line string
					if err := rows.Scan(&line); err != nil {
						t.Fatal(err)
					}
					plan = append(plan, line)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				text := strings.Join(plan, "\n")
				t.Logf("%s (%s):\n%s", name, mode, text)
				if strings.Contains(text, "Seq Scan") || !strings.Contains(text, "Index") {
					t.Fatalf("%s reads a table without an index:\n%s", name, text)
				}
			})
		}
	}
}
