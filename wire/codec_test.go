package wire

import (
	"testing"

	"github.com/ordo-dev/ordo/ledger"
)

// BenchmarkCodec measures the JSON work each command costs on the hot
// path: the command record is encoded by the API and decoded by the
// consumer; the outcome is encoded by the consumer (reply and stored row)
// and decoded by the API's reply listener.
func BenchmarkCodec(b *testing.B) {
	cmd := ledger.Command{ID: "c1", Kind: ledger.KindWithdrawal, AccountID: "acct-004217", Amount: 1250}
	value, err := EncodeCommand(cmd)
	if err != nil {
		b.Fatal(err)
	}
	out := ledger.Outcome{
		CommandID: "bench-1-000042", Kind: ledger.KindWithdrawal, AccountID: "acct-004217", Status: ledger.StatusApplied,
		Account: &ledger.Account{ID: "acct-004217", Currency: "USD", Balance: 998750, Available: 998750, Version: 17},
	}
	reply, err := EncodeOutcome(out)
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		fn   func() error
	}{
		{"encode_command", func() error { _, err := EncodeCommand(cmd); return err }},
		{"decode_command", func() error { _, err := DecodeCommand("c1", value); return err }},
		{"encode_outcome", func() error { _, err := EncodeOutcome(out); return err }},
		{"decode_outcome", func() error { _, err := DecodeOutcome(reply); return err }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bm.fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestOutcomeRoundTrip(t *testing.T) {
	for _, out := range []ledger.Outcome{
		{CommandID: "c1", Kind: ledger.KindDeposit, AccountID: "alice", Status: ledger.StatusApplied,
			Account: &ledger.Account{ID: "alice", Currency: "USD", Balance: 150, Held: 0, Available: 150, OverdraftLimit: 10, Version: 3}},
		{CommandID: "c2", Kind: ledger.KindWithdrawal, AccountID: "bob", Status: ledger.StatusRejected, Code: ledger.CodeInsufficientFunds, Detail: "balance 5 < 10 \"quoted\" é"},
		{CommandID: "c3", Status: ledger.StatusRejected, Code: ledger.CodeInvalidCommand},
	} {
		b, err := EncodeOutcome(out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeOutcome(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if got.Account != nil && out.Account != nil && *got.Account == *out.Account {
			got.Account = out.Account
		}
		if got != out {
			t.Errorf("got %+v, want %+v", got, out)
		}
	}
	if _, err := DecodeOutcome([]byte(`{"command_id":`)); err == nil {
		t.Error("a truncated outcome decoded without error")
	}
}
