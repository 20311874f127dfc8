package wire

import (
	"errors"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, cmd := range []ledger.Command{
		{ID: "c1", Kind: ledger.KindOpenAccount, AccountID: "alice", Currency: "USD", OverdraftLimit: 500},
		{ID: "c2", Kind: ledger.KindDeposit, AccountID: "alice", Amount: ledger.MaxAmount},
		{ID: "c3", Kind: ledger.KindWithdrawal, AccountID: "a.b:c-d_e", Amount: 1},
		{ID: "c4", Kind: ledger.KindWithdrawal, AccountID: "alice", Amount: 25, Deadline: time.Date(2026, 11, 30, 13, 0, 0, 123e6, time.UTC)},
	} {
		b, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeCommand(cmd.ID, b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if got != cmd {
			t.Errorf("got %+v, want %+v", got, cmd)
		}
	}
}

func TestDecodeCommandRejects(t *testing.T) {
	tests := []struct{ name, value string }{
		{"not json", `not json`},
		{"empty", ``},
		{"wrong version", `{"v":2,"kind":"deposit","account_id":"a","amount":1}`},
		{"missing version", `{"kind":"deposit","account_id":"a","amount":1}`},
		{"unknown field", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"extra":true}`},
		{"unknown kind", `{"v":1,"kind":"transfer","account_id":"a","amount":1}`},
		{"zero amount", `{"v":1,"kind":"deposit","account_id":"a","amount":0}`},
		{"negative amount", `{"v":1,"kind":"withdrawal","account_id":"a","amount":-5}`},
		{"fractional amount", `{"v":1,"kind":"deposit","account_id":"a","amount":1.5}`},
		{"bad deadline", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"deadline":"tomorrow"}`},
		{"deadline not a string", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"deadline":1767000000}`},
		{"amount too large", `{"v":1,"kind":"deposit","account_id":"a","amount":9007199254740992}`},
		{"bad account", `{"v":1,"kind":"deposit","account_id":"a b","amount":1}`},
		{"bad currency", `{"v":1,"kind":"open_account","account_id":"a","currency":"usd"}`},
		{"trailing data", `{"v":1,"kind":"deposit","account_id":"a","amount":1} {}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCommand("c1", []byte(tt.value))
			if !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("got %v, want an ledger.ErrInvalid", err)
			}
		})
	}
}
