package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// TestCompareRunsGeneratorProcess: ordo bench --compare runs the load
// generator as "ordo bench --url" in a process of its own and reads its
// result back; no database is analyzed unless --analyze, which analyzes it
// once the accounts are set up. --in-process runs the generator here.
func TestCompareRunsGeneratorProcess(t *testing.T) {
	for _, tc := range []struct {
		name               string
		inProcess, analyze bool
	}{
		{"child process", false, false},
		{"child process, --analyze", false, true},
		{"in process, --analyze", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pgURL := pg.NewDatabase(t)
			// The generator's binary is a script that notes its command
			// line, then runs ordo.
			dir := t.TempDir()
			argvFile := filepath.Join(dir, "argv")
			self := filepath.Join(dir, "ordo-wrapper")
			script := "#!/bin/sh\necho \"$@\" > " + argvFile + "\nexec " + ordoBin + " \"$@\"\n"
			if err := os.WriteFile(self, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			f := benchFlags{clients: 2, duration: 500 * time.Millisecond, timeout: 10 * time.Second, accounts: 20, withdrawPct: 50, hot: 8,
				baselineConns: 4, replayPct: 10, transport: bench.TransportStd, self: self, inProcess: tc.inProcess, analyze: tc.analyze}
			res, err := runSystem(ctx, "rowlock", pgURL, f, bench.Uniform, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Audit.OK || res.Applied == 0 || res.Replays == 0 || res.Name != "rowlock" || len(res.Windows) != 1 {
				t.Fatalf("got %s: audit %+v, %d applied, %d replays, windows %v", res.Name, res.Audit, res.Applied, res.Replays, res.Windows)
			}
			argv, err := os.ReadFile(argvFile)
			if tc.inProcess != (err != nil) {
				t.Fatalf("generator process command line: %q (%v); want one iff not in process", argv, err)
			}
			if !tc.inProcess {
				for _, want := range []string{"bench --url http://127.0.0.1:", "--clients 2 ", "--duration 500ms ", "--replay-percent 10 ", "--transport std ", "--name rowlock "} {
					if !strings.Contains(string(argv), want) {
						t.Errorf("generator command line %q lacks %q", argv, want)
					}
				}
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
			// last_analyze is a manual ANALYZE's (autovacuum's is
			// last_autoanalyze); the statistics collector reports it
			// within a moment.
			analyzed := func() bool {
				var ok bool
				err := conn.QueryRow(ctx, `SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'accounts'`).Scan(&ok)
				return err == nil && ok
			}
			if !tc.analyze {
				time.Sleep(500 * time.Millisecond)
				if analyzed() {
					t.Fatal("accounts was analyzed without --analyze")
				}
				return
			}
			waitFor(t, 10*time.Second, analyzed)
			var tuples float32
			if err := conn.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE relname = 'accounts'`).Scan(&tuples); err != nil || tuples != 20 {
				t.Fatalf("accounts has reltuples %v (%v), want 20: analyzed after setup", tuples, err)
			}
		})
	}
}

// TestBenchFlagsRefused: --preloaded cannot go with --compare (fresh, empty
// databases), and an opening balance is at least 1; both are refused before
// anything starts.
func TestBenchFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--compare", "--preloaded"}, "--preloaded cannot be used with --compare"},
		{[]string{"--url", "http://127.0.0.1:9", "--opening", "0"}, "--opening 0: want at least 1"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := benchCmd()
			cmd.SetArgs(tc.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestGeneratorArgs(t *testing.T) {
	sys := &system{url: "http://127.0.0.1:9", db: "postgres://db/bench_ordo"}
	base := benchFlags{clients: 64, duration: 20 * time.Second, timeout: 30 * time.Second, accounts: 10000, hot: 8, withdrawPct: 50, replayPct: 1, opening: 1_000_000, transport: "std"}
	withAll := base
	withAll.rate, withAll.runID, withAll.analyze, withAll.transport = 2500, "r1", true, "lean"
	for _, tc := range []struct {
		name    string
		f       benchFlags
		dist    bench.Distribution
		want    []string
		notWant []string
	}{
		{"defaults", base, bench.Uniform,
			[]string{"bench --url http://127.0.0.1:9 --clients 64 --duration 20s --timeout 30s --dist uniform --accounts 10000 --hot 8 --withdraw-percent 50 --replay-percent 1 --transport std --name ordo --account-prefix acct --json /tmp/r.json --opening 1000000"},
			[]string{"--rate", "--run-id", "--analyze"}},
		{"open loop, run id, analyze, lean", withAll, bench.Hot,
			[]string{"--dist hot", "--transport lean", "--rate 2500", "--run-id r1", "--analyze-database postgres://db/bench_ordo"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(generatorArgs(tc.f, "ordo", sys, tc.dist, "/tmp/r.json"), " ")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("got %q, want it to hold %q", got, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("got %q, want no %q", got, w)
				}
			}
		})
	}
	// Every flag given to the generator is one ordo bench has.
	fl := benchCmd().Flags()
	for _, a := range generatorArgs(withAll, "ordo", sys, bench.Hot, "/tmp/r.json")[1:] {
		if strings.HasPrefix(a, "--") && fl.Lookup(a[2:]) == nil {
			t.Errorf("generator flag %s: ordo bench has none", a)
		}
	}
}
