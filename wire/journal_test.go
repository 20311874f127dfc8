package wire

import (
	"errors"
	"strings"
	"testing"

	"github.com/ordo-dev/ordo/ledger"
)

// TestEnvelopeJournalMembers: reference, metadata and an external
// counterparty travel in the envelope, are written in a fixed form and
// read back as they were.
func TestEnvelopeJournalMembers(t *testing.T) {
	meta, err := ledger.NewMetadata("metadata", map[string]string{"order": "42", "channel": "web <b>&</b>", "note": "Müller \"x\""})
	if err != nil {
		t.Fatal(err)
	}
	j := func(c ledger.Command) ledger.Command {
		c.Reference, c.Metadata = "inv-7 / Müller", meta
		return c
	}
	for _, cmd := range []ledger.Command{
		j(ledger.Command{ID: "c1", Kind: ledger.KindOpenAccount, AccountID: "alice", Currency: "USD"}),
		j(ledger.Command{ID: "c2", Kind: ledger.KindDeposit, AccountID: "alice", Amount: 5, Counterparty: "bank:acme"}),
		j(ledger.Command{ID: "c3", Kind: ledger.KindWithdrawal, AccountID: "alice", Amount: 5, Counterparty: "external"}),
		{ID: "c4", Kind: ledger.KindDeposit, AccountID: "alice", Amount: 5, Reference: "only a reference"},
		{ID: "c5", Kind: ledger.KindDeposit, AccountID: "alice", Amount: 5, Metadata: meta},
		j(ledger.Command{ID: "c6", Kind: ledger.KindHold, AccountID: "alice", Amount: 5}),
		j(ledger.Command{ID: "c7", Kind: ledger.KindCapture, AccountID: "alice", HoldID: "h1", Counterparty: "card:visa"}),
		j(ledger.Command{ID: "c8", Kind: ledger.KindRelease, AccountID: "alice", HoldID: "h1"}),
		j(ledger.Command{ID: "c9", Kind: ledger.KindExpireHold, AccountID: "alice", HoldID: "h1"}),
		j(ledger.Command{ID: "c10", Kind: ledger.KindSetOverdraftLimit, AccountID: "alice", OverdraftLimit: 5}),
		j(ledger.Command{ID: "c11", Kind: ledger.KindFreeze, AccountID: "alice"}),
		j(ledger.Command{ID: "c12", Kind: ledger.KindUnfreeze, AccountID: "alice"}),
		j(ledger.Command{ID: "c13", Kind: ledger.KindClose, AccountID: "alice"}),
		j(ledger.Command{ID: "c14", Kind: ledger.KindTransfer, AccountID: "alice", Counterparty: "bob", Amount: 5, Currency: "USD"}),
		j(ledger.Command{ID: "c15", Kind: ledger.KindTransferCredit, AccountID: "bob", Counterparty: "alice", Amount: 5, Currency: "USD", TransferID: "x1"}),
		j(ledger.Command{ID: "c16", Kind: ledger.KindTransferSettle, AccountID: "alice", TransferID: "x1", Reason: ledger.CodeAccountClosed}),
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
	got, err := EncodeCommand(ledger.Command{ID: "c1", Kind: ledger.KindDeposit, AccountID: "alice", Amount: 5, Counterparty: "bank:acme", Reference: "inv-7", Metadata: `{"order":"42"}`})
	if want := `{"v":1,"kind":"deposit","account_id":"alice","amount":5,"counterparty":"bank:acme","reference":"inv-7","metadata":{"order":"42"}}`; err != nil || string(got) != want {
		t.Fatalf("got %s, %v; want %s", got, err, want)
	}
}

// TestDecodeOldEnvelopes: envelopes written before the journal members
// existed read as they did, with none of them set.
func TestDecodeOldEnvelopes(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  ledger.Command
	}{
		{`{"v":1,"kind":"deposit","account_id":"a","amount":1}`, ledger.Command{ID: "c1", Kind: ledger.KindDeposit, AccountID: "a", Amount: 1}},
		{`{"v":1,"kind":"capture","account_id":"a","hold_id":"h1","if_match":3}`, ledger.Command{ID: "c1", Kind: ledger.KindCapture, AccountID: "a", HoldID: "h1", IfMatch: 3}},
		{`{"v":1,"kind":"transfer","account_id":"a","amount":1,"currency":"USD","counterparty":"b"}`,
			ledger.Command{ID: "c1", Kind: ledger.KindTransfer, AccountID: "a", Amount: 1, Currency: "USD", Counterparty: "b"}},
		{`{"v":1,"kind":"transfer_settle","account_id":"a","transfer_id":"x1"}`, ledger.Command{ID: "c1", Kind: ledger.KindTransferSettle, AccountID: "a", TransferID: "x1"}},
		{`{"v":1,"kind":"freeze","account_id":"a"}`, ledger.Command{ID: "c1", Kind: ledger.KindFreeze, AccountID: "a"}},
	} {
		got, err := DecodeCommand("c1", []byte(tt.value))
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.value, got, err, tt.want)
		}
	}
}

func TestDecodeJournalMembers(t *testing.T) {
	ok := []struct {
		name, value string
		want        ledger.Command
	}{
		{"metadata in any order", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":{ "b" : "2", "a":"1" }}`,
			ledger.Command{ID: "c1", Kind: ledger.KindDeposit, AccountID: "a", Amount: 1, Metadata: `{"a":"1","b":"2"}`}},
		{"escaped metadata", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":{"n\u0061me":"M\u00fcller"}}`,
			ledger.Command{ID: "c1", Kind: ledger.KindDeposit, AccountID: "a", Amount: 1, Metadata: `{"name":"Müller"}`}},
		{"empty metadata is none", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":{}}`,
			ledger.Command{ID: "c1", Kind: ledger.KindDeposit, AccountID: "a", Amount: 1}},
		{"empty reference is none", `{"v":1,"kind":"freeze","account_id":"a","reference":""}`,
			ledger.Command{ID: "c1", Kind: ledger.KindFreeze, AccountID: "a"}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCommand("c1", []byte(tt.value))
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	bad := []struct{ name, value, field string }{
		{"counterparty on a hold", `{"v":1,"kind":"hold","account_id":"a","amount":1,"counterparty":"bank"}`, "counterparty"},
		{"counterparty on a release", `{"v":1,"kind":"release","account_id":"a","hold_id":"h","counterparty":"bank"}`, "counterparty"},
		{"counterparty on a freeze", `{"v":1,"kind":"freeze","account_id":"a","counterparty":"bank"}`, "counterparty"},
		{"bad counterparty", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"counterparty":"Bank ACME"}`, "counterparty"},
		{"empty counterparty", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"counterparty":""}`, "counterparty"},
		{"null counterparty", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"counterparty":null}`, "counterparty"},
		{"null reference", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"reference":null}`, "reference"},
		{"reference a number", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"reference":7}`, "reference"},
		{"reference with a newline", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"reference":"a\nb"}`, "reference"},
		{"reference too long", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"reference":"` + strings.Repeat("r", 129) + `"}`, "reference"},
		{"duplicate reference", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"reference":"a","reference":"b"}`, "reference"},
		{"Reference", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"Reference":"a"}`, "Reference"},
		{"null metadata", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":null}`, "metadata"},
		{"metadata a string", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":"{}"}`, "metadata"},
		{"metadata an array", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":[]}`, "metadata"},
		{"metadata number value", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":{"k":1}}`, "metadata"},
		{"metadata null value", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":{"k":null}}`, "metadata"},
		{"metadata nested", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":{"k":{"a":"b"}}}`, "metadata"},
		{"metadata duplicate key", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":{"k":"a","k":"b"}}`, "metadata"},
		{"metadata bad key", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":{"a b":"1"}}`, "metadata"},
		{"metadata value too long", `{"v":1,"kind":"deposit","account_id":"a","amount":1,"metadata":{"k":"` + strings.Repeat("v", 257) + `"}}`, "metadata"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := DecodeCommand("c1", []byte(tt.value))
			if !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("got %+v, %v; want ledger.ErrInvalid", cmd, err)
			}
			var fe *ledger.FieldError
			if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field) {
				t.Fatalf("got %v, want an error on field %q", err, tt.field)
			}
		})
	}
}
