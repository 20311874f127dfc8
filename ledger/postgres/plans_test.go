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
// runs a generic plan. The database URL can still ask for Postgres's
// default, which does switch to generic plans (the cold-start trap).
func TestSessionsPlanEveryExecution(t *testing.T) {
	tests := []struct {
		name        string
		query       string // added to the database URL
		wantGeneric bool
	}{
		{"default", "", false},
		{"url sets plan_cache_mode=auto", "plan_cache_mode=auto", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			url := withQuery(pg.NewDatabase(t), tt.query)
			// One connection, so that every statement is prepared on the
			// session the check reads; no cache, so that every batch
			// reads its accounts and prior outcomes from the tables.
			s := openStore(t, url, postgres.Options{MaxConns: 1, CacheAccounts: -1})
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
			if got := len(plans) > 0; got != tt.wantGeneric {
				t.Errorf("statements that ran generic plans: %v; want some: %v", plans, tt.wantGeneric)
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
