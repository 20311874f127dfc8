package postgres_test

import (
	"context"
	"errors"
	neturl "net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

// owner claims partition 0 for member m1 and gives the claim a cache.
func owner(t *testing.T, s *postgres.Store) (postgres.Claim, *postgres.Cache) {
	t.Helper()
	c := claim(t, s, 1, "m1")
	return c, postgres.NewCache(c, 0)
}

// applyCached applies one partition's batch with its owner's cache.
func applyCached(t *testing.T, s *postgres.Store, c postgres.Claim, cache *postgres.Cache, recs ...postgres.Record) []postgres.Result {
	t.Helper()
	res, err := s.ApplyBatches(context.Background(), []postgres.PartitionBatch{{Claim: c, Records: recs, Cache: cache}})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res[0]
}

func wantStats(t *testing.T, s *postgres.Store, want postgres.ApplyStats) {
	t.Helper()
	if got := s.Stats(); got != want {
		t.Fatalf("got stats %+v, want %+v", got, want)
	}
}

func wantAccount(t *testing.T, s *postgres.Store, id string, balance, version int64) {
	t.Helper()
	acc, err := s.Account(context.Background(), id)
	if err != nil || acc.Balance != balance || acc.Version != version {
		t.Fatalf("account %s: got %+v, %v; want balance %d at version %d", id, acc, err, balance, version)
	}
}

func wantNextOffset(t *testing.T, s *postgres.Store, want int64) {
	t.Helper()
	parts, err := s.Partitions(context.Background(), "cmds")
	if err != nil || len(parts) != 1 || parts[0].NextOffset != want {
		t.Fatalf("got partitions %+v, %v; want next offset %d", parts, err, want)
	}
}

// TestCachedBatch: once the owner's cache knows a batch's accounts, the
// batch is decided from it and committed in one round trip, with the same
// outcomes, journal and offsets as the locked way.
func TestCachedBatch(t *testing.T) {
	s := newStore(t)
	c, cache := owner(t, s)
	applyCached(t, s, c, cache, rec(0, "o1", open("alice")), rec(1, "d1", deposit("alice", 100)))
	wantStats(t, s, postgres.ApplyStats{Locked: 1}) // alice was not cached yet
	if cache.Len() != 1 {
		t.Fatalf("got %d accounts cached, want 1", cache.Len())
	}

	res := applyCached(t, s, c, cache,
		rec(2, "w1", withdraw("alice", 30)),
		rec(3, "w2", withdraw("alice", 71)), // more than is left
		rec(4, "d2", deposit("alice", 5)),
		postgres.Record{Offset: 5, CommandID: "bad", AccountID: "alice", Code: ledger.CodeInvalidCommand, Detail: "bad json"},
	)
	wantStats(t, s, postgres.ApplyStats{Locked: 1, Cached: 1})
	want := []struct {
		status  ledger.Status
		code    ledger.Code
		balance int64
	}{{ledger.StatusApplied, "", 70}, {ledger.StatusRejected, ledger.CodeInsufficientFunds, 70}, {ledger.StatusApplied, "", 75}, {ledger.StatusRejected, ledger.CodeInvalidCommand, -1}}
	for i, w := range want {
		o := res[i].Outcome
		if o.Status != w.status || o.Code != w.code || (w.balance >= 0 && o.Account.Balance != w.balance) {
			t.Errorf("record %d: got %+v, want %s %s balance %d", i, o, w.status, w.code, w.balance)
		}
	}
	wantAccount(t, s, "alice", 75, 4)
	wantNextOffset(t, s, 6)
	for _, id := range []string{"w1", "w2", "d2", "bad"} {
		if _, _, err := s.Outcome(context.Background(), id); err != nil {
			t.Errorf("outcome of %s: %v", id, err)
		}
	}
	// A new account named in a cached batch is known not to exist: opening
	// it needs no read either.
	applyCached(t, s, c, cache, rec(6, "x", deposit("bob", 1)))
	applyCached(t, s, c, cache, rec(7, "o2", open("bob")), rec(8, "d3", deposit("bob", 9)))
	wantStats(t, s, postgres.ApplyStats{Locked: 2, Cached: 2})
	wantAccount(t, s, "bob", 9, 2)
}

// TestCachedBatchSkipsAppliedOffsets: records below the cached next offset
// were applied already and are skipped without a round trip.
func TestCachedBatchSkipsAppliedOffsets(t *testing.T) {
	s := newStore(t)
	c, cache := owner(t, s)
	applyCached(t, s, c, cache, rec(0, "o", open("alice")), rec(1, "d1", deposit("alice", 10)))
	res := applyCached(t, s, c, cache, rec(1, "d1", deposit("alice", 10)), rec(2, "d2", deposit("alice", 5)))
	if !res[0].Skipped || res[1].Skipped {
		t.Fatalf("got skipped %v %v, want true false", res[0].Skipped, res[1].Skipped)
	}
	wantStats(t, s, postgres.ApplyStats{Locked: 1, Cached: 1})
	wantAccount(t, s, "alice", 15, 3)
}

// TestCachedBatchDuplicateCommandID: a command ID decided in an earlier
// batch is caught by the commands table's key; the batch is applied again
// the locked way and answered with the stored outcome, without a second
// effect.
func TestCachedBatchDuplicateCommandID(t *testing.T) {
	s := newStore(t)
	c, cache := owner(t, s)
	applyCached(t, s, c, cache, rec(0, "o", open("alice")), rec(1, "k1", deposit("alice", 10)))
	res := applyCached(t, s, c, cache, rec(2, "k1", deposit("alice", 10)), rec(3, "k2", deposit("alice", 1)))
	wantStats(t, s, postgres.ApplyStats{Locked: 2, Fallbacks: 1})
	if o := res[0].Outcome; o.Status != ledger.StatusApplied || o.Account.Version != 2 || o.Account.Balance != 10 {
		t.Errorf("retry of k1: got %+v, want the stored outcome (balance 10 at version 2)", o)
	}
	wantAccount(t, s, "alice", 11, 3)
	wantNextOffset(t, s, 4)
	// The locked way refilled the cache: the next batch is cached again.
	applyCached(t, s, c, cache, rec(4, "k3", deposit("alice", 1)))
	wantStats(t, s, postgres.ApplyStats{Locked: 2, Fallbacks: 1, Cached: 1})
	wantAccount(t, s, "alice", 12, 4)
}

// TestCachedBatchZombieCannotCommit: a cached batch of an owner whose
// partition was claimed by another member fails and changes nothing.
func TestCachedBatchZombieCannotCommit(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	old, cache := owner(t, s)
	applyCached(t, s, old, cache, rec(0, "o", open("alice")), rec(1, "d1", deposit("alice", 100)))
	claim(t, s, 2, "m2")

	_, err := s.ApplyBatches(ctx, []postgres.PartitionBatch{{Claim: old, Cache: cache, Records: []postgres.Record{rec(2, "w", withdraw("alice", 100))}}})
	var fe *postgres.FencedError
	if !errors.As(err, &fe) || !errors.Is(err, ledger.ErrClaimLost) {
		t.Fatalf("got %v, want a FencedError", err)
	}
	wantStats(t, s, postgres.ApplyStats{Locked: 1, Fallbacks: 1})
	wantAccount(t, s, "alice", 100, 2)
	wantNextOffset(t, s, 2)
	if _, _, err := s.Outcome(ctx, "w"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("the zombie's command was stored: %v", err)
	}
}

// TestCachedBatchOffsetMoved: a cache whose offset is behind the stored one
// (a commit whose answer was lost, say) cannot commit from it: the guard
// on the offset sends the batch the locked way, which skips what was
// applied and applies the rest once.
func TestCachedBatchOffsetMoved(t *testing.T) {
	s := newStore(t)
	c, cache := owner(t, s)
	applyCached(t, s, c, cache, rec(0, "o", open("alice")), rec(1, "d1", deposit("alice", 10)))
	apply(t, s, c, rec(2, "d2", deposit("alice", 20))) // committed behind the cache's back

	res := applyCached(t, s, c, cache, rec(2, "d2", deposit("alice", 20)), rec(3, "d3", deposit("alice", 5)))
	if !res[0].Skipped || res[1].Skipped || res[1].Outcome.Account.Balance != 35 {
		t.Fatalf("got %+v, want offset 2 skipped and offset 3 applied on top of it (35)", res)
	}
	wantStats(t, s, postgres.ApplyStats{Locked: 3, Fallbacks: 1})
	wantAccount(t, s, "alice", 35, 4)
	wantNextOffset(t, s, 4)
}

// TestCachedBatchAccountChanged: an account changed behind the owner's
// back (it never is by Ordo) fails the cached batch's version guard; the
// locked way decides against what the database holds.
func TestCachedBatchAccountChanged(t *testing.T) {
	s, url := newStoreURL(t)
	ctx := context.Background()
	c, cache := owner(t, s)
	applyCached(t, s, c, cache, rec(0, "o", open("alice")), rec(1, "d1", deposit("alice", 100)))
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE accounts SET balance = 10, version = version + 1 WHERE id = 'alice'`); err != nil {
		t.Fatal(err)
	}
	res := applyCached(t, s, c, cache, rec(2, "w", withdraw("alice", 50)))
	if o := res[0].Outcome; o.Code != ledger.CodeInsufficientFunds {
		t.Fatalf("got %+v, want insufficient_funds against the stored balance of 10", o)
	}
	wantStats(t, s, postgres.ApplyStats{Locked: 2, Fallbacks: 1})
	wantAccount(t, s, "alice", 10, 3)
}

// TestCacheStartsOver: a full cache starts over rather than grow.
func TestCacheStartsOver(t *testing.T) {
	s := newStore(t)
	c := claim(t, s, 1, "m1")
	cache := postgres.NewCache(c, 2)
	applyCached(t, s, c, cache, rec(0, "a", open("a")), rec(1, "b", open("b")))
	if cache.Len() != 2 {
		t.Fatalf("got %d cached, want 2", cache.Len())
	}
	applyCached(t, s, c, cache, rec(2, "c", open("c")))
	if cache.Len() != 1 {
		t.Fatalf("got %d cached after the third account, want 1 (started over)", cache.Len())
	}
}

// TestCachedBatchCannotDeadlockWithNewOwner: an old owner's cached batch
// starts while the new owner's locked batch holds the partition row and has
// read the account both write. The new owner commits; the old owner is
// fenced and changes nothing.
//
// Two defences keep the old owner from holding the account while it waits
// for the partition row (after which the new owner's write of the account
// would wait for it: a deadlock, which Postgres breaks by failing one of
// them): the cached batch locks the partition rows before it writes any
// account, and its offset update matches only its own epoch, so it does not
// wait on a row another claim changed. With both removed from writer.go this
// test fails with "deadlock detected"; with either, it passes. The old
// owner's session gets a long deadlock_timeout, so that a cycle is found by
// the new owner's session and fails the new owner's batch, and the test.
func TestCachedBatchCannotDeadlockWithNewOwner(t *testing.T) {
	ctx := context.Background()
	sNew, url := newStoreURL(t)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("deadlock_timeout", "60s") // a startup parameter; the test user is a superuser
	u.RawQuery = q.Encode()
	sOld, err := postgres.Open(ctx, u.String(), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sOld.Close)
	old, cache := owner(t, sOld)
	applyCached(t, sOld, old, cache, rec(0, "o", open("alice")), rec(1, "d1", deposit("alice", 100)))
	fresh := claim(t, sNew, 2, "m2")

	watch, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	oldErr := make(chan error, 1)
	sNew.SetBeforeWrite(func() {
		// The new owner holds the partition row and has read alice. Start
		// the old owner's cached batch and let the new owner write once
		// the old one waits for a lock.
		go func() {
			_, err := sOld.ApplyBatches(ctx, []postgres.PartitionBatch{{Claim: old, Cache: cache, Records: []postgres.Record{rec(2, "w", withdraw("alice", 100))}}})
			oldErr <- err
		}()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var waiting int
			if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
				t.Error(err)
				return
			}
			if waiting > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Error("the old owner's batch never waited for a lock")
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	res, err := sNew.ApplyBatch(ctx, fresh, []postgres.Record{rec(2, "d2", deposit("alice", 5))})
	if err != nil {
		t.Fatalf("new owner's batch: %v", err)
	}
	if o := res[0].Outcome; o.Status != ledger.StatusApplied || o.Account.Balance != 105 {
		t.Fatalf("new owner's batch: got %+v, want applied, balance 105", o)
	}
	if err := <-oldErr; !errors.Is(err, ledger.ErrClaimLost) {
		t.Fatalf("old owner's batch: got %v, want ErrClaimLost", err)
	}
	wantAccount(t, sNew, "alice", 105, 3)
	if _, _, err := sNew.Outcome(ctx, "w"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("the old owner's command was stored: %v", err)
	}
}
