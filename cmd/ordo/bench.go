package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/ordo-dev/ordo/api"
	"github.com/ordo-dev/ordo/bench"
	"github.com/ordo-dev/ordo/bench/baseline"
	"github.com/ordo-dev/ordo/devenv"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

type benchFlags struct {
	url, dist, workloads, jsonOut, plotOut, databaseURL, dataDir  string
	clients, accounts, hot, withdrawPct, baselineConns, ordoConns int
	rate                                                          float64
	duration, timeout                                             time.Duration
	compare                                                       bool
	partitions                                                    int
	systems, cpuProfile                                           string
	appliers, rounds                                              int

	transport, runID, name, accountPrefix, analyzeDB string
	replayPct                                        int
	inProcess, analyze, preloaded                    bool
	opening                                          int64
	// self is the ordo binary --compare runs the load generator with;
	// default os.Executable().
	self string
}

func benchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Generate load against an Ordo URL, or compare Ordo with row-lock and optimistic baselines",
		Long: `Runs a bounded load against any service speaking Ordo's HTTP contract and
prints throughput, latency percentiles (HdrHistogram), answers by status and an
audit: every account's final balance must equal its opening balance plus every
change the clients were told was applied.

  ordo bench --url http://localhost:8080 --clients 64 --duration 30s
  ordo bench --url http://localhost:8080 --rate 2000 --dist zipf
  ordo bench --compare --duration 20s --json bench.json --plot bench.html

Requests go through Go's net/http client, with an idle connection pool as
large as --clients, as a well-configured service's client would
(--transport lean: a leaner transport that takes less CPU from the machine
it shares with the system). Every command carries an Idempotency-Key, and
--replay-percent of the requests re-send an earlier command, its body and
key, as a client whose answer got lost does: the audit counts its effect
once and requires the first answer.

--compare starts Ordo (embedded broker, one API, one consumer) and two
baselines written the way a careful team would without Ordo (row lock:
SELECT ... FOR UPDATE in one transaction; optimistic: version-checked UPDATE
with retries), each on its own fresh database in the same Postgres
(DATABASE_URL, else a private one under --data-dir), and runs workload A
(uniform over --accounts) and B (--hot hot accounts) against each. It
measures as a user would: the load generator runs in a process of its own
(this binary, as "ordo bench --url"), and the databases get no ANALYZE
beyond what the system and autovacuum do. --analyze analyzes each database
once its accounts are set up, before the load; --in-process runs the
generator in this process, with --transport lean unless set, for profiling.

--preloaded: the accounts already exist, loaded in bulk, each with exactly
--opening and nothing else: bench-0 .. bench-(N-1) for --accounts N (--hot N
with --dist hot), as docs/bench/growth-accounts.sql loads them into a freshly
migrated database (docs/bench/growth.sh shows how). Set-up then only reads
the first and the last account, and if either is missing, has a balance
other than --opening or cannot be read, stops with an error naming it
before sending any command. The audit reads only the accounts the run sent
commands to, from --opening: "clean (N touched accounts of M)". Without it,
set-up creates each account, deposits --opening and reads its balance, and
the audit reads every account: four requests per account, too many for a
million. --preloaded is refused with --compare, which starts each system on
a fresh, empty database.

The table shows decided commands per second over the run and in 5 s
windows, so a slow start (a cold cache, a fresh database) shows.

A shared or virtual machine drifts: the same system can run 20% faster or
slower a few minutes later. --rounds N runs the comparison N times, in
alternating order (first to last, then last to first), and prints each
round's ratio of the first system to the best of the others, and their
median: each ratio compares runs minutes apart, and the median damps a
round that drifted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			if f.cpuProfile != "" {
				out, err := os.Create(f.cpuProfile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(out); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			if f.rounds < 1 {
				return fmt.Errorf("--rounds %d: want at least 1", f.rounds)
			}
			if f.inProcess && !cmd.Flags().Changed("transport") {
				f.transport = bench.TransportLean
			}
			if f.opening < 1 {
				return fmt.Errorf("--opening %d: want at least 1", f.opening)
			}
			if f.compare {
				if f.preloaded {
					return errors.New("--preloaded cannot be used with --compare: it starts each system on a fresh, empty database")
				}
				return runCompare(ctx, f)
			}
			if f.url == "" {
				return errors.New("--url is required (or use --compare)")
			}
			cfg := f.config(f.name, f.url, bench.Distribution(f.dist), f.accountPrefix)
			if f.analyzeDB != "" {
				cfg.AfterSetup = func(ctx context.Context) error { return analyze(ctx, f.analyzeDB) }
			}
			res, err := bench.Run(ctx, cfg)
			if err != nil {
				return err
			}
			bench.WriteTable(os.Stdout, res)
			return writeOutputs(f, "ordo bench", res)
		},
	}
	cmd.AddCommand(benchPlotCmd())
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "base URL of the service under load")
	fl.IntVar(&f.clients, "clients", 64, "closed loop: concurrent clients; open loop: most requests in flight")
	fl.Float64Var(&f.rate, "rate", 0, "open loop: requests per second (0: closed loop)")
	fl.DurationVar(&f.duration, "duration", 30*time.Second, "measured duration of each run")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "timeout of one request")
	fl.StringVar(&f.dist, "dist", "uniform", "account distribution: uniform, hot or zipf")
	fl.IntVar(&f.accounts, "accounts", 10000, "accounts in play (uniform, zipf)")
	fl.IntVar(&f.hot, "hot", 8, "hot accounts (dist hot, and workload B)")
	fl.IntVar(&f.withdrawPct, "withdraw-percent", 50, "share of withdrawals, the rest deposits")
	fl.StringVar(&f.jsonOut, "json", "", "write the results as JSON to this file")
	fl.StringVar(&f.plotOut, "plot", "", "write an HTML latency-over-time plot to this file")
	fl.BoolVar(&f.compare, "compare", false, "compare Ordo with the row-lock and optimistic baselines")
	fl.StringVar(&f.workloads, "workloads", "A,B", "with --compare: workloads to run (A uniform, B hot)")
	fl.StringVar(&f.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "with --compare: Postgres to use (env DATABASE_URL; default a private one)")
	fl.StringVar(&f.dataDir, "data-dir", "./.ordo-bench", "with --compare: where the private Postgres lives")
	fl.IntVar(&f.baselineConns, "baseline-conns", 8, "with --compare: Postgres pool size of each baseline")
	fl.IntVar(&f.ordoConns, "ordo-conns", 8, "with --compare: Postgres pool size of each Ordo role (API, consumer)")
	fl.IntVar(&f.partitions, "partitions", 12, "with --compare: partitions of Ordo's commands topic")
	fl.IntVar(&f.appliers, "appliers", 1, "with --compare: Ordo consumer's transactions in flight")
	fl.StringVar(&f.systems, "systems", "ordo,rowlock,optimistic", "with --compare: the systems to run; the first is compared with the best of the others")
	fl.IntVar(&f.rounds, "rounds", 1, "with --compare: run the comparison this many times, alternating the order of the systems")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (with --compare: Ordo's API, consumer and broker; the load generator too with --in-process) to this file")
	fl.StringVar(&f.transport, "transport", bench.TransportStd, "HTTP client: std (net/http, an idle pool as large as --clients) or lean (fewer goroutines, less CPU)")
	fl.IntVar(&f.replayPct, "replay-percent", 1, "share of requests that re-send an earlier command with its Idempotency-Key (0-100)")
	fl.StringVar(&f.runID, "run-id", "", "prefix of the Idempotency-Keys (default: from the clock)")
	fl.BoolVar(&f.inProcess, "in-process", false, "with --compare: run the load generator in this process (for profiling; implies --transport lean unless set)")
	fl.BoolVar(&f.analyze, "analyze", false, "with --compare: ANALYZE each system's database after its accounts are set up")
	fl.StringVar(&f.name, "name", "run", "the run's label in the table and the JSON")
	fl.Int64Var(&f.opening, "opening", 1_000_000, "each account's opening balance: deposited at set-up, or with --preloaded as loaded")
	fl.BoolVar(&f.preloaded, "preloaded", false, "the accounts exist already, each with exactly --opening (docs/bench/growth-accounts.sql): set-up only checks the first and the last; the audit reads only the accounts the run touched (not with --compare)")
	fl.StringVar(&f.accountPrefix, "account-prefix", "bench", "prefix of the account IDs")
	fl.StringVar(&f.analyzeDB, "analyze-database", "", "ANALYZE this database after set-up (--compare --analyze passes it to its generator)")
	_ = fl.MarkHidden("name")
	_ = fl.MarkHidden("account-prefix")
	_ = fl.MarkHidden("analyze-database")
	return cmd
}

func (f benchFlags) config(name, url string, dist bench.Distribution, prefix string) bench.Config {
	return bench.Config{
		Name: name, URL: url, Clients: f.clients, Rate: f.rate, Duration: f.duration, Timeout: f.timeout,
		Workload:      bench.Workload{Accounts: f.accounts, Dist: dist, HotAccounts: f.hot, WithdrawPercent: f.withdrawPct, Opening: f.opening, Prefix: prefix},
		Preloaded:     f.preloaded,
		Progress:      os.Stderr,
		RunID:         f.runID,
		Transport:     f.transport,
		ReplayPercent: f.replayPct,
	}
}

func writeOutputs(f benchFlags, title string, results ...*bench.Result) error {
	if f.jsonOut != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	if f.plotOut != "" {
		out, err := os.Create(f.plotOut)
		if err != nil {
			return err
		}
		defer out.Close()
		if err := bench.WritePlot(out, title, results...); err != nil {
			return err
		}
	}
	for _, r := range results {
		if !r.Audit.OK {
			return fmt.Errorf("audit failed for %s: %v", r.Name, r.Audit.Examples)
		}
	}
	return nil
}

// system is one service under comparison.
type system struct {
	name  string
	url   string
	db    string // URL of its database
	close func()
}

func runCompare(ctx context.Context, f benchFlags) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pgURL := f.databaseURL
	if pgURL == "" {
		if err := os.MkdirAll(f.dataDir, 0o755); err != nil {
			return err
		}
		pg, err := devenv.StartPostgres(ctx, devenv.PostgresConfig{Dir: filepath.Join(f.dataDir, "pg"), Logger: log})
		if err != nil {
			return err
		}
		defer pg.Close()
		pgURL = pg.URL()
	}
	var results []*bench.Result
	for _, wl := range strings.Split(f.workloads, ",") {
		var dist bench.Distribution
		switch strings.TrimSpace(strings.ToUpper(wl)) {
		case "A":
			dist = bench.Uniform
		case "B":
			dist = bench.Hot
		default:
			return fmt.Errorf("--workloads %q: want A and/or B", wl)
		}
		names := strings.Split(f.systems, ",")
		var rounds [][]*bench.Result
		for round := range f.rounds {
			row := make([]*bench.Result, len(names))
			for _, i := range roundOrder(len(names), round) {
				res, err := runSystem(ctx, names[i], pgURL, f, dist, log)
				if err != nil {
					return err
				}
				if f.rounds > 1 {
					res.Round = round + 1
				}
				row[i] = res
			}
			title := fmt.Sprintf("Workload %s: %d clients, %s, %d%% withdrawals, %s each", strings.ToUpper(wl), f.clients, describe(row[0]), f.withdrawPct, f.duration)
			if f.rounds > 1 {
				title += fmt.Sprintf(", round %d of %d", round+1, f.rounds)
			}
			fmt.Printf("\n%s\n", title)
			bench.WriteTable(os.Stdout, row...)
			rounds = append(rounds, row)
			results = append(results, row...)
		}
		if f.rounds > 1 {
			fmt.Printf("\nWorkload %s in %d rounds:\n", strings.ToUpper(wl), f.rounds)
			bench.WriteRounds(os.Stdout, rounds)
		}
	}
	return writeOutputs(f, "ordo bench --compare", results...)
}

// roundOrder is the order in which a round runs n systems: first to last in
// even rounds, last to first in odd ones, so that a machine drifting over
// the rounds favours none of them.
func roundOrder(n, round int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
		if round%2 == 1 {
			order[i] = n - 1 - i
		}
	}
	return order
}

// runSystem starts a system on a fresh database, runs the load against it
// (in a generator process of its own unless --in-process) and stops it.
func runSystem(ctx context.Context, name, pgURL string, f benchFlags, dist bench.Distribution, log *slog.Logger) (*bench.Result, error) {
	sys, err := startSystem(ctx, name, pgURL, f, log)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer sys.close()
	if !f.inProcess {
		res, err := runGenerator(ctx, f, name, sys, dist)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return res, nil
	}
	cfg := f.config(name, sys.url, dist, "acct")
	if f.analyze {
		cfg.AfterSetup = func(ctx context.Context) error { return analyze(ctx, sys.db) }
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

// generatorArgs is the command line of the load generator process that
// runs dist against sys and writes its result to jsonOut.
func generatorArgs(f benchFlags, name string, sys *system, dist bench.Distribution, jsonOut string) []string {
	args := []string{"bench",
		"--url", sys.url,
		"--clients", strconv.Itoa(f.clients),
		"--duration", f.duration.String(),
		"--timeout", f.timeout.String(),
		"--dist", string(dist),
		"--accounts", strconv.Itoa(f.accounts),
		"--hot", strconv.Itoa(f.hot),
		"--withdraw-percent", strconv.Itoa(f.withdrawPct),
		"--replay-percent", strconv.Itoa(f.replayPct),
		"--transport", f.transport,
		"--name", name,
		"--account-prefix", "acct",
		"--json", jsonOut,
	}
	if f.rate > 0 {
		args = append(args, "--rate", strconv.FormatFloat(f.rate, 'g', -1, 64))
	}
	if f.opening > 0 { // 0: the default
		args = append(args, "--opening", strconv.FormatInt(f.opening, 10))
	}
	if f.runID != "" {
		args = append(args, "--run-id", f.runID)
	}
	if f.analyze {
		args = append(args, "--analyze-database", sys.db)
	}
	return args
}

// runGenerator runs the load against sys in a process of its own, the
// binary f.self (default: this one) as "ordo bench --url", and reads its
// result back. Its progress (stderr) shows through; its table (stdout)
// only if it fails.
func runGenerator(ctx context.Context, f benchFlags, name string, sys *system, dist bench.Distribution) (*bench.Result, error) {
	self := f.self
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the ordo binary for the load generator: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "ordo-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	jsonOut := filepath.Join(dir, "result.json")
	cmd := exec.CommandContext(ctx, self, generatorArgs(f, name, sys, dist, jsonOut)...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	runErr := cmd.Run()
	// A failed audit exits non-zero after writing the result: the result
	// is reported, and the comparison fails at the end, as in process.
	b, err := os.ReadFile(jsonOut)
	if err != nil {
		if runErr != nil {
			return nil, fmt.Errorf("load generator: %w\n%s", runErr, stdout.Bytes())
		}
		return nil, fmt.Errorf("load generator wrote no result: %w", err)
	}
	var results []*bench.Result
	if err := json.Unmarshal(b, &results); err != nil || len(results) != 1 {
		return nil, fmt.Errorf("load generator result %s: %v, %d results", jsonOut, err, len(results))
	}
	return results[0], nil
}

// analyze runs ANALYZE on a system's freshly set-up database (--analyze),
// for every system alike. A fresh database has no statistics until
// autovacuum gets to it, at a moment that differs from run to run; by
// default --compare leaves that to autovacuum, as it would be for a user.
func analyze(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "ANALYZE")
	return err
}

func describe(r *bench.Result) string {
	if r.Workload.Dist == bench.Hot {
		return fmt.Sprintf("%d hot accounts", r.Workload.HotAccounts)
	}
	return fmt.Sprintf("uniform over %d accounts", r.Workload.Accounts)
}

// freshDatabase (re)creates a database on the server of pgURL and returns
// its URL, migrated.
func freshDatabase(ctx context.Context, pgURL, name string) (string, error) {
	cfg, err := pgx.ParseConfig(pgURL)
	if err != nil {
		return "", err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", err
	}
	dbURL := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	if cfg.Password != "" {
		dbURL = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
	}
	return dbURL, migrate(ctx, dbURL, slog.New(slog.DiscardHandler))
}

func startSystem(ctx context.Context, name, pgURL string, f benchFlags, log *slog.Logger) (*system, error) {
	dbURL, err := freshDatabase(ctx, pgURL, "bench_"+name)
	if err != nil {
		return nil, err
	}
	if name == "ordo" {
		b, err := devenv.StartBroker(devenv.BrokerConfig{Partitions: f.partitions})
		if err != nil {
			return nil, err
		}
		o := defaultOptions()
		o.Brokers = []string{b.Addr()}
		o.DatabaseURL = dbURL
		o.HTTPAddr = "127.0.0.1:0"
		o.Partitions = f.partitions
		o.CreateTopics = true
		o.DBMaxConns = f.ordoConns
		o.Appliers = f.appliers
		// Open, as ordo dev runs and as the baselines are: the comparison
		// is of the write path, on this machine only.
		o.Auth = false
		runCtx, cancel := context.WithCancel(ctx)
		a, err := NewAPI(runCtx, o, log)
		if err != nil {
			cancel()
			b.Close()
			return nil, err
		}
		c, err := NewConsumer(runCtx, o, log)
		if err != nil {
			cancel()
			a.Close()
			b.Close()
			return nil, err
		}
		go func() { _ = a.Run(runCtx) }()
		go func() { _ = c.Run(runCtx) }()
		return &system{name: name, url: "http://" + a.Addr(), db: dbURL, close: func() { cancel(); c.Close(); a.Close(); b.Close() }}, nil
	}
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = int32(f.baselineConns)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	store, err := postgres.Open(ctx, dbURL, postgres.Options{MaxConns: int32(f.baselineConns)})
	if err != nil {
		pool.Close()
		return nil, err
	}
	sub, err := baseline.New(pool, baseline.Mode(name))
	if err != nil {
		return nil, err
	}
	srv := api.New(api.Config{Logger: log}, store, sub)
	sub.SetDeliver(srv.Deliver)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return &system{name: name, url: "http://" + ln.Addr().String(), db: dbURL, close: func() {
		_ = hs.Close()
		store.Close()
		pool.Close()
	}}, nil
}
