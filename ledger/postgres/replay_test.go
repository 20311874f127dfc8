package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
	"github.com/ordo-dev/ordo/wire"
)

func replay(t *testing.T, s *postgres.Store, o postgres.ReplayOptions) postgres.ReplayResult {
	t.Helper()
	res, err := s.Replay(context.Background(), o)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return res
}

// subjects lists the replay's diverging accounts with their versions.
func subjects(vs []postgres.Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Subject)
	}
	return out
}

// entryCount is how many journal entries the database holds.
func entryCount(t *testing.T, url string) int64 {
	t.Helper()
	var n int64
	if err := pgConn(t, url).QueryRow(context.Background(), `SELECT count(*) FROM entries`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// replayLedger extends verifyLedger with every other kind of command the
// writer stores: a hold with the default duration captured whole, an
// expiry, If-Match conditions, freeze, unfreeze, and a closed account.
func replayLedger(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	s, url := verifyLedger(t)
	c := claim(t, s, 1, "m1")
	later := t0.Add(2 * time.Hour)
	dflt := hold("alice", 7, t0)
	dflt.HoldFor = 0
	ifm := deposit("bob", 3)
	ifm.IfMatch = 4
	anyv := withdraw("bob", 1)
	anyv.IfMatch = ledger.IfMatchExists
	// The journal's fields: an external counterparty, a reference and
	// metadata are part of the fingerprint the rebuild must match.
	noted := deposit("bob", 2)
	noted.Counterparty, noted.Reference = "bank:acme", "payin 7"
	md, err := ledger.NewMetadata("metadata", map[string]string{"order": "42", "a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	noted.Metadata = md
	res := apply(t, s, c,
		rec(12, "h4", dflt),
		rec(13, "cap4", settle(ledger.KindCapture, "alice", ledger.HoldIDFor("h4"), 0, t0.Add(time.Minute))),
		rec(14, "exp2", settle(ledger.KindExpireHold, "alice", ledger.HoldIDFor("h2"), 0, later)),
		rec(15, "bob-ifm", ifm),
		rec(16, "bob-any", anyv),
		rec(17, "bob-freeze", ledger.Command{Kind: ledger.KindFreeze, AccountID: "bob"}),
		rec(18, "bob-unfreeze", ledger.Command{Kind: ledger.KindUnfreeze, AccountID: "bob"}),
		rec(19, "carol-open", open("carol")),
		rec(20, "carol-close", ledger.Command{Kind: ledger.KindClose, AccountID: "carol"}),
		rec(21, "carol-dep", deposit("carol", 5)),
		rec(22, "bob-noted", noted))
	for i, r := range res {
		want := ledger.StatusApplied
		if i == len(res)-2 {
			want = ledger.StatusRejected // carol is closed
		}
		if r.Outcome.Status != want {
			t.Fatalf("record %d: got %s %s, want %s", i, r.Outcome.Status, r.Outcome.Code, want)
		}
	}
	return s, url
}

// TestReplayClean: a ledger written through the real writer, with every
// kind of command, replays clean, in one batch and in batches of one
// account, each reported as progress.
func TestReplayClean(t *testing.T) {
	s, url := replayLedger(t)
	entries := entryCount(t, url)
	for _, batch := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			var progress []postgres.ReplayProgress
			res := replay(t, s, postgres.ReplayOptions{BatchAccounts: batch, Progress: func(p postgres.ReplayProgress) { progress = append(progress, p) }})
			if !res.OK() || res.NotReplayable != 0 {
				t.Fatalf("got %d divergences %+v, %d not replayable %+v; want none", res.Count, res.Violations, res.NotReplayable, res.Unreplayed)
			}
			if res.Accounts != 3 || res.Commands != entries {
				t.Fatalf("got %d accounts, %d commands replayed; want 3, %d", res.Accounts, res.Commands, entries)
			}
			wantCalls := map[int]int{0: 1, 1: 3, 2: 2}[batch]
			if len(progress) != wantCalls || progress[len(progress)-1].Accounts != 3 || progress[len(progress)-1].Last != "carol" {
				t.Fatalf("got progress %+v, want %d calls ending at 3 accounts, carol", progress, wantCalls)
			}
		})
	}
	t.Run("after", func(t *testing.T) {
		res := replay(t, s, postgres.ReplayOptions{After: "alice"})
		if !res.OK() || res.Accounts != 2 {
			t.Fatalf("got %d accounts, %+v; want bob and carol, clean", res.Accounts, res.Violations)
		}
	})
}

// TestReplayTransfers: completed, refunded and pending transfers replay
// clean: the debit, the credit (rebuilt from the transfer row), the settle
// and the refund.
func TestReplayTransfers(t *testing.T) {
	s, url := newStoreURL(t)
	src, dst := claimP(t, s, 0), claimP(t, s, 1)
	apply(t, s, src, rec(0, "oa", open("alice")), rec(1, "da", deposit("alice", 100)))
	apply(t, s, dst, rec(0, "ob", open("bob")))
	off := int64(2)
	for i, to := range []string{"bob", "nobody"} {
		res := apply(t, s, src, rec(off, fmt.Sprintf("req-%d", i), transferCmd("alice", to, 10)))
		res = apply(t, s, dst, step(t, res[0].Emit, int64(1+i)))
		apply(t, s, src, step(t, res[0].Emit, off+1))
		off += 2
	}
	apply(t, s, src, rec(off, "req-pending", transferCmd("alice", "bob", 5)))
	if got := failed(verify(t, s)); len(got) != 0 {
		t.Fatalf("got failed checks %v, want none", got)
	}
	res := replay(t, s, postgres.ReplayOptions{})
	if !res.OK() || res.NotReplayable != 0 || res.Accounts != 2 || res.Commands != entryCount(t, url) {
		t.Fatalf("got %+v, want 2 accounts, every entry replayed, clean", res)
	}

	// The credit's amount, bob's balance_after and balance changed alike:
	// transfer_legs sees the credit no longer matches; replay sees the
	// entry differ from what the transfer asked.
	conn := pgConn(t, url)
	if _, err := conn.Exec(context.Background(), `UPDATE entries SET amount = 11, balance_after = 11 WHERE account_id = 'bob' AND kind = 'transfer_credit';
		UPDATE accounts SET balance = 11 WHERE id = 'bob'`); err != nil {
		t.Fatal(err)
	}
	res = replay(t, s, postgres.ReplayOptions{})
	if got := subjects(res.Violations); !slices.Equal(got, []string{"account bob v2"}) {
		t.Fatalf("got %v, want account bob v2", got)
	}
}

// forge appends an applied command to an account as a broken writer
// might: the journal entry, the command with its true fingerprint and
// outcome, and the account row, all consistent with each other, with the
// balance moved by delta whatever the rules say.
func forge(t *testing.T, conn *pgx.Conn, cmd ledger.Command, delta int64) {
	t.Helper()
	ctx := context.Background()
	var a ledger.Account
	if err := conn.QueryRow(ctx, `SELECT id, currency, status, balance, held, overdraft_limit, in_flight, version FROM accounts WHERE id = $1`, cmd.AccountID).
		Scan(&a.ID, &a.Currency, &a.Status, &a.Balance, &a.Held, &a.OverdraftLimit, &a.InFlight, &a.Version); err != nil {
		t.Fatal(err)
	}
	a.Balance += delta
	a.Available = a.Balance - a.Held
	a.Version++
	out, err := wire.EncodeOutcome(ledger.Outcome{CommandID: cmd.ID, Kind: cmd.Kind, AccountID: cmd.AccountID, Status: ledger.StatusApplied, Account: &a})
	if err != nil {
		t.Fatal(err)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO entries (account_id, version, command_id, kind, amount, balance_after) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.ID, a.Version, cmd.ID, string(cmd.Kind), delta, a.Balance)
	b.Queue(`INSERT INTO commands (command_id, account_id, kind, fingerprint, status, code, outcome, topic, partition, "offset")
		VALUES ($1, $2, $3, $4, 'applied', '', $5, 'cmds', 0, 1000 + $6)`, cmd.ID, a.ID, string(cmd.Kind), cmd.Fingerprint(), out, a.Version)
	b.Queue(`UPDATE accounts SET balance = $2, version = $3 WHERE id = $1`, a.ID, a.Balance, a.Version)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		t.Fatalf("forge %s: %v", cmd.ID, err)
	}
}

// TestReplayFindsCorruption corrupts a clean ledger in ways the set-based
// checks cannot see (each subtest first checks that Verify passes) and
// checks that the replay names the account and the first version that
// differs.
func TestReplayFindsCorruption(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, conn *pgx.Conn)
		want    string // the diverging account and version
		got     string // part of what the replay reports as stored
	}{
		{"withdrawal's amount, balance_after and balance consistently wrong", func(t *testing.T, conn *pgx.Conn) {
			// Its external side too, so that the journal still sums to zero.
			execConn(t, conn, `UPDATE entries SET amount = -50, balance_after = 0 WHERE account_id = 'bob' AND version = 4`,
				`UPDATE external_entries SET amount = 50 WHERE account_id = 'bob' AND version = 4`,
				`UPDATE accounts SET balance = 0 WHERE id = 'bob'`)
		}, "account bob v4", "bob-wd withdrawal of -50"},
		{"withdrawal beyond the overdraft limit at the time, repaid since", func(t *testing.T, conn *pgx.Conn) {
			// bob is at -5 of a 10 overdraft: 20 more takes him to -25,
			// which the table's CHECK would refuse.
			dropChecks(t, conn, "accounts")
			forge(t, conn, ledger.Command{ID: "bob-wd2", Kind: ledger.KindWithdrawal, AccountID: "bob", Amount: 20}, -20)
			forge(t, conn, ledger.Command{ID: "bob-dep2", Kind: ledger.KindDeposit, AccountID: "bob", Amount: 30}, 30)
		}, "account bob v5", "withdrawal bob-wd2 applied"},
		{"deposit recorded as a capture", func(t *testing.T, conn *pgx.Conn) {
			execConn(t, conn, `UPDATE entries SET kind = 'capture' WHERE account_id = 'alice' AND version = 2`)
		}, "account alice v2", "alice-dep capture of 100"},
		{"account status changed", func(t *testing.T, conn *pgx.Conn) {
			// The last entry's state too, so that entry_state agrees.
			execConn(t, conn, `UPDATE accounts SET status = 'frozen' WHERE id = 'alice'`,
				`UPDATE entries SET status_after = 'frozen' WHERE account_id = 'alice' AND version = (SELECT max(version) FROM entries WHERE account_id = 'alice')`)
		}, "account alice v7", "status_after frozen"},
		{"overdraft limit raised", func(t *testing.T, conn *pgx.Conn) {
			execConn(t, conn, `UPDATE accounts SET overdraft_limit = 100 WHERE id = 'bob'`,
				`UPDATE entries SET overdraft_limit_after = 100 WHERE account_id = 'bob' AND version = (SELECT max(version) FROM entries WHERE account_id = 'bob')`)
		}, "account bob v4", "overdraft_limit_after 100"},
		{"journal state column wrong", func(t *testing.T, conn *pgx.Conn) {
			execConn(t, conn, `UPDATE entries SET held_after = 0, status_after = 'active' WHERE account_id = 'alice' AND version = 3`)
		}, "account alice v3", "held_after 0"},
		{"hold's stored expiry moved", func(t *testing.T, conn *pgx.Conn) {
			execConn(t, conn, `UPDATE commands SET outcome = replace(outcome::text, '"expires_at":"2026-11-30T13:00:00Z"', '"expires_at":"2026-11-30T14:00:00Z"')::json
				WHERE command_id = 'h2'`)
		}, "account alice v4", "the request the command's stored fingerprint records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, url := verifyLedger(t)
			conn := pgConn(t, url)
			tt.corrupt(t, conn)
			if got := failed(verify(t, s)); len(got) != 0 {
				t.Fatalf("got failed checks %v, want none: the corruption must be one only replay sees", got)
			}
			res := replay(t, s, postgres.ReplayOptions{})
			if res.Count != 1 || len(res.Violations) != 1 || res.NotReplayable != 0 {
				t.Fatalf("got %d divergences %+v, %d not replayable; want 1", res.Count, res.Violations, res.NotReplayable)
			}
			v := res.Violations[0]
			if v.Subject != tt.want || !strings.Contains(v.Got+" | "+v.Want, tt.got) || v.Got == v.Want {
				t.Fatalf("got %+v, want %s, reporting %q", v, tt.want, tt.got)
			}
		})
	}
}

// TestReplayNotReplayable: an entry whose command is not stored cannot be
// rebuilt: the account is reported as not replayable from that version,
// not as diverging (entry_command_applied reports the missing command).
func TestReplayNotReplayable(t *testing.T) {
	s, url := verifyLedger(t)
	execConn(t, pgConn(t, url), `DELETE FROM commands WHERE command_id = 'bob-dep'`)
	res := replay(t, s, postgres.ReplayOptions{})
	if !res.OK() || res.NotReplayable != 1 || len(res.Unreplayed) != 1 || res.Unreplayed[0].Subject != "account bob v3" {
		t.Fatalf("got %d divergences %+v, %d not replayable %+v; want none, and bob v3 not replayable", res.Count, res.Violations, res.NotReplayable, res.Unreplayed)
	}
}

// TestReplayAccountsWithoutJournal: accounts with no entries, among others
// and across batches, diverge at version 1; entries without an account
// are left to journal_versions.
func TestReplayAccountsWithoutJournal(t *testing.T) {
	s, url := verifyLedger(t)
	execConn(t, pgConn(t, url),
		`INSERT INTO accounts (id, currency, balance, version) VALUES ('aaron', 'USD', 0, 1), ('bert', 'USD', 0, 1), ('zed', 'USD', 0, 1)`,
		`INSERT INTO entries (account_id, version, command_id, kind, amount, balance_after) VALUES ('ghost', 1, 'ghost-open', 'open_account', 0, 0)`)
	for _, batch := range []int{1, 2, 1000} {
		res := replay(t, s, postgres.ReplayOptions{BatchAccounts: batch})
		want := []string{"account aaron v1", "account bert v1", "account zed v1"}
		if got := subjects(res.Violations); !slices.Equal(got, want) || res.Accounts != 5 || res.NotReplayable != 0 {
			t.Fatalf("batch %d: got %v over %d accounts, want %v over 5", batch, got, res.Accounts, want)
		}
	}
}

// TestReplayBounded: the replay counts every diverging account and lists
// the first VerifyLimit.
func TestReplayBounded(t *testing.T) {
	s, url := verifyLedger(t)
	const n = postgres.VerifyLimit + 20
	execConn(t, pgConn(t, url), fmt.Sprintf(`INSERT INTO accounts (id, currency, balance, version)
		SELECT 'x-' || lpad(i::text, 4, '0'), 'USD', 0, 1 FROM generate_series(1, %d) AS i`, n))
	res := replay(t, s, postgres.ReplayOptions{BatchAccounts: 7})
	if res.Count != n || len(res.Violations) != postgres.VerifyLimit || res.Violations[0].Subject != "account x-0001 v1" {
		t.Fatalf("got count %d, %d listed, first %+v; want %d, %d listed, x-0001 first", res.Count, len(res.Violations), res.Violations[0], n, postgres.VerifyLimit)
	}
}

// TestReplayUnavailable: a replay that cannot read says so with
// ledger.ErrUnavailable.
func TestReplayUnavailable(t *testing.T) {
	s, url := verifyLedger(t)
	execConn(t, pgConn(t, url), `DROP TABLE transfers`)
	if _, err := s.Replay(context.Background(), postgres.ReplayOptions{}); !errors.Is(err, ledger.ErrUnavailable) || !strings.Contains(err.Error(), "transfers") {
		t.Fatalf("got %v, want ledger.ErrUnavailable naming the missing table", err)
	}
}

// TestRebuildCoversCommand fails when ledger.Command gains a member: the
// replay's rebuild (replay.go) must then set it from what is stored, or
// every command using it will replay as not matching its fingerprint.
func TestRebuildCoversCommand(t *testing.T) {
	var got []string
	typ := reflect.TypeFor[ledger.Command]()
	for i := range typ.NumField() {
		got = append(got, typ.Field(i).Name)
	}
	want := []string{"ID", "Kind", "AccountID", "Amount", "Currency", "OverdraftLimit", "HoldID", "HoldFor",
		"Counterparty", "Reference", "Metadata", "TransferID", "Reason", "IfMatch", "Deadline", "At"}
	if !slices.Equal(got, want) {
		t.Fatalf("ledger.Command has members %v, the replay's rebuild knows %v: teach rebuild the new ones, then this list", got, want)
	}
}

func execConn(t *testing.T, conn *pgx.Conn, sql ...string) {
	t.Helper()
	for _, q := range sql {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
