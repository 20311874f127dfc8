package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
	"github.com/ordo-dev/ordo/wire"
)

// claimP claims another partition of the test topic.
func claimP(t *testing.T, s *postgres.Store, partition int32) ledger.Claim {
	t.Helper()
	c, err := s.ClaimPartition(context.Background(), "cmds", partition, 1, "m1", false, "")
	if err != nil {
		t.Fatalf("claim %d: %v", partition, err)
	}
	return c
}

// step decodes an outbox row as the consumer of its partition would.
func step(t *testing.T, o *ledger.Outbound, off int64) ledger.Record {
	t.Helper()
	if o == nil {
		t.Fatal("no step emitted")
	}
	cmd, err := wire.DecodeCommand(o.CommandID, o.Value)
	if err != nil {
		t.Fatalf("decode %s: %v", o.Value, err)
	}
	cmd.At = t0.Add(time.Second)
	return ledger.Record{Offset: off, CommandID: o.CommandID, AccountID: cmd.AccountID, Command: cmd}
}

func transferCmd(from, to string, n int64) ledger.Command {
	return ledger.Command{Kind: ledger.KindTransfer, AccountID: from, Counterparty: to, Amount: n, Currency: "USD", At: t0}
}

func TestTransferSagaStored(t *testing.T) {
	for _, tt := range []struct {
		name    string
		to      string
		status  ledger.TransferStatus
		balance int64 // the source's balance at the end
	}{
		{"completed", "bob", ledger.TransferCompleted, 60},
		{"refunded to a missing account", "nobody", ledger.TransferRefunded, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, url := newStoreURL(t)
			ctx := context.Background()
			src, dst := claimP(t, s, 0), claimP(t, s, 1)
			apply(t, s, src, rec(0, "oa", open("alice")), rec(1, "da", deposit("alice", 100)))
			apply(t, s, dst, rec(0, "ob", open("bob")))

			res := apply(t, s, src, rec(2, "req", transferCmd("alice", tt.to, 40)))
			out := res[0].Outcome
			if out.Status != ledger.StatusApplied || out.Transfer == nil || out.Transfer.Status != ledger.TransferPending || out.Account.InFlight != 40 || out.Account.Balance != 60 {
				t.Fatalf("debit: got %+v, want applied, pending, 40 in flight", out)
			}
			id := out.Transfer.ID
			unpublished, err := s.Unpublished(ctx, "cmds", []int32{0}, time.Now().Add(time.Minute), 10)
			if err != nil || len(unpublished) != 1 || unpublished[0].CommandID != ledger.TransferCreditID(id) {
				t.Fatalf("got outbox %+v, %v; want the credit unpublished", unpublished, err)
			}

			res = apply(t, s, dst, step(t, res[0].Emit, 1))
			settle := step(t, res[0].Emit, 3)
			res = apply(t, s, src, settle)
			final := res[0].Final
			if res[0].Outcome.Status != ledger.StatusApplied || final == nil || final.CommandID != "req" || final.Transfer.Status != tt.status {
				t.Fatalf("settle: got %+v, final %+v; want applied, the request's final outcome %s", res[0].Outcome, final, tt.status)
			}
			stored, _, err := s.Outcome(ctx, "req")
			if err != nil || stored.Transfer == nil || stored.Transfer.Status != tt.status {
				t.Fatalf("got the request's stored outcome %+v, %v; want its final one", stored, err)
			}
			got, legs, err := s.Transfer(ctx, id)
			if err != nil || got.Status != tt.status || got.CompletedAt == nil || len(legs) != 3 {
				t.Fatalf("got %+v with %d legs, %v; want %s with 3 legs", got, len(legs), err, tt.status)
			}
			a, _ := s.Account(ctx, "alice")
			if a.Balance != tt.balance || a.InFlight != 0 {
				t.Fatalf("got alice %+v, want balance %d, nothing in flight", a, tt.balance)
			}
			// The settle again (republished): applied once.
			if again := apply(t, s, src, rec(4, settle.CommandID, settle.Command)); again[0].Outcome.Status != ledger.StatusApplied || again[0].Final != nil {
				t.Fatalf("a republished settle: got %+v final %+v, want the stored outcome and no second end", again[0].Outcome, again[0].Final)
			}
			if a2, _ := s.Account(ctx, "alice"); a2 != a {
				t.Fatalf("a republished settle changed alice: %+v, want %+v", a2, a)
			}
			checkHeld(t, url, "alice", tt.balance, 0)
			if err := s.MarkPublished(ctx, []string{ledger.TransferCreditID(id), ledger.TransferSettleID(id)}); err != nil {
				t.Fatal(err)
			}
			if left, _ := s.Unpublished(ctx, "cmds", []int32{0, 1}, time.Now().Add(time.Minute), 10); len(left) != 0 {
				t.Fatalf("got %+v unpublished after marking, want none", left)
			}
		})
	}
}

// TestOutboxRowCommittedLate: an outbox row whose transaction commits after
// a later one's is still found: the relay looks for unpublished rows, not
// past a high-water mark.
func TestOutboxRowCommittedLate(t *testing.T) {
	s, url := newStoreURL(t)
	ctx := context.Background()
	src := claimP(t, s, 0)
	apply(t, s, src, rec(0, "oa", open("alice")), rec(1, "da", deposit("alice", 100)))

	late := pgConn(t, url)
	tx, err := late.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (command_id, topic, partition, account_id, value, created_at) VALUES ('late-step', 'cmds', 0, 'alice', '\x7b7d', now() - interval '1 minute')`); err != nil {
		t.Fatal(err)
	}
	res := apply(t, s, src, rec(2, "req", transferCmd("alice", "bob", 10)))
	if err := s.MarkPublished(ctx, []string{res[0].Emit.CommandID}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Unpublished(ctx, "cmds", []int32{0}, time.Now().Add(time.Minute), 10)
	if err != nil || len(rows) != 1 || rows[0].CommandID != "late-step" {
		t.Fatalf("got %+v, %v; want the late row still unpublished", rows, err)
	}
}
