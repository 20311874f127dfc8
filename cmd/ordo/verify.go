package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordo-dev/ordo/ledger/postgres"
)

// errViolations: `ordo verify` found the ledger breaking an invariant.
var errViolations = errors.New("ledger invariants violated")

// Exit statuses of `ordo verify`.
const (
	exitViolations   = 1 // the checks ran and found violations
	exitCouldntCheck = 2 // the checks could not run: flags, connection, SQL
)

// exitError carries the exit status a command's failure should end the
// process with; errors without one exit 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the exit status for err: its exitError's, 1 otherwise.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

// couldNotCheck marks err as `ordo verify` not having checked (exit 2).
func couldNotCheck(err error) error {
	if err == nil || errors.Is(err, errViolations) {
		return err
	}
	return &exitError{code: exitCouldntCheck, err: err}
}

// verifyCmd is `ordo verify`: the ledger's invariants checked from the
// database alone, exit status 1 on any violation, 2 when it could not
// check.
func verifyCmd() *cobra.Command {
	o := defaultOptions()
	fs := &flagSet{o: &o}
	var (
		replay      bool
		replayAfter string
		replayBatch int
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the ledger's invariants in Postgres; exit 1 on any violation, 2 if it could not check",
		Long: `Checks the ledger's invariants in one read-only snapshot of the database,
from the database alone (no broker needed, safe while consumers run):

` + checkList() + `
With --replay it then decides every applied command again, account by
account in version order, with the same rules the consumers use, and
reports every account whose replayed state (balance, held, in_flight,
overdraft limit, status, version, each entry's balance_after) differs from
the stored one, with the first version that differs. Commands are rebuilt
from their journal entries and stored outcomes and checked against their
stored fingerprints. Accounts are read ` + strconv.Itoa(postgres.DefaultReplayBatch) + ` at a time (--replay-batch), each
batch in its own read-only snapshot, so memory stays bounded; progress goes
to stderr. Accounts whose history cannot be rebuilt (an entry whose
command is not stored as applied) are listed as not replayable, which is
not a violation of its own.

Prints each check with "ok" or "FAIL" and its violations (at most ` + strconv.Itoa(postgres.VerifyLimit) + ` per
check, with the total).

Exit status:
  0  every check holds (and the replay matches)
  1  violations found
  2  could not check: bad flags, no database, a connection or SQL error`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return couldNotCheck(runVerify(cmd, o, fs, replay, postgres.ReplayOptions{After: replayAfter, BatchAccounts: replayBatch}))
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return couldNotCheck(err) })
	fs.fs = cmd.Flags()
	fs.common()
	fs.databaseURL()
	cmd.Flags().BoolVar(&replay, "replay", false, "also decide every applied command again and compare with the stored state")
	cmd.Flags().StringVar(&replayAfter, "replay-after", "", "replay only the accounts whose ID sorts after this one (resume a replay)")
	cmd.Flags().IntVar(&replayBatch, "replay-batch", postgres.DefaultReplayBatch, "accounts the replay reads per query and snapshot")
	return cmd
}

func runVerify(cmd *cobra.Command, o Options, fs *flagSet, replay bool, ro postgres.ReplayOptions) error {
	if fs.err != nil {
		return fs.err
	}
	if _, err := newLogger(o.LogLevel, o.LogFormat); err != nil {
		return err
	}
	if o.DatabaseURL == "" {
		return errors.New("--database-url (DATABASE_URL) is required")
	}
	ctx, stop := signalContext(cmd.Context())
	defer stop()
	store, err := postgres.Open(ctx, o.DatabaseURL, postgres.Options{MaxConns: 1})
	if err != nil {
		return err
	}
	defer store.Close()
	res, err := store.Verify(ctx)
	if err != nil {
		return err
	}
	if !replay {
		return printVerify(cmd.OutOrStdout(), res)
	}
	start := time.Now()
	ro.Progress = progressPrinter(cmd.ErrOrStderr(), 2*time.Second)
	rr, err := store.Replay(ctx, ro)
	if err != nil {
		return err
	}
	err = printVerify(cmd.OutOrStdout(), append(res, rr.CheckResult))
	printReplay(cmd.OutOrStdout(), rr, time.Since(start))
	return err
}

// progressPrinter reports a replay's progress on w at most once per every.
func progressPrinter(w io.Writer, every time.Duration) func(postgres.ReplayProgress) {
	var last time.Duration
	return func(p postgres.ReplayProgress) {
		if p.Elapsed-last < every {
			return
		}
		last = p.Elapsed
		fmt.Fprintf(w, "replay: %d accounts, %d commands, up to account %s, %s\n", p.Accounts, p.Commands, p.Last, p.Elapsed.Round(time.Second))
	}
}

// printReplay sums the replay up and lists the accounts it could not
// rebuild.
func printReplay(w io.Writer, rr postgres.ReplayResult, took time.Duration) {
	fmt.Fprintf(w, "replay: decided %d applied %s of %d %s again in %s\n",
		rr.Commands, plural(rr.Commands, "command"), rr.Accounts, plural(rr.Accounts, "account"), took.Round(time.Millisecond))
	if rr.NotReplayable == 0 {
		return
	}
	fmt.Fprintf(w, "note  %d %s not replayable from the version shown (not a violation of its own):\n", rr.NotReplayable, plural(rr.NotReplayable, "account"))
	for _, v := range rr.Unreplayed {
		fmt.Fprintf(w, "      %s: %s\n", v.Subject, v.Got)
	}
	if more := rr.NotReplayable - int64(len(rr.Unreplayed)); more > 0 {
		fmt.Fprintf(w, "      ... and %d more\n", more)
	}
}

// printVerify prints one line per check, its violations under it, and
// returns errViolations when any check failed.
func printVerify(w io.Writer, res []postgres.CheckResult) error {
	width := 0
	for _, r := range res {
		width = max(width, len(r.Name))
	}
	var violations int64
	failed := 0
	for _, r := range res {
		if r.OK() {
			fmt.Fprintf(w, "ok    %-*s  %s\n", width, r.Name, r.Description)
			continue
		}
		failed++
		violations += r.Count
		fmt.Fprintf(w, "FAIL  %-*s  %s: %d %s\n", width, r.Name, r.Description, r.Count, plural(r.Count, "violation"))
		for _, v := range r.Violations {
			fmt.Fprintf(w, "      %s: got %s; want %s\n", v.Subject, v.Got, v.Want)
		}
		if more := r.Count - int64(len(r.Violations)); more > 0 {
			fmt.Fprintf(w, "      ... and %d more\n", more)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d %s in %d of %d checks: %w", violations, plural(violations, "violation"), failed, len(res), errViolations)
	}
	return nil
}

// checkList is the checks, one per line, for --help.
func checkList() string {
	var b strings.Builder
	checks := postgres.Checks()
	width := 0
	for _, c := range checks {
		width = max(width, len(c.Name))
	}
	for _, c := range checks {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, c.Name, c.Description)
	}
	return b.String()
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
