package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

// TestOpenSetsSessionTimeouts: the timeouts in Options are the sessions'
// settings; unset ones are left to the server.
func TestOpenSetsSessionTimeouts(t *testing.T) {
	url := pg.NewDatabase(t)
	tests := []struct {
		name string
		opts postgres.Options
		want map[string]string
	}{
		{"unset", postgres.Options{}, map[string]string{
			"statement_timeout": "0", "lock_timeout": "0", "idle_in_transaction_session_timeout": "0",
		}},
		{"set", postgres.Options{StatementTimeout: 3 * time.Second, LockTimeout: 1500 * time.Millisecond, IdleInTransactionTimeout: time.Minute}, map[string]string{
			"statement_timeout": "3s", "lock_timeout": "1500ms", "idle_in_transaction_session_timeout": "1min",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, url, tt.opts)
			for name, want := range tt.want {
				got, err := s.Setting(context.Background(), name)
				if err != nil || got != want {
					t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
				}
			}
		})
	}
}

// frozenBatch starts a batch of old's owner on s (a store without caches,
// so that the batch takes the locked way) that stops between its
// reads and its writes, holding the partition row's lock inside an open
// transaction, as a consumer frozen there (SIGSTOP, a paused VM) would. It
// returns once the batch is frozen; thaw lets it go on, and its error
// arrives on the returned channel.
func frozenBatch(t *testing.T, s *postgres.Store, old ledger.Claim, recs ...ledger.Record) (thaw func(), done <-chan error) {
	t.Helper()
	frozen, thawed, errc := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	s.SetBeforeWrite(func() {
		close(frozen)
		<-thawed
	})
	go func() {
		_, err := s.ApplyBatch(context.Background(), old, recs)
		errc <- err
	}()
	select {
	case <-frozen:
	case err := <-errc:
		t.Fatalf("the batch ended before it froze: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the batch never reached its writes")
	}
	var once bool
	return func() {
		if !once {
			once = true
			close(thawed)
		}
	}, errc
}

// TestFrozenOwnerCannotBlockClaim: an owner frozen inside its batch
// transaction holds the partition row locked. With
// idle_in_transaction_session_timeout set, Postgres ends its session after
// that long, so the new owner's claim goes through instead of waiting for
// the frozen process to wake; and the old owner, when it wakes, cannot
// commit: its batch fails, and its retry is fenced.
func TestFrozenOwnerCannotBlockClaim(t *testing.T) {
	sOld, url := newStoreOptions(t, postgres.Options{MaxConns: 8, CacheAccounts: -1, IdleInTransactionTimeout: 2 * time.Second})
	sNew := openStore(t, url, postgres.Options{MaxConns: 8})
	old := claim(t, sOld, 1, "m1")
	apply(t, sOld, old, rec(0, "o", open("alice")), rec(1, "d", deposit("alice", 100)))
	wants := rec(2, "w", withdraw("alice", 100))
	thaw, done := frozenBatch(t, sOld, old, wants)
	defer thaw()

	// A liveness bound, not a speed assertion: without the timeout the
	// claim waits as long as the old owner stays frozen.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	fresh, err := sNew.ClaimPartition(ctx, "cmds", 0, 2, "m2", false, "")
	if err != nil {
		t.Fatalf("claim while the old owner is frozen: %v", err)
	}
	if fresh.NextOffset != 2 {
		t.Fatalf("got next offset %d, want 2", fresh.NextOffset)
	}

	thaw()
	if err := <-done; err == nil {
		t.Fatal("the frozen owner's batch committed after its session was ended")
	}
	sOld.SetBeforeWrite(nil)
	if _, err := sOld.ApplyBatch(context.Background(), old, []ledger.Record{wants}); !errors.Is(err, ledger.ErrClaimLost) {
		t.Fatalf("the old owner's retry: got %v, want ErrClaimLost", err)
	}
	if _, _, err := sNew.Outcome(context.Background(), "w"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("the frozen owner's command was stored: %v", err)
	}
	wantAccount(t, sNew, "alice", 100, 2)
	res := apply(t, sNew, fresh, rec(2, "w2", withdraw("alice", 40)))
	if o := res[0].Outcome; o.Status != ledger.StatusApplied || o.Account.Balance != 60 {
		t.Fatalf("new owner: got %+v, want applied, balance 60", o)
	}
}

// TestClaimLockTimeout: with lock_timeout set, a claim that cannot get the
// partition row's lock fails as unavailable after that long instead of
// waiting without bound (the consumer retries it).
func TestClaimLockTimeout(t *testing.T) {
	sOld, url := newStoreOptions(t, postgres.Options{MaxConns: 8, CacheAccounts: -1})
	sNew := openStore(t, url, postgres.Options{MaxConns: 8, LockTimeout: time.Second})
	old := claim(t, sOld, 1, "m1")
	apply(t, sOld, old, rec(0, "o", open("alice")))
	thaw, done := frozenBatch(t, sOld, old, rec(1, "d", deposit("alice", 1)))

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := sNew.ClaimPartition(ctx, "cmds", 0, 2, "m2", false, "")
	if !errors.Is(err, ledger.ErrUnavailable) || ctx.Err() != nil {
		t.Fatalf("claim against a held lock: got %v (context: %v), want ErrUnavailable from the lock timeout", err, ctx.Err())
	}
	thaw()
	if err := <-done; err != nil {
		t.Fatalf("the old owner's batch, still the owner: %v", err)
	}
	if _, err := sNew.ClaimPartition(context.Background(), "cmds", 0, 2, "m2", false, ""); err != nil {
		t.Fatalf("claim once the lock is free: %v", err)
	}
}
