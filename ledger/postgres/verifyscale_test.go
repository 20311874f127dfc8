package postgres_test

import (
	"context"
	"fmt"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/devenv"
	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

// TestVerifyScaleScript checks docs/bench/verify-scale.sql, which builds in
// SQL the ledger docs/verify-scale.md times `ordo verify` on: its rows must
// be the ones the consumer writes for the same commands, so that every
// check and the replay pass on it. When the consumer starts writing
// something new (as external_entries once), this fails until the script
// writes it too.
func TestVerifyScaleScript(t *testing.T) {
	const accounts, per = 14, 10 // the amounts' factor 1 + i % 7 takes each value twice
	s, scriptURL := newStoreURL(t)
	psql(t, scriptURL, "../../docs/bench/verify-scale.sql", "accounts="+strconv.Itoa(accounts), "per="+strconv.Itoa(per))

	// The same commands, applied by the consumer's store: opened, then
	// deposits of 100*k and withdrawals of 40*k in turn.
	consumer, consumerURL := newStoreURL(t)
	var recs []ledger.Record
	for i := 1; i <= accounts; i++ {
		acc, k := fmt.Sprintf("acct-%07d", i), int64(1+i%7)
		for v := 1; v <= per; v++ {
			cmd := open(acc)
			switch {
			case v == 1:
			case v%2 == 0:
				cmd = deposit(acc, 100*k)
			default:
				cmd = withdraw(acc, 40*k)
			}
			recs = append(recs, rec(int64(len(recs)), fmt.Sprintf("c-%d-%d", i, v), cmd))
		}
	}
	apply(t, consumer, claim(t, consumer, 1, "m1"), recs...)

	for _, tt := range []struct{ table, query string }{
		{"accounts", `SELECT id, currency, balance, held, overdraft_limit, version, status, in_flight FROM accounts`},
		{"entries", `SELECT account_id, version, command_id, kind, amount, balance_after, counterparty, reference, metadata::text,
		                    status_after, held_after, in_flight_after, overdraft_limit_after FROM entries`},
		{"external_entries", `SELECT account_id, version, counterparty, currency, amount, command_id FROM external_entries`},
		// Not topic, partition and offset: where the log put each
		// command, which the script makes up.
		{"commands", `SELECT command_id, account_id, kind, encode(fingerprint, 'hex'), status, code, outcome::text FROM commands`},
		{"other tables", `SELECT 'holds', count(*) FROM holds UNION ALL SELECT 'transfers', count(*) FROM transfers
		                  UNION ALL SELECT 'outbox', count(*) FROM outbox`},
	} {
		t.Run(tt.table, func(t *testing.T) {
			got, want := rowTexts(t, scriptURL, tt.query), rowTexts(t, consumerURL, tt.query)
			for i := range max(len(got), len(want)) {
				g, w := "(none)", "(none)"
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				if g != w {
					t.Fatalf("row %d of %d: got %s from the script, want %s as the consumer writes it (%d rows)", i+1, len(got), g, w, len(want))
				}
			}
		})
	}

	for _, r := range verify(t, s) {
		if !r.OK() {
			t.Errorf("check %s: %d violations on the script's ledger, first %+v", r.Name, r.Count, r.Violations[0])
		}
	}
	res := replay(t, s, postgres.ReplayOptions{BatchAccounts: 5})
	if !res.OK() || res.NotReplayable != 0 || res.Accounts != accounts || res.Commands != accounts*per {
		t.Errorf("replay: got %d violations %v, %d not replayable %v, %d accounts, %d commands; want none, none, %d, %d",
			res.Count, res.Violations, res.NotReplayable, res.Unreplayed, res.Accounts, res.Commands, accounts, accounts*per)
	}
}

// psql runs the psql script file on the database at url with the
// variables vars (name=value), stopping at its first error. It needs the
// PostgreSQL client, on PATH or beside the server binaries.
func psql(t *testing.T, url, file string, vars ...string) {
	t.Helper()
	bin, err := osexec.LookPath("psql")
	if err != nil {
		dir, derr := devenv.FindPostgresBin("")
		if derr != nil {
			t.Fatalf("psql, the PostgreSQL client, is needed to run %s: not on PATH, and %v", file, derr)
		}
		bin = filepath.Join(dir, "psql")
	}
	args := []string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", file}
	for _, v := range vars {
		args = append(args, "-v", v)
	}
	if out, err := osexec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("psql -f %s: %v\n%s", file, err, out)
	}
}

// rowTexts returns the rows of query on the database at url, each as
// Postgres writes a record as text, sorted.
func rowTexts(t *testing.T, url, query string) []string {
	t.Helper()
	rows, err := pgConn(t, url).Query(context.Background(), `SELECT r::text FROM (`+query+`) r`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
