package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/internal/testinfra"
	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

var pg *testinfra.Postgres

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var err error
	pg, err = testinfra.StartPostgres(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration tests need Postgres:", err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Close()
	os.Exit(code)
}

func newStore(t testing.TB) *postgres.Store {
	t.Helper()
	s, _ := newStoreURL(t)
	return s
}

func newStoreURL(t testing.TB) (*postgres.Store, string) {
	t.Helper()
	return newStoreOptions(t, postgres.Options{MaxConns: 8})
}

// newStoreOptions opens a store with o on a fresh, migrated database.
func newStoreOptions(t testing.TB, o postgres.Options) (*postgres.Store, string) {
	t.Helper()
	url := pg.NewDatabase(t)
	s := openStore(t, url, o)
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, url
}

// openStore opens another store on the database at url: another process,
// with pools, claims and caches of its own.
func openStore(t testing.TB, url string, o postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func rec(off int64, id string, cmd ledger.Command) ledger.Record {
	cmd.ID = id
	return ledger.Record{Offset: off, CommandID: id, AccountID: cmd.AccountID, Command: cmd}
}

func open(acc string) ledger.Command {
	return ledger.Command{Kind: ledger.KindOpenAccount, AccountID: acc, Currency: "USD"}
}
func deposit(acc string, n int64) ledger.Command {
	return ledger.Command{Kind: ledger.KindDeposit, AccountID: acc, Amount: n}
}
func withdraw(acc string, n int64) ledger.Command {
	return ledger.Command{Kind: ledger.KindWithdrawal, AccountID: acc, Amount: n}
}

func claim(t *testing.T, s *postgres.Store, gen int32, member string) ledger.Claim {
	t.Helper()
	c, err := s.ClaimPartition(context.Background(), "cmds", 0, gen, member, false, "")
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return c
}

func apply(t *testing.T, s *postgres.Store, c ledger.Claim, recs ...ledger.Record) []ledger.Result {
	t.Helper()
	res, err := s.ApplyBatch(context.Background(), c, recs)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func TestMigrateIsIdempotent(t *testing.T) {
	s := newStore(t) // migrated once
	applied, err := s.Migrate(context.Background())
	if err != nil || len(applied) != 0 {
		t.Fatalf("got %v, %v on the second run; want nothing applied", applied, err)
	}
}

func TestApplyBatch(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c := claim(t, s, 1, "m1")
	if c.NextOffset != -1 {
		t.Fatalf("got next offset %d for a new partition, want -1", c.NextOffset)
	}
	res := apply(t, s, c,
		rec(0, "c0", open("alice")),
		rec(1, "c1", deposit("alice", 100)),
		rec(2, "c2", withdraw("alice", 30)),
		rec(3, "c3", withdraw("alice", 71)),
		rec(4, "c4", deposit("ghost", 5)),
		ledger.Record{Offset: 5, CommandID: "c5", AccountID: "alice", Code: ledger.CodeInvalidCommand, Detail: "bad json"},
	)
	want := []struct {
		status  ledger.Status
		code    ledger.Code
		balance int64
	}{
		{ledger.StatusApplied, "", 0}, {ledger.StatusApplied, "", 100}, {ledger.StatusApplied, "", 70},
		{ledger.StatusRejected, ledger.CodeInsufficientFunds, 70}, {ledger.StatusRejected, ledger.CodeAccountNotFound, -1},
		{ledger.StatusRejected, ledger.CodeInvalidCommand, -1},
	}
	for i, w := range want {
		o := res[i].Outcome
		if o.Status != w.status || o.Code != w.code {
			t.Errorf("record %d: got %s/%s, want %s/%s", i, o.Status, o.Code, w.status, w.code)
		}
		if w.balance >= 0 && (o.Account == nil || o.Account.Balance != w.balance) {
			t.Errorf("record %d: got account %+v, want balance %d", i, o.Account, w.balance)
		}
	}
	acc, err := s.Account(ctx, "alice")
	if err != nil || acc.Balance != 70 || acc.Version != 3 {
		t.Fatalf("got %+v, %v; want balance 70 version 3", acc, err)
	}
	parts, err := s.Partitions(ctx, "cmds")
	if err != nil || len(parts) != 1 || parts[0].NextOffset != 6 {
		t.Fatalf("got partitions %+v, %v; want next offset 6", parts, err)
	}
	out, _, err := s.Outcome(ctx, "c3")
	if err != nil || out.Code != ledger.CodeInsufficientFunds {
		t.Fatalf("got stored outcome %+v, %v; want insufficient_funds", out, err)
	}
	if _, _, err := s.Outcome(ctx, "nope"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("got %v for an unknown command, want ErrNotFound", err)
	}
}

// ways are the two ways a store applies batches: with its partition
// owners' caches (the default; the locked way when a cache does not cover
// a batch) and without (every batch the locked way).
var ways = []struct {
	name string
	opts postgres.Options
}{
	{"cached", postgres.Options{MaxConns: 8}},
	{"locked", postgres.Options{MaxConns: 8, CacheAccounts: -1}},
}

func TestApplyBatchSkipsAppliedOffsets(t *testing.T) {
	for _, way := range ways {
		t.Run(way.name, func(t *testing.T) {
			s, _ := newStoreOptions(t, way.opts)
			c := claim(t, s, 1, "m1")
			apply(t, s, c, rec(0, "c0", open("alice")), rec(1, "c1", deposit("alice", 10)))
			// A redelivery of offsets 0-1 (after a crash before the Kafka commit)
			// together with a new record: only the new one applies.
			res := apply(t, s, c, rec(0, "c0", open("alice")), rec(1, "c1", deposit("alice", 10)), rec(2, "c2", deposit("alice", 5)))
			if !res[0].Skipped || !res[1].Skipped || res[2].Skipped {
				t.Fatalf("got skipped %v %v %v, want true true false", res[0].Skipped, res[1].Skipped, res[2].Skipped)
			}
			acc, _ := s.Account(context.Background(), "alice")
			if acc.Balance != 15 || acc.Version != 3 {
				t.Fatalf("got balance %d version %d, want 15 and 3", acc.Balance, acc.Version)
			}
		})
	}
}

func TestApplyBatchDuplicateCommandID(t *testing.T) {
	for _, way := range ways {
		t.Run(way.name, func(t *testing.T) {
			s, _ := newStoreOptions(t, way.opts)
			c := claim(t, s, 1, "m1")
			apply(t, s, c, rec(0, "open", open("alice")), rec(1, "k1", deposit("alice", 10)))
			// The same command ID at a new offset (a client retry that produced the
			// record again): the stored outcome, no second effect; in the same batch
			// too; and with a different request, a rejection.
			res := apply(t, s, c,
				rec(2, "k1", deposit("alice", 10)),
				rec(3, "k2", deposit("alice", 1)),
				rec(4, "k2", deposit("alice", 1)),
				rec(5, "k1", deposit("alice", 99)),
			)
			if o := res[0].Outcome; o.Status != ledger.StatusApplied || o.Account.Version != 2 {
				t.Errorf("retry of k1: got %+v, want the original applied outcome at version 2", o)
			}
			if a, b := res[1].Outcome, res[2].Outcome; a.Account.Version != 3 || b.Account.Version != 3 {
				t.Errorf("k2 twice in one batch: got versions %d and %d, want 3 and 3", a.Account.Version, b.Account.Version)
			}
			if o := res[3].Outcome; o.Code != ledger.CodeIdempotencyMismatch {
				t.Errorf("k1 with another amount: got %s/%s, want %s", o.Status, o.Code, ledger.CodeIdempotencyMismatch)
			}
			acc, _ := s.Account(context.Background(), "alice")
			if acc.Balance != 11 || acc.Version != 3 {
				t.Fatalf("got balance %d version %d, want 11 and 3", acc.Balance, acc.Version)
			}
		})
	}
}

// TestZombieCannotCommit: once another member claims the partition, the old
// owner's batches fail and change nothing.
func TestZombieCannotCommit(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	old := claim(t, s, 1, "m1")
	apply(t, s, old, rec(0, "c0", open("alice")), rec(1, "c1", deposit("alice", 100)))

	fresh := claim(t, s, 2, "m2")
	if fresh.NextOffset != 2 || fresh.Epoch <= old.Epoch {
		t.Fatalf("got claim %+v after %+v, want next offset 2 and a higher epoch", fresh, old)
	}
	_, err := s.ApplyBatch(ctx, old, []ledger.Record{rec(2, "z", withdraw("alice", 100))})
	if !errors.Is(err, ledger.ErrClaimLost) || errors.Is(err, ledger.ErrGuardFailed) {
		t.Fatalf("zombie apply: got %v, want ErrClaimLost", err)
	}
	if _, _, err := s.Outcome(ctx, "z"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("zombie's command was stored: %v", err)
	}
	acc, _ := s.Account(ctx, "alice")
	if acc.Balance != 100 || acc.Version != 2 {
		t.Fatalf("got balance %d version %d after the zombie, want 100 and 2", acc.Balance, acc.Version)
	}
	apply(t, s, fresh, rec(2, "z2", withdraw("alice", 100)))
	if acc, _ := s.Account(ctx, "alice"); acc.Balance != 0 {
		t.Fatalf("new owner: got balance %d, want 0", acc.Balance)
	}
}

// TestZombieInFlightWhileClaimed: a claim made while the old owner's batch
// transaction is open waits for it; then the old owner is fenced.
func TestClaimWaitsForBatchInFlight(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	old := claim(t, s, 1, "m1")
	apply(t, s, old, rec(0, "c0", open("alice")))

	// Many concurrent batches and one claim: every batch either committed
	// before the claim (and the claim's offset includes it) or was fenced.
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func(i int) {
			_, err := s.ApplyBatch(ctx, old, []ledger.Record{rec(int64(1+i), fmt.Sprintf("d%d", i), deposit("alice", 1))})
			errs <- err
		}(i)
	}
	fresh, err := s.ClaimPartition(ctx, "cmds", 0, 2, "m2", false, "")
	if err != nil {
		t.Fatal(err)
	}
	committed, fenced := 0, 0
	for i := 0; i < 20; i++ {
		switch err := <-errs; {
		case err == nil:
			committed++
		case errors.Is(err, ledger.ErrClaimLost):
			fenced++
		case errors.Is(err, ledger.ErrGuardFailed):
			// Lost a race on the offset against a sibling batch.
			fenced++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	acc, _ := s.Account(ctx, "alice")
	// Batches race each other on offsets too; what matters is that what the
	// account shows is exactly what committed before the claim.
	if acc.Version-1 != acc.Balance || committed+fenced != 20 {
		t.Fatalf("got balance %d version %d (%d committed, %d fenced)", acc.Balance, acc.Version, committed, fenced)
	}
	parts, _ := s.Partitions(ctx, "cmds")
	if parts[0].Epoch != fresh.Epoch {
		t.Fatalf("got epoch %d, want the new claim's %d", parts[0].Epoch, fresh.Epoch)
	}
	if _, err := s.ApplyBatch(ctx, old, []ledger.Record{rec(100, "late", deposit("alice", 1))}); !errors.Is(err, ledger.ErrClaimLost) {
		t.Fatalf("after the claim: got %v, want ErrClaimLost", err)
	}
}

func TestStaleGenerationClaimRefused(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	claim(t, s, 5, "m2")
	if _, err := s.ClaimPartition(ctx, "cmds", 0, 4, "m1", false, ""); !errors.Is(err, ledger.ErrStaleGeneration) || errors.Is(err, ledger.ErrClaimLost) {
		t.Fatalf("got %v, want ErrStaleGeneration", err)
	}
	if _, err := s.ClaimPartition(ctx, "cmds", 0, 1, "m1", true, ""); err != nil {
		t.Fatalf("forced claim: got %v, want success", err)
	}
}

// TestVersionGuard: if an account changes under its partition owner between
// a batch's reads and writes (only possible if the fence were broken), the
// batch fails inside the server and nothing of it commits.
func TestVersionGuard(t *testing.T) {
	// The locked way: beforeWrite runs between its reads and its writes.
	s, url := newStoreOptions(t, postgres.Options{MaxConns: 8, CacheAccounts: -1})
	ctx := context.Background()
	c := claim(t, s, 1, "m1")
	apply(t, s, c, rec(0, "c0", open("alice")), rec(1, "c1", deposit("alice", 100)))

	intruder, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close(ctx)
	s.SetBeforeWrite(func() {
		if _, err := intruder.Exec(ctx, `UPDATE accounts SET balance = 1, version = version + 1 WHERE id = 'alice'`); err != nil {
			t.Errorf("intruder: %v", err)
		}
	})
	_, err = s.ApplyBatch(ctx, c, []ledger.Record{rec(2, "w", withdraw("alice", 50))})
	if !errors.Is(err, ledger.ErrGuardFailed) || errors.Is(err, ledger.ErrClaimLost) {
		t.Fatalf("got %v, want ErrGuardFailed from the version guard", err)
	}
	s.SetBeforeWrite(nil)
	if _, _, err := s.Outcome(ctx, "w"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("the guarded batch stored its command: %v", err)
	}
	parts, _ := s.Partitions(ctx, "cmds")
	if parts[0].NextOffset != 2 {
		t.Fatalf("got next offset %d, want 2: the guarded batch must not advance it", parts[0].NextOffset)
	}
}

// TestApplyBatchesGroupCommit: batches of several partitions commit in one
// transaction; if one partition is fenced, the error names it and nothing
// commits, and the others apply when retried without it.
func TestApplyBatchesGroupCommit(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var claims []ledger.Claim
	for p := int32(0); p < 3; p++ {
		c, err := s.ClaimPartition(ctx, "cmds", p, 1, "m1", false, "")
		if err != nil {
			t.Fatal(err)
		}
		claims = append(claims, c)
	}
	batches := []ledger.PartitionBatch{
		{Claim: claims[2], Records: []ledger.Record{rec(0, "c2", open("carol")), rec(1, "d2", deposit("carol", 3))}},
		{Claim: claims[0], Records: []ledger.Record{rec(0, "c0", open("alice"))}},
		{Claim: claims[1], Records: []ledger.Record{rec(0, "c1", open("bob")), rec(1, "d1", deposit("bob", 5))}},
	}
	if _, err := s.ClaimPartition(ctx, "cmds", 1, 2, "m2", false, ""); err != nil {
		t.Fatal(err)
	}
	_, err := s.ApplyBatches(ctx, batches)
	var fe *ledger.FencedError
	if !errors.As(err, &fe) || !errors.Is(err, ledger.ErrClaimLost) || len(fe.Partitions) != 1 || fe.Partitions[0] != 1 {
		t.Fatalf("got %v, want a FencedError naming partition 1", err)
	}
	if _, err := s.Account(ctx, "alice"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("a fenced group commit stored partition 0's work: %v", err)
	}
	res, err := s.ApplyBatches(ctx, []ledger.PartitionBatch{batches[0], batches[1]})
	if err != nil {
		t.Fatal(err)
	}
	if res[0][1].Outcome.Account.Balance != 3 || res[1][0].Outcome.Status != ledger.StatusApplied {
		t.Fatalf("got %+v, want carol at 3 and alice opened", res)
	}
	parts, _ := s.Partitions(ctx, "cmds")
	want := map[int32]int64{0: 1, 1: -1, 2: 2}
	for _, p := range parts {
		if p.NextOffset != want[p.Partition] {
			t.Errorf("partition %d: got next offset %d, want %d", p.Partition, p.NextOffset, want[p.Partition])
		}
	}
}

// TestClaimRefusedForRecreatedTopic: offsets stored under one topic ID are
// not resumed under another: the topic was recreated.
func TestClaimRefusedForRecreatedTopic(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c, err := s.ClaimPartition(ctx, "cmds", 0, 1, "m1", false, "id-A")
	if err != nil {
		t.Fatal(err)
	}
	apply(t, s, c, rec(0, "c0", open("alice")))
	if _, err := s.ClaimPartition(ctx, "cmds", 0, 2, "m2", false, "id-A"); err != nil {
		t.Fatalf("same topic ID: got %v, want a claim", err)
	}
	if _, err := s.ClaimPartition(ctx, "cmds", 0, 3, "m3", true, "id-B"); !errors.Is(err, ledger.ErrTopicRecreated) {
		t.Fatalf("other topic ID: got %v, want ErrTopicRecreated even when forced", err)
	}
	parts, _ := s.Partitions(ctx, "cmds")
	if parts[0].Member != "m2" || parts[0].NextOffset != 1 {
		t.Fatalf("got %+v, want the refused claim to change nothing", parts[0])
	}
}
