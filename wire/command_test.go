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
		{ID: "c4", Kind: ledger.KindOpenAccount, AccountID: "bob", Currency: "EUR"},
		{ID: "c5", Kind: ledger.KindWithdrawal, AccountID: "alice", Amount: 25, Deadline: time.Date(2026, 11, 30, 13, 0, 0, 123e6, time.UTC)},
		{ID: "c6", Kind: ledger.KindHold, AccountID: "alice", Amount: 30, HoldFor: 15 * time.Minute, IfMatch: 7},
		{ID: "c7", Kind: ledger.KindHold, AccountID: "alice", Amount: 30},
		{ID: "c8", Kind: ledger.KindCapture, AccountID: "alice", HoldID: "hold-1", Amount: 20, IfMatch: ledger.IfMatchExists},
		{ID: "c9", Kind: ledger.KindCapture, AccountID: "alice", HoldID: "hold-1"},
		{ID: "c10", Kind: ledger.KindRelease, AccountID: "alice", HoldID: "hold-1"},
		{ID: "c11", Kind: ledger.KindExpireHold, AccountID: "alice", HoldID: "hold-1"},
		{ID: "c12", Kind: ledger.KindSetOverdraftLimit, AccountID: "alice", OverdraftLimit: 0},
		{ID: "c13", Kind: ledger.KindSetOverdraftLimit, AccountID: "alice", OverdraftLimit: 500},
		{ID: "c14", Kind: ledger.KindFreeze, AccountID: "alice"},
		{ID: "c15", Kind: ledger.KindUnfreeze, AccountID: "alice", IfMatch: 3},
		{ID: "c16", Kind: ledger.KindClose, AccountID: "alice"},
		{ID: "c17", Kind: ledger.KindTransfer, AccountID: "alice", Counterparty: "bob", Amount: 5, Currency: "USD", IfMatch: 4},
		{ID: "c18", Kind: ledger.KindTransferCredit, AccountID: "bob", Counterparty: "alice", Amount: 5, Currency: "USD", TransferID: "xfer-1"},
		{ID: "c19", Kind: ledger.KindTransferSettle, AccountID: "alice", TransferID: "xfer-1"},
		{ID: "c20", Kind: ledger.KindTransferSettle, AccountID: "alice", TransferID: "xfer-1", Reason: ledger.CodeAccountNotFound},
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
	tests := []struct{ name, value, field string }{
		{"not json", `not json`, ""},
		{"empty", ``, ""},
		{"wrong version", `{"v":2,"kind":"deposit","account_id":"a","amount":1}`, ""},
		{"missing version", `{"kind":"deposit","account_id":"a","amount":1}`, ""},
		{"unknown field", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"extra":true}`, ""},
		{"unknown kind", `{"v":1,"kind":"payout","account_id":"a","amount":1}`, ""},
		{"transfer to itself", `{"v":1,"kind":"transfer","account_id":"a","amount":1,"currency":"USD","counterparty":"a"}`, "counterparty"},
		{"transfer without currency", `{"v":1,"kind":"transfer","account_id":"a","amount":1,"counterparty":"b"}`, "currency"},
		{"transfer with a transfer id", `{"v":1,"kind":"transfer","account_id":"a","amount":1,"currency":"USD","counterparty":"b","transfer_id":"x"}`, "transfer_id"},
		{"settle with a deadline-free amount", `{"v":1,"kind":"transfer_settle","account_id":"a","transfer_id":"x","amount":1}`, "amount"},
		{"zero amount", `{"v":1,"kind":"deposit","account_id":"a","amount":0}`, ""},
		{"negative amount", `{"v":1,"kind":"withdrawal","account_id":"a","amount":-5}`, ""},
		{"fractional amount", `{"v":1,"kind":"deposit","account_id":"a","amount":1.5}`, ""},
		{"amount too large", `{"v":1,"kind":"deposit","account_id":"a","amount":9007199254740992}`, ""},
		{"bad account", `{"v":1,"kind":"deposit","account_id":"a b","amount":1}`, ""},
		{"bad currency", `{"v":1,"kind":"open_account","account_id":"a","currency":"usd"}`, ""},
		{"trailing data", `{"v":1,"kind":"deposit","account_id":"a","amount":1} {}`, ""},
		// Issue 11 item 6: members of another kind are refused, not ignored.
		{"currency on a deposit", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"currency":"USD"}`, "currency"},
		{"overdraft limit on a withdrawal", `{"v":1,"kind":"withdrawal","account_id":"a","amount":1,"overdraft_limit":0}`, "overdraft_limit"},
		{"amount on an open_account", `{"v":1,"kind":"open_account","account_id":"a","currency":"USD","amount":5}`, "amount"},
		{"null amount on an open_account", `{"v":1,"kind":"open_account","account_id":"a","currency":"USD","amount":null}`, "amount"},
		// Item 15: the rules of the HTTP bodies.
		{"duplicate amount", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"amount":1000}`, "amount"},
		{"name in another case", `{"v":1,"kind":"deposit","account_id":"a","Amount":7}`, "Amount"},
		{"null amount", `{"v":1,"kind":"deposit","account_id":"a","amount":null}`, "amount"},
		{"null overdraft limit", `{"v":1,"kind":"open_account","account_id":"a","currency":"USD","overdraft_limit":null}`, "overdraft_limit"},
		{"fractional overdraft limit", `{"v":1,"kind":"open_account","account_id":"a","currency":"USD","overdraft_limit":1.5}`, "overdraft_limit"},
		{"exponent amount", `{"v":1,"kind":"deposit","account_id":"a","amount":1e2}`, "amount"},
		{"amount as a string", `{"v":1,"kind":"deposit","account_id":"a","amount":"5"}`, "amount"},
		{"null kind", `{"v":1,"kind":null,"account_id":"a","amount":1}`, "kind"},
		{"version as a string", `{"v":"1","kind":"deposit","account_id":"a","amount":1}`, "v"},
		{"version 1.0", `{"v":1.0,"kind":"deposit","account_id":"a","amount":1}`, "v"},
		{"missing amount", `{"v":1,"kind":"deposit","account_id":"a"}`, "amount"},
		{"invalid UTF-8", "{\"v\":1,\"kind\":\"deposit\",\"account_id\":\"a\xff\",\"amount\":1}", ""},
		{"dot dot account", `{"v":1,"kind":"deposit","account_id":"..","amount":1}`, "account_id"},
		{"not an object", `[1]`, ""},
		{"bad deadline", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"deadline":"tomorrow"}`, "deadline"},
		{"deadline not a string", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"deadline":1767000000}`, "deadline"},
		{"hold id on a deposit", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"hold_id":"h"}`, "hold_id"},
		{"expires_in on a capture", `{"v":1,"kind":"capture","account_id":"a","hold_id":"h","expires_in":"1m"}`, "expires_in"},
		{"capture without hold", `{"v":1,"kind":"capture","account_id":"a","amount":1}`, "hold_id"},
		{"amount on a release", `{"v":1,"kind":"release","account_id":"a","hold_id":"h","amount":1}`, "amount"},
		{"hold without amount", `{"v":1,"kind":"hold","account_id":"a"}`, "amount"},
		{"hold for a bad duration", `{"v":1,"kind":"hold","account_id":"a","amount":1,"expires_in":"soon"}`, "expires_in"},
		{"hold too long", `{"v":1,"kind":"hold","account_id":"a","amount":1,"expires_in":"721h"}`, "expires_in"},
		{"set overdraft without a limit", `{"v":1,"kind":"set_overdraft_limit","account_id":"a"}`, "overdraft_limit"},
		{"amount on a freeze", `{"v":1,"kind":"freeze","account_id":"a","amount":1}`, "amount"},
		{"if_match zero", `{"v":1,"kind":"close","account_id":"a","if_match":0}`, "if_match"},
		{"if_match a word", `{"v":1,"kind":"close","account_id":"a","if_match":"latest"}`, "if_match"},
		{"if_match null", `{"v":1,"kind":"close","account_id":"a","if_match":null}`, "if_match"},
		{"null", `null`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := DecodeCommand("c1", []byte(tt.value))
			if !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("got %+v, %v; want an ledger.ErrInvalid", cmd, err)
			}
			var fe *ledger.FieldError
			if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field) {
				t.Fatalf("got %v, want an error on field %q", err, tt.field)
			}
		})
	}
}

// TestDecodeCommandAccepts pins what other clients may send: members in
// any order, whitespace, escapes, an explicit zero overdraft limit.
func TestDecodeCommandAccepts(t *testing.T) {
	tests := []struct {
		name, value string
		want        ledger.Command
	}{
		{"reordered", `{"amount":5,"account_id":"a","kind":"deposit","v":1}`,
			ledger.Command{ID: "c1", Kind: ledger.KindDeposit, AccountID: "a", Amount: 5}},
		{"whitespace", " {\n\t\"v\" : 1, \"kind\":\"withdrawal\", \"account_id\":\"a\", \"amount\":7 }\n",
			ledger.Command{ID: "c1", Kind: ledger.KindWithdrawal, AccountID: "a", Amount: 7}},
		{"escaped", `{"v":1,"kind":"dep\u006fsit","account_id":"\u0061","amount":1}`,
			ledger.Command{ID: "c1", Kind: ledger.KindDeposit, AccountID: "a", Amount: 1}},
		{"zero overdraft limit", `{"v":1,"kind":"open_account","account_id":"a","currency":"USD","overdraft_limit":0}`,
			ledger.Command{ID: "c1", Kind: ledger.KindOpenAccount, AccountID: "a", Currency: "USD"}},
		{"no overdraft limit", `{"v":1,"kind":"open_account","account_id":"a","currency":"USD"}`,
			ledger.Command{ID: "c1", Kind: ledger.KindOpenAccount, AccountID: "a", Currency: "USD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCommand("c1", []byte(tt.value))
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestEncodeCommandFormat(t *testing.T) {
	tests := []struct {
		cmd  ledger.Command
		want string
	}{
		{ledger.Command{ID: "c1", Kind: ledger.KindDeposit, AccountID: "alice", Amount: 100},
			`{"v":1,"kind":"deposit","account_id":"alice","amount":100}`},
		{ledger.Command{ID: "c2", Kind: ledger.KindOpenAccount, AccountID: "alice", Currency: "USD"},
			`{"v":1,"kind":"open_account","account_id":"alice","currency":"USD"}`},
		{ledger.Command{ID: "c3", Kind: ledger.KindOpenAccount, AccountID: "bob", Currency: "EUR", OverdraftLimit: 500},
			`{"v":1,"kind":"open_account","account_id":"bob","currency":"EUR","overdraft_limit":500}`},
	}
	for _, tt := range tests {
		t.Run(tt.cmd.ID, func(t *testing.T) {
			got, err := EncodeCommand(tt.cmd)
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}
