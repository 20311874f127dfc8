package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

// verifyLedger applies a small ledger with every kind of state Verify
// checks: alice with a captured, a released and an open hold and a
// rejected withdrawal; bob in his overdraft.
func verifyLedger(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	s, url := newStoreURL(t)
	c := claim(t, s, 1, "m1")
	at := t0.Add(time.Minute)
	apply(t, s, c,
		rec(0, "alice-open", open("alice")),
		rec(1, "alice-dep", deposit("alice", 100)),
		rec(2, "h1", hold("alice", 30, t0)),
		rec(3, "h2", hold("alice", 10, t0)),
		rec(4, "h3", hold("alice", 5, t0)))
	apply(t, s, c,
		rec(5, "cap1", settle(ledger.KindCapture, "alice", ledger.HoldIDFor("h1"), 20, at)),
		rec(6, "rel3", settle(ledger.KindRelease, "alice", ledger.HoldIDFor("h3"), 0, at)),
		rec(7, "alice-big", withdraw("alice", 1000)),
		rec(8, "bob-open", open("bob")),
		rec(9, "bob-od", ledger.Command{Kind: ledger.KindSetOverdraftLimit, AccountID: "bob", OverdraftLimit: 10}),
		rec(10, "bob-dep", deposit("bob", 50)),
		rec(11, "bob-wd", withdraw("bob", 55)))
	checkHeld(t, url, "alice", 80, 10)
	checkHeld(t, url, "bob", -5, 0)
	return s, url
}

// failed is the names of the checks that failed.
func failed(res []postgres.CheckResult) []string {
	var out []string
	for _, r := range res {
		if !r.OK() {
			out = append(out, r.Name)
		}
	}
	return out
}

func verify(t *testing.T, s *postgres.Store) []postgres.CheckResult {
	t.Helper()
	res, err := s.Verify(context.Background())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res
}

// dropChecks drops a table's CHECK constraints, so that a test can write
// what they would refuse (and Verify must still find).
func dropChecks(t *testing.T, conn *pgx.Conn, table string) {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c'`, table)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := conn.Exec(ctx, `ALTER TABLE `+table+` DROP CONSTRAINT `+pgx.Identifier{n}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyClean(t *testing.T) {
	s, _ := verifyLedger(t)
	res := verify(t, s)
	if got := failed(res); len(got) != 0 {
		t.Fatalf("got failed checks %v on a clean ledger, want none: %+v", got, res)
	}
	if len(res) < 8 {
		t.Fatalf("got %d checks, want at least 8", len(res))
	}
	for _, r := range res {
		if r.Name == "" || r.Description == "" || len(r.Violations) != 0 {
			t.Errorf("got %+v, want a named, described check with no violations", r)
		}
	}
}

// TestVerifyFindsCorruption corrupts a clean ledger one way per subtest,
// behind the store's back, and checks that exactly the checks that guard
// against it fail, naming the right account, hold or command.
func TestVerifyFindsCorruption(t *testing.T) {
	h1, h3 := ledger.HoldIDFor("h1"), ledger.HoldIDFor("h3")
	tests := []struct {
		name    string
		drop    []string // tables whose CHECK constraints to drop first
		sql     []string
		want    []string // failed checks, in check order
		subject string   // named by every failed check
	}{
		{"balance changed", nil,
			[]string{`UPDATE accounts SET balance = balance + 1 WHERE id = 'alice'`},
			[]string{"journal_balance", "money_conserved"}, ""},
		{"last balance_after changed", nil,
			[]string{`UPDATE entries SET balance_after = 0 WHERE account_id = 'bob' AND version = 4`},
			[]string{"journal_balance"}, "account bob"},
		{"entry deleted", nil,
			[]string{`DELETE FROM entries WHERE account_id = 'alice' AND version = 2`},
			[]string{"journal_versions", "journal_balance", "money_conserved", "journal_zero_sum", "external_mirror"}, ""},
		{"version gap", nil,
			[]string{`UPDATE entries SET version = 0 WHERE account_id = 'bob' AND version = 1`},
			[]string{"journal_versions"}, "account bob"},
		{"entry without account", nil,
			[]string{`INSERT INTO entries (account_id, version, command_id, kind, amount, balance_after) VALUES ('carol', 1, 'bob-od', 'deposit', 0, 0)`},
			[]string{"journal_versions", "entry_per_command"}, ""},
		{"held changed", nil,
			[]string{`UPDATE accounts SET held = 0 WHERE id = 'alice'`},
			[]string{"held", "entry_state"}, "account alice"},
		{"hold reopened after capture", nil,
			[]string{`UPDATE holds SET status = 'open' WHERE id = '` + h1 + `'`},
			[]string{"held", "hold_state"}, ""},
		{"hold settled twice", nil,
			[]string{`INSERT INTO commands (command_id, account_id, kind, fingerprint, status, code, outcome, topic, partition, "offset")
				SELECT 'cap1-again', account_id, kind, fingerprint, status, code, outcome, topic, partition, 99 FROM commands WHERE command_id = 'cap1'`},
			[]string{"hold_settled_once"}, "hold " + h1},
		{"two entries for a command", nil,
			[]string{`UPDATE entries SET command_id = 'alice-dep' WHERE account_id = 'alice' AND version = 1`},
			[]string{"entry_per_command"}, "command alice-dep"},
		{"entry of a rejected command", nil,
			[]string{`UPDATE entries SET command_id = 'alice-big' WHERE account_id = 'alice' AND version = 1`},
			[]string{"entry_command_applied"}, "command alice-big"},
		{"entry of no command", nil,
			[]string{`DELETE FROM commands WHERE command_id = 'bob-dep'`},
			[]string{"entry_command_applied"}, "command bob-dep"},
		{"balance below overdraft", []string{"accounts"},
			[]string{`UPDATE accounts SET overdraft_limit = 0 WHERE id = 'bob'`},
			[]string{"overdraft", "entry_state"}, "account bob"},
		{"available below overdraft", nil,
			[]string{`UPDATE accounts SET overdraft_limit = 5, held = 3 WHERE id = 'bob'`,
				`INSERT INTO holds (id, account_id, topic, partition, amount, status, created_at, expires_at, command_id)
				 VALUES ('hold-bob', 'bob', 'cmds', 0, 3, 'open', now(), now() + interval '1 hour', 'bob-wd')`},
			[]string{"overdraft", "entry_state"}, "account bob"},
		{"captured more than held", []string{"holds"},
			[]string{`UPDATE holds SET captured = 31 WHERE id = '` + h1 + `'`},
			[]string{"hold_state"}, "hold " + h1},
		{"settled without settled_at", nil,
			[]string{`UPDATE holds SET settled_at = NULL WHERE id = '` + h3 + `'`},
			[]string{"hold_state"}, "hold " + h3},
		// The double-entry checks.
		{"external side deleted", nil,
			[]string{`DELETE FROM external_entries WHERE account_id = 'alice' AND version = 2`},
			[]string{"journal_zero_sum", "external_mirror"}, ""},
		{"external amount changed", nil,
			[]string{`UPDATE external_entries SET amount = amount - 1 WHERE account_id = 'bob' AND version = 3`},
			[]string{"journal_zero_sum", "external_mirror"}, ""},
		{"external side of another counterparty", nil,
			[]string{`UPDATE external_entries SET counterparty = 'bank:other' WHERE account_id = 'alice' AND version = 2`},
			[]string{"external_mirror"}, "entry alice v2"},
		{"external side in another currency", nil,
			[]string{`UPDATE external_entries SET currency = 'EUR' WHERE account_id = 'alice' AND version = 2`},
			[]string{"journal_zero_sum", "external_mirror"}, ""},
		{"external side of an entry that moves no money", nil,
			[]string{`INSERT INTO external_entries (account_id, version, counterparty, currency, amount, command_id) VALUES ('alice', 3, 'external', 'USD', 0, 'h1')`},
			[]string{"external_mirror"}, "entry alice v3"},
		{"external side of no entry", nil,
			[]string{`INSERT INTO external_entries (account_id, version, counterparty, currency, amount, command_id) VALUES ('alice', 99, 'external', 'USD', 0, 'x')`},
			[]string{"external_mirror"}, "entry alice v99"},
		{"money made up outside", nil,
			[]string{`INSERT INTO external_entries (account_id, version, counterparty, currency, amount, command_id) VALUES ('alice', 99, 'external', 'USD', 5, 'x')`},
			[]string{"journal_zero_sum", "external_mirror"}, ""},
		{"latest entry's state changed", nil,
			[]string{`UPDATE entries SET held_after = 99 WHERE account_id = 'alice' AND version = 7`},
			[]string{"entry_state"}, "account alice"},
		{"account frozen behind the journal", nil,
			[]string{`UPDATE accounts SET status = 'frozen' WHERE id = 'bob'`},
			[]string{"entry_state"}, "account bob"},
		// Entries written before migration 0008 have no state after and
		// no external side; that is no violation.
		{"entries from before 0008", nil,
			[]string{`UPDATE entries SET counterparty = '', reference = '', status_after = NULL, held_after = NULL, in_flight_after = NULL, overdraft_limit_after = NULL`,
				`DELETE FROM external_entries`},
			nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, url := verifyLedger(t)
			conn := pgConn(t, url)
			for _, table := range tt.drop {
				dropChecks(t, conn, table)
			}
			for _, q := range tt.sql {
				if _, err := conn.Exec(context.Background(), q); err != nil {
					t.Fatalf("corrupt: %v", err)
				}
			}
			res := verify(t, s)
			if got := failed(res); !slices.Equal(got, tt.want) {
				t.Fatalf("got failed checks %v, want %v: %+v", got, tt.want, res)
			}
			for _, r := range res {
				if r.OK() {
					continue
				}
				if r.Count != int64(len(r.Violations)) || r.Count == 0 {
					t.Errorf("%s: got count %d with %d violations listed, want them equal", r.Name, r.Count, len(r.Violations))
				}
				for _, v := range r.Violations {
					if v.Got == "" || v.Want == "" || (tt.subject != "" && v.Subject != tt.subject) {
						t.Errorf("%s: got %+v, want subject %q with got and want", r.Name, v, tt.subject)
					}
				}
			}
		})
	}
}

// TestVerifyNamesMissingExternalEntry: an entry whose external side is
// gone is reported as having none (format() prints NULLs as empty strings,
// so the message must not be built from the missing row).
func TestVerifyNamesMissingExternalEntry(t *testing.T) {
	s, url := verifyLedger(t)
	conn := pgConn(t, url)
	if _, err := conn.Exec(context.Background(), `DELETE FROM external_entries WHERE account_id = 'alice' AND version = 2`); err != nil {
		t.Fatal(err)
	}
	for _, r := range verify(t, s) {
		if r.Name != "external_mirror" {
			continue
		}
		for _, v := range r.Violations {
			if v.Subject == "entry alice v2" {
				if v.Got != "no external entry" {
					t.Fatalf("got %q, want %q", v.Got, "no external entry")
				}
				return
			}
		}
		t.Fatalf("external_mirror does not name entry alice v2: %+v", r)
	}
	t.Fatal("no external_mirror check")
}

// TestVerifyBounded: a check lists at most VerifyLimit violations, in
// subject order, and counts them all.
func TestVerifyBounded(t *testing.T) {
	s, url := verifyLedger(t)
	conn := pgConn(t, url)
	dropChecks(t, conn, "holds")
	const n = postgres.VerifyLimit + 50
	if _, err := conn.Exec(context.Background(), `INSERT INTO holds (id, account_id, topic, partition, amount, captured, status, created_at, expires_at, settled_at, command_id)
		SELECT 'bad-' || lpad(i::text, 4, '0'), 'alice', 'cmds', 0, 1, 2, 'captured', now(), now(), now(), 'h1'
		FROM generate_series(1, $1) AS i`, n); err != nil {
		t.Fatal(err)
	}
	res := verify(t, s)
	if got := failed(res); !slices.Equal(got, []string{"hold_state"}) {
		t.Fatalf("got failed checks %v, want [hold_state]", got)
	}
	for _, r := range res {
		if r.Name != "hold_state" {
			continue
		}
		if r.Count != n || len(r.Violations) != postgres.VerifyLimit {
			t.Fatalf("got count %d, %d listed; want %d, %d listed", r.Count, len(r.Violations), n, postgres.VerifyLimit)
		}
		if first := r.Violations[0].Subject; first != "hold bad-0001" || !strings.HasPrefix(r.Violations[0].Want, "captured 0..1") {
			t.Fatalf("got first %+v, want hold bad-0001 wanting captured 0..1", r.Violations[0])
		}
	}
}

// TestVerifyTransfers: a ledger with a completed and a refunded transfer
// verifies clean; each transfer invariant broken on purpose is reported.
func TestVerifyTransfers(t *testing.T) {
	setup := func(t *testing.T) (*postgres.Store, string, string) {
		s, url := newStoreURL(t)
		src, dst := claimP(t, s, 0), claimP(t, s, 1)
		apply(t, s, src, rec(0, "oa", open("alice")), rec(1, "da", deposit("alice", 100)))
		apply(t, s, dst, rec(0, "ob", open("bob")))
		var id string
		for i, to := range []string{"bob", "nobody"} {
			res := apply(t, s, src, rec(int64(2+2*i), fmt.Sprintf("req-%d", i), transferCmd("alice", to, 10)))
			if i == 0 {
				id = res[0].Outcome.Transfer.ID
			}
			res = apply(t, s, dst, step(t, res[0].Emit, int64(1+i)))
			apply(t, s, src, step(t, res[0].Emit, int64(3+2*i)))
		}
		return s, url, id
	}
	s, _, _ := setup(t)
	if got := failed(verify(t, s)); len(got) != 0 {
		t.Fatalf("got failed checks %v on a clean ledger with transfers, want none", got)
	}
	for _, tt := range []struct {
		name string
		sql  string
		want []string
	}{
		{"money in flight made up", `UPDATE accounts SET in_flight = 5 WHERE id = 'alice'`, []string{"in_flight", "money_conserved", "journal_zero_sum", "entry_state"}},
		{"credit applied twice", `INSERT INTO entries (account_id, version, command_id, kind, amount, balance_after) SELECT 'bob', 99, command_id, kind, amount, 0 FROM entries WHERE command_id = 'credit:' || $1`, []string{"journal_versions", "journal_balance", "entry_per_command", "transfer_legs", "journal_zero_sum"}},
		{"completed transfer reopened", `UPDATE transfers SET status = 'pending' WHERE id = $1`, []string{"in_flight"}},
		{"stuck transfer", `UPDATE transfers SET status = 'pending' WHERE id = $1; DELETE FROM outbox`, []string{"in_flight", "transfer_step_pending"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, url, id := setup(t)
			conn := pgConn(t, url)
			for _, q := range strings.Split(tt.sql, "; ") {
				args := []any{}
				if strings.Contains(q, "$1") {
					args = append(args, id)
				}
				if _, err := conn.Exec(context.Background(), q, args...); err != nil {
					t.Fatalf("corrupt: %v", err)
				}
			}
			if got := failed(verify(t, s)); !slices.Equal(got, tt.want) {
				t.Fatalf("got failed checks %v, want %v", got, tt.want)
			}
		})
	}
}
