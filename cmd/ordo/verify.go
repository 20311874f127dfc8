package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ordo-dev/ordo/ledger/postgres"
)

// errViolations: `ordo verify` found the ledger breaking an invariant.
var errViolations = errors.New("ledger invariants violated")

// verifyCmd is `ordo verify`: the ledger's invariants checked from the
// database alone, exit status 1 on any violation.
func verifyCmd() *cobra.Command {
	o := defaultOptions()
	fs := &flagSet{o: &o}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the ledger's invariants in Postgres; exit 1 on any violation",
		Long: `Checks the ledger's invariants in one read-only snapshot of the database,
from the database alone (no broker needed, safe while consumers run):

` + checkList() + `
Prints each check with "ok" or "FAIL" and its violations (at most ` + strconv.Itoa(postgres.VerifyLimit) + ` per
check, with the total). Exit status: 0 when every check holds, 1 on any
violation or when the checks could not run (the message says which).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			return printVerify(cmd.OutOrStdout(), res)
		},
	}
	fs.fs = cmd.Flags()
	fs.common()
	fs.databaseURL()
	return cmd
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
