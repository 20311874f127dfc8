package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/bench"
)

func TestRoundOrder(t *testing.T) {
	for _, tc := range []struct {
		n, round int
		want     []int
	}{
		{3, 0, []int{0, 1, 2}},
		{3, 1, []int{2, 1, 0}},
		{3, 2, []int{0, 1, 2}},
		{1, 1, []int{0}},
	} {
		if got := roundOrder(tc.n, tc.round); !slices.Equal(got, tc.want) {
			t.Errorf("roundOrder(%d, %d) = %v, want %v", tc.n, tc.round, got, tc.want)
		}
	}
}

// TestCompareAnalyzesAfterSetup: ordo bench --compare analyzes each
// system's database after the accounts are set up, so no run depends on
// when autovacuum first gets to a fresh database.
func TestCompareAnalyzesAfterSetup(t *testing.T) {
	ctx := context.Background()
	pgURL := pg.NewDatabase(t)
	f := benchFlags{clients: 2, duration: 300 * time.Millisecond, timeout: 10 * time.Second, accounts: 20, withdrawPct: 50, hot: 8, baselineConns: 4}
	res, err := runSystem(ctx, "rowlock", pgURL, f, bench.Uniform, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Audit.OK || res.Applied == 0 {
		t.Fatalf("got audit %+v, %d applied", res.Audit, res.Applied)
	}
	cfg, err := pgx.ParseConfig(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = "bench_rowlock"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// last_analyze is a manual ANALYZE's (autovacuum's is last_autoanalyze).
	var analyzed bool
	waitFor(t, 10*time.Second, func() bool {
		err := conn.QueryRow(ctx, `SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'accounts'`).Scan(&analyzed)
		return err == nil && analyzed
	})
	var tuples float32
	if err := conn.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE relname = 'accounts'`).Scan(&tuples); err != nil || tuples != 20 {
		t.Fatalf("accounts has reltuples %v (%v), want 20: analyzed after setup", tuples, err)
	}
}
