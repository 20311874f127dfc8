package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

// journaled gives a command the reference and metadata named after id.
func journaled(t *testing.T, off int64, id string, cmd ledger.Command) ledger.Record {
	t.Helper()
	var err error
	cmd.Reference = "ref " + id
	if cmd.Metadata, err = ledger.NewMetadata("metadata", map[string]string{"cmd": id}); err != nil {
		t.Fatal(err)
	}
	return rec(off, id, cmd)
}

// journalLedger applies a mix of every kind of entry: deposits and
// withdrawals with and without a named counterparty, holds captured and
// released, lifecycle changes, a completed, a refunded and a pending
// transfer, in two currencies.
func journalLedger(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	s, url := newStoreURL(t)
	src, dst := claimP(t, s, 0), claimP(t, s, 1)
	h1, h2 := ledger.HoldIDFor("h1"), ledger.HoldIDFor("h2")
	eur := open("carol")
	eur.Currency = "EUR"
	withCP := func(c ledger.Command, cp string) ledger.Command { c.Counterparty = cp; return c }
	apply(t, s, src,
		journaled(t, 0, "oa", open("alice")),
		journaled(t, 1, "da", withCP(deposit("alice", 100), "bank:acme")),
		journaled(t, 2, "wa", withdraw("alice", 20)),
		journaled(t, 3, "h1", hold("alice", 30, t0)),
		journaled(t, 4, "cap", withCP(settle(ledger.KindCapture, "alice", h1, 25, t0), "card:visa")),
		journaled(t, 5, "h2", hold("alice", 10, t0)),
		journaled(t, 6, "rel", settle(ledger.KindRelease, "alice", h2, 0, t0)),
		journaled(t, 7, "od", ledger.Command{Kind: ledger.KindSetOverdraftLimit, AccountID: "alice", OverdraftLimit: 50}),
		journaled(t, 8, "fr", ledger.Command{Kind: ledger.KindFreeze, AccountID: "alice"}),
		journaled(t, 9, "unfr", ledger.Command{Kind: ledger.KindUnfreeze, AccountID: "alice"}))
	apply(t, s, dst,
		journaled(t, 0, "ob", open("bob")),
		journaled(t, 1, "db", deposit("bob", 10)),
		journaled(t, 2, "oc", eur),
		journaled(t, 3, "dc", withCP(deposit("carol", 40), "bank:eu")),
		journaled(t, 4, "wc", withCP(withdraw("carol", 5), "bank:eu")))
	// A completed transfer, a refunded one, and one left in flight.
	srcOff, dstOff := int64(10), int64(5)
	for _, x := range []struct {
		id, to string
		n      int64
		finish bool
	}{{"x1", "bob", 15, true}, {"x2", "nobody", 5, true}, {"x3", "bob", 7, false}} {
		res := apply(t, s, src, journaled(t, srcOff, x.id, transferCmd("alice", x.to, x.n)))
		srcOff++
		if !x.finish {
			continue
		}
		res = apply(t, s, dst, step(t, res[0].Emit, dstOff))
		dstOff++
		apply(t, s, src, step(t, res[0].Emit, srcOff))
		srcOff++
	}
	return s, url
}

// TestJournalDoubleEntry: after a mix of every kind of command, the journal
// sums to zero per currency (entries, their external sides and the money in
// flight), every entry with an external counterparty has its mirror row,
// and every entry carries its counterparty, reference, metadata and the
// account's state after it.
func TestJournalDoubleEntry(t *testing.T) {
	s, url := journalLedger(t)
	conn := pgConn(t, url)
	ctx := context.Background()

	// Zero sum per currency, with money really in flight.
	rows, err := conn.Query(ctx, `
		SELECT currency, sum(entries)::bigint, sum(external)::bigint, sum(flight)::bigint FROM (
			SELECT a.currency, e.amount AS entries, 0 AS external, 0 AS flight FROM entries e JOIN accounts a ON a.id = e.account_id
			UNION ALL SELECT currency, 0, amount, 0 FROM external_entries
			UNION ALL SELECT currency, 0, 0, in_flight FROM accounts) u
		GROUP BY currency ORDER BY currency`)
	if err != nil {
		t.Fatal(err)
	}
	type sums struct {
		Currency                  string
		Entries, External, Flight int64
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[sums])
	if err != nil {
		t.Fatal(err)
	}
	want := []sums{{"EUR", 35, -35, 0}, {"USD", 58, -65, 7}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got sums per currency %v, want %v (each summing to 0)", got, want)
	}

	// The external side: one row per entry that has one, mirrored.
	rows, err = conn.Query(ctx, `
		SELECT x.account_id || ' v' || x.version || ' ' || x.counterparty || ' ' || x.amount || ' ' || x.currency || ' ' || x.command_id
		FROM external_entries x ORDER BY x.account_id, x.version`)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	wantExt := []string{
		"alice v2 bank:acme -100 USD da",
		"alice v3 external 20 USD wa",
		"alice v5 card:visa 25 USD cap",
		"bob v2 external -10 USD db",
		"carol v2 bank:eu -40 EUR dc",
		"carol v3 bank:eu 5 EUR wc",
	}
	if fmt.Sprint(ext) != fmt.Sprint(wantExt) {
		t.Fatalf("got external entries\n%v\nwant\n%v", ext, wantExt)
	}

	// Every entry: its other side, the caller's fields, the state after.
	rows, err = conn.Query(ctx, `
		SELECT format('%s v%s %s %s cp=%s ref=%s meta=%s %s held=%s flight=%s od=%s',
		              account_id, version, kind, amount, counterparty, reference, coalesce(metadata::text, 'null'),
		              status_after, held_after, in_flight_after, overdraft_limit_after)
		FROM entries ORDER BY account_id, version`)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	wantEntries := []string{
		`alice v1 open_account 0 cp= ref=ref oa meta={"cmd":"oa"} active held=0 flight=0 od=0`,
		`alice v2 deposit 100 cp=bank:acme ref=ref da meta={"cmd":"da"} active held=0 flight=0 od=0`,
		`alice v3 withdrawal -20 cp=external ref=ref wa meta={"cmd":"wa"} active held=0 flight=0 od=0`,
		`alice v4 hold 0 cp= ref=ref h1 meta={"cmd":"h1"} active held=30 flight=0 od=0`,
		`alice v5 capture -25 cp=card:visa ref=ref cap meta={"cmd":"cap"} active held=0 flight=0 od=0`,
		`alice v6 hold 0 cp= ref=ref h2 meta={"cmd":"h2"} active held=10 flight=0 od=0`,
		`alice v7 release 0 cp= ref=ref rel meta={"cmd":"rel"} active held=0 flight=0 od=0`,
		`alice v8 set_overdraft_limit 0 cp= ref=ref od meta={"cmd":"od"} active held=0 flight=0 od=50`,
		`alice v9 freeze 0 cp= ref=ref fr meta={"cmd":"fr"} frozen held=0 flight=0 od=50`,
		`alice v10 unfreeze 0 cp= ref=ref unfr meta={"cmd":"unfr"} active held=0 flight=0 od=50`,
		`alice v11 transfer -15 cp=bob ref=ref x1 meta={"cmd":"x1"} active held=0 flight=15 od=50`,
		`alice v12 transfer_settle 0 cp= ref=ref x1 meta={"cmd":"x1"} active held=0 flight=0 od=50`,
		`alice v13 transfer -5 cp=nobody ref=ref x2 meta={"cmd":"x2"} active held=0 flight=5 od=50`,
		`alice v14 transfer_settle 5 cp=nobody ref=ref x2 meta={"cmd":"x2"} active held=0 flight=0 od=50`,
		`alice v15 transfer -7 cp=bob ref=ref x3 meta={"cmd":"x3"} active held=0 flight=7 od=50`,
		`bob v1 open_account 0 cp= ref=ref ob meta={"cmd":"ob"} active held=0 flight=0 od=0`,
		`bob v2 deposit 10 cp=external ref=ref db meta={"cmd":"db"} active held=0 flight=0 od=0`,
		`bob v3 transfer_credit 15 cp=alice ref=ref x1 meta={"cmd":"x1"} active held=0 flight=0 od=0`,
		`carol v1 open_account 0 cp= ref=ref oc meta={"cmd":"oc"} active held=0 flight=0 od=0`,
		`carol v2 deposit 40 cp=bank:eu ref=ref dc meta={"cmd":"dc"} active held=0 flight=0 od=0`,
		`carol v3 withdrawal -5 cp=bank:eu ref=ref wc meta={"cmd":"wc"} active held=0 flight=0 od=0`,
	}
	if len(entries) != len(wantEntries) {
		t.Fatalf("got %d entries, want %d:\n%v", len(entries), len(wantEntries), entries)
	}
	for i := range entries {
		if entries[i] != wantEntries[i] {
			t.Errorf("got  %s\nwant %s", entries[i], wantEntries[i])
		}
	}
	if got := failed(verify(t, s)); len(got) != 0 {
		t.Fatalf("got failed checks %v on the journal, want none", got)
	}
}
