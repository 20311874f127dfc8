package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func hold(acc string, n int64, at time.Time) ledger.Command {
	return ledger.Command{Kind: ledger.KindHold, AccountID: acc, Amount: n, HoldFor: time.Hour, At: at}
}
func settle(kind ledger.Kind, acc, holdID string, n int64, at time.Time) ledger.Command {
	return ledger.Command{Kind: kind, AccountID: acc, HoldID: holdID, Amount: n, At: at}
}

// checkHeld checks the invariants holds keep: an account's held amount is
// the sum of its open holds, and its balance the sum of its entries.
func checkHeld(t *testing.T, url, acc string, wantBalance, wantHeld int64) {
	t.Helper()
	s := openStore(t, url, postgres.Options{MaxConns: 2})
	a, err := s.Account(context.Background(), acc)
	if err != nil {
		t.Fatal(err)
	}
	var open, entries int64
	conn := pgConn(t, url)
	if err := conn.QueryRow(context.Background(), `SELECT coalesce(sum(amount), 0) FROM holds WHERE account_id = $1 AND status = 'open'`, acc).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(context.Background(), `SELECT coalesce(sum(amount), 0) FROM entries WHERE account_id = $1`, acc).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if a.Balance != wantBalance || a.Held != wantHeld || open != a.Held || entries != a.Balance {
		t.Fatalf("got balance %d held %d (open holds %d, entries %d), want balance %d held %d with both sums equal",
			a.Balance, a.Held, open, entries, wantBalance, wantHeld)
	}
}

func TestHoldLifecycleStored(t *testing.T) {
	s, url := newStoreURL(t)
	ctx := context.Background()
	c := claim(t, s, 1, "m1")
	apply(t, s, c, rec(0, "open", open("alice")), rec(1, "dep", deposit("alice", 100)), rec(2, "h1", hold("alice", 30, t0)))
	id := ledger.HoldIDFor("h1")
	h, err := s.Hold(ctx, "alice", id)
	if err != nil || h.Status != ledger.HoldOpen || h.Amount != 30 || !h.CreatedAt.Equal(t0) || !h.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("got %+v, %v; want an open hold of 30 from %s for an hour", h, err, t0)
	}
	checkHeld(t, url, "alice", 100, 30)

	// Two settlements of one hold in one batch, and one more in the next:
	// only the first applies.
	res := apply(t, s, c,
		rec(3, "cap", settle(ledger.KindCapture, "alice", id, 20, t0.Add(time.Minute))),
		rec(4, "rel", settle(ledger.KindRelease, "alice", id, 0, t0.Add(time.Minute))))
	if res[0].Outcome.Status != ledger.StatusApplied || res[1].Outcome.Code != ledger.CodeHoldNotOpen {
		t.Fatalf("got %s/%s, want the capture applied and the release refused as hold_not_open", res[0].Outcome.Status, res[1].Outcome.Code)
	}
	other := openStore(t, url, postgres.Options{MaxConns: 2}) // no memory of the hold: the locked way
	c2, err := other.ClaimPartition(ctx, "cmds", 0, 2, "m2", false, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err = other.ApplyBatch(ctx, c2, []ledger.Record{rec(5, "cap2", settle(ledger.KindCapture, "alice", id, 0, t0.Add(time.Minute)))})
	if err != nil || res[0].Outcome.Code != ledger.CodeHoldNotOpen || res[0].Outcome.Hold.Status != ledger.HoldCaptured {
		t.Fatalf("got %+v, %v; want hold_not_open showing the captured hold", res, err)
	}
	h, _ = other.Hold(ctx, "alice", id)
	if h.Status != ledger.HoldCaptured || h.Captured != 20 || h.SettledAt == nil || !h.SettledAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("got %+v, want captured 20 at %s", h, t0.Add(time.Minute))
	}
	checkHeld(t, url, "alice", 80, 0)
}

// TestHoldGuard: a hold settled behind its owner's back (its memory is
// wrong) is not settled again: the cached attempt's guard trips, and the
// locked way reads the hold as it is.
func TestHoldGuard(t *testing.T) {
	s, url := newStoreURL(t)
	ctx := context.Background()
	c := claim(t, s, 1, "m1")
	apply(t, s, c, rec(0, "open", open("alice")), rec(1, "dep", deposit("alice", 100)), rec(2, "h1", hold("alice", 30, t0)))
	id := ledger.HoldIDFor("h1")
	conn := pgConn(t, url)
	if _, err := conn.Exec(ctx, `UPDATE holds SET status = 'released', settled_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	before := s.Stats().Fallbacks
	res := apply(t, s, c, rec(3, "cap", settle(ledger.KindCapture, "alice", id, 0, t0.Add(time.Minute))))
	if res[0].Outcome.Code != ledger.CodeHoldNotOpen {
		t.Fatalf("got %s/%s, want hold_not_open", res[0].Outcome.Status, res[0].Outcome.Code)
	}
	if s.Stats().Fallbacks != before+1 {
		t.Fatalf("got %d fallbacks, want the cached attempt's guard to trip once", s.Stats().Fallbacks-before)
	}
}

func TestAccountLifecycleStored(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c := claim(t, s, 1, "m1")
	apply(t, s, c, rec(0, "open", open("alice")),
		rec(1, "od", ledger.Command{Kind: ledger.KindSetOverdraftLimit, AccountID: "alice", OverdraftLimit: 70}),
		rec(2, "fr", ledger.Command{Kind: ledger.KindFreeze, AccountID: "alice"}))
	a, err := s.Account(ctx, "alice")
	if err != nil || a.Status != ledger.AccountFrozen || a.OverdraftLimit != 70 || a.Version != 3 {
		t.Fatalf("got %+v, %v; want frozen, overdraft 70, version 3", a, err)
	}
	res := apply(t, s, c, rec(3, "w", withdraw("alice", 1)), rec(4, "cl", ledger.Command{Kind: ledger.KindClose, AccountID: "alice"}), rec(5, "d", deposit("alice", 1)))
	if res[0].Outcome.Code != ledger.CodeAccountFrozen || res[1].Outcome.Status != ledger.StatusApplied || res[2].Outcome.Code != ledger.CodeAccountClosed {
		t.Fatalf("got %s, %s, %s; want account_frozen, applied, account_closed", res[0].Outcome.Code, res[1].Outcome.Status, res[2].Outcome.Code)
	}
	if a, _ := s.Account(ctx, "alice"); a.Status != ledger.AccountClosed {
		t.Fatalf("got status %s, want closed", a.Status)
	}
}

func TestListAndDueHolds(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c := claim(t, s, 1, "m1")
	recs := []ledger.Record{rec(0, "open", open("alice")), rec(1, "dep", deposit("alice", 100))}
	for i := range 5 {
		recs = append(recs, rec(int64(2+i), "h"+string(rune('a'+i)), hold("alice", 10, t0.Add(time.Duration(i)*time.Minute))))
	}
	recs = append(recs, rec(7, "rel", settle(ledger.KindRelease, "alice", ledger.HoldIDFor("hc"), 0, t0.Add(10*time.Minute))))
	apply(t, s, c, recs...)

	var got []string
	after := ""
	for range 5 {
		page, next, err := s.Holds(ctx, "alice", ledger.HoldOpen, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page {
			got = append(got, h.ID)
		}
		if after = next; after == "" {
			break
		}
	}
	want := []string{ledger.HoldIDFor("he"), ledger.HoldIDFor("hd"), ledger.HoldIDFor("hb"), ledger.HoldIDFor("ha")}
	if len(got) != len(want) {
		t.Fatalf("got %d open holds %v, want %d newest first", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v (newest first, released hc left out)", got, want)
		}
	}
	if _, _, err := s.Holds(ctx, "alice", "", "garbage!", 2); err == nil {
		t.Fatal("got no error for a malformed cursor")
	}

	due, err := s.DueHolds(ctx, "cmds", []int32{0}, t0.Add(time.Hour+90*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].ID != ledger.HoldIDFor("ha") || due[1].ID != ledger.HoldIDFor("hb") {
		t.Fatalf("got %+v, want ha and hb due", due)
	}
	if none, err := s.DueHolds(ctx, "cmds", []int32{1}, t0.Add(2*time.Hour), 10); err != nil || len(none) != 0 {
		t.Fatalf("got %+v, %v for another partition, want none", none, err)
	}
}

// pgConn is a plain connection to the test database, closed at the end.
func pgConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
