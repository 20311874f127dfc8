package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

// TestSessionsPlanEveryExecution: a store's sessions plan each execution of
// a prepared statement for its parameters, so a plan chosen while the
// tables were small (a new or restored database) never sticks: no statement
// that reads a growing table runs a generic plan. Only a batch's writes
// that read no such table (inserts from unnest, the statements on
// consumer_partitions) run their cached generic plan, and they do, in both
// ways of applying a batch (the locked way without the cache, the cached
// way with it). The database URL can still ask for Postgres's default,
// which switches the reads to generic plans too (the cold-start trap).
func TestSessionsPlanEveryExecution(t *testing.T) {
	tests := []struct {
		name        string
		query       string // added to the database URL
		cache       int    // Options.CacheAccounts
		wantGeneric bool   // statements that read growing tables ran generic plans
	}{
		{"default, locked way", "", -1, false},
		{"default, cached way", "", 0, false},
		{"url sets plan_cache_mode=auto", "plan_cache_mode=auto", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			url := withQuery(pg.NewDatabase(t), tt.query)
			// One connection, so that every statement is prepared on the
			// session the check reads.
			s := openStore(t, url, postgres.Options{MaxConns: 1, CacheAccounts: tt.cache})
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			c := claim(t, s, 1, "m1")
			off := int64(0)
			next := func(id string, cmd ledger.Command) ledger.Record {
				off++
				return rec(off, id, cmd)
			}
			apply(t, s, c, next("open-a", open("a")), next("open-b", open("b")))
			for i := range 12 {
				apply(t, s, c,
					next(fmt.Sprintf("dep-a-%d", i), deposit("a", 10)),
					next(fmt.Sprintf("dep-b-%d", i), deposit("b", 10)))
			}
			plans, err := s.GenericPlans(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var reads []string
			generic := map[string]bool{}
			for stmt := range plans {
				stmt = strings.Join(strings.Fields(stmt), " ")
				switch {
				case strings.HasPrefix(stmt, "INSERT INTO entries"):
					generic["entries"] = true
				case strings.HasPrefix(stmt, "INSERT INTO commands"):
					generic["commands"] = true
				case strings.Contains(stmt, "UPDATE consumer_partitions"):
					generic["offsets"] = true
				case strings.HasPrefix(stmt, "INSERT INTO") && strings.Contains(stmt, "unnest"),
					strings.Contains(stmt, "consumer_partitions"):
				default:
					reads = append(reads, stmt)
				}
			}
			if got := len(reads) > 0; got != tt.wantGeneric {
				t.Errorf("statements reading growing tables that ran generic plans: %q; want some: %v", reads, tt.wantGeneric)
			}
			if !tt.wantGeneric && len(generic) != 3 {
				t.Errorf("batch writes that ran their generic plan: %v; want the entries and commands inserts and the offsets update (all: %v)", generic, plans)
			}
			if got, err := s.Setting(ctx, "plan_cache_mode"); err != nil || (got == "force_custom_plan") == tt.wantGeneric {
				t.Errorf("plan_cache_mode: got %q, %v", got, err)
			}
		})
	}
}

// TestBatchUpdateUsesTheIndex: the batched account update finds a batch's
// accounts through the primary key, not by scanning accounts, on a table of
// 10,000 accounts loaded in bulk and never analyzed, for batches as large as
// 64 clients make. The server's default random_page_cost (4) makes it scan.
func TestBatchUpdateUsesTheIndex(t *testing.T) {
	tests := []struct {
		name     string
		query    string // added to the database URL
		wantScan bool
	}{
		{"default", "", false},
		{"url sets random_page_cost=4", "random_page_cost=4", true},
	}
	url := pg.NewDatabase(t)
	ctx := context.Background()
	setup := openStore(t, url, postgres.Options{MaxConns: 1})
	if _, err := setup.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := setup.Exec(ctx, `INSERT INTO accounts (id, currency, balance, held, overdraft_limit, version, status, in_flight)
		SELECT 'acct-' || g, 'USD', 0, 0, 0, 1, 'active', 0 FROM generate_series(1, 10000) g`); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = fmt.Sprintf("acct-%d", 1+i*150)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, withQuery(url, tt.query), postgres.Options{MaxConns: 1})
			plan, err := s.ExplainAccountUpdate(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(plan, "Seq Scan on accounts"); got != tt.wantScan {
				t.Errorf("scans accounts: %v, want %v; plan:\n%s", got, tt.wantScan, plan)
			}
		})
	}
}

// withQuery adds the query parameters q (a=b&c=d, or "") to a database URL.
func withQuery(url, q string) string {
	switch {
	case q == "":
		return url
	case strings.Contains(url, "?"):
		return url + "&" + q
	default:
		return url + "?" + q
	}
}
