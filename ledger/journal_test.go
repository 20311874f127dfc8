package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestValidateCounterparty(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"external", true},
		{"bank:acme", true},
		{"card-network.visa_eu", true},
		{"0bank", true},
		{strings.Repeat("b", 64), true},
		{strings.Repeat("b", 65), false},
		{"", false},
		{"Bank", false},
		{":bank", false},
		{"-bank", false},
		{"bank acme", false},
		{"bank/acme", false},
		{"bänk", false},
		{"bank\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateCounterparty("counterparty", tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			var fe *FieldError
			if err != nil && (!errors.As(err, &fe) || fe.Field != "counterparty") {
				t.Fatalf("got %v, want a FieldError for counterparty", err)
			}
		})
	}
}

func TestValidateReference(t *testing.T) {
	tests := []struct {
		name, ref string
		ok        bool
	}{
		{"empty", "", true},
		{"plain", "invoice 2026-11/42", true},
		{"unicode", "Rechnung für Müller €5", true},
		{"longest", strings.Repeat("x", 128), true},
		{"longest in runes", strings.Repeat("é", 128), true},
		{"too long", strings.Repeat("x", 129), false},
		{"too long in runes", strings.Repeat("é", 129), false},
		{"newline", "a\nb", false},
		{"tab", "a\tb", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"C1 control", "a\u0085b", false},
		{"invalid UTF-8", "a\xffb", false},
		{"line separator", "a\u2028b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateReference("reference", tt.ref); (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNewMetadata(t *testing.T) {
	many := map[string]string{}
	for i := range MaxMetadataKeys {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	tooMany := map[string]string{"extra": "v"}
	for k, v := range many {
		tooMany[k] = v
	}
	tests := []struct {
		name string
		m    map[string]string
		want Metadata // "" with ok: no metadata
		ok   bool
	}{
		{"nil", nil, "", true},
		{"empty", map[string]string{}, "", true},
		{"sorted keys", map[string]string{"z": "1", "a": "2", "M.x_y-9": ""}, `{"M.x_y-9":"","a":"2","z":"1"}`, true},
		{"no HTML escaping", map[string]string{"note": `<a href="x">&</a>`}, `{"note":"<a href=\"x\">&</a>"}`, true},
		{"unicode kept", map[string]string{"name": "Müller"}, `{"name":"Müller"}`, true},
		{"16 keys", many, "", true},
		{"17 keys", tooMany, "", false},
		{"longest key", map[string]string{strings.Repeat("k", 64): "v"}, "", true},
		{"key too long", map[string]string{strings.Repeat("k", 65): "v"}, "", false},
		{"empty key", map[string]string{"": "v"}, "", false},
		{"key with space", map[string]string{"a b": "v"}, "", false},
		{"key with colon", map[string]string{"a:b": "v"}, "", false},
		{"longest value", map[string]string{"k": strings.Repeat("v", 256)}, "", true},
		{"value too long", map[string]string{"k": strings.Repeat("v", 257)}, "", false},
		{"value with newline", map[string]string{"k": "a\nb"}, "", false},
		{"value not UTF-8", map[string]string{"k": "\xff"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewMetadata("metadata", tt.m)
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "metadata" || !errors.Is(err, ErrInvalid) {
					t.Fatalf("got %v, want a FieldError for metadata", err)
				}
				return
			}
			if tt.want != "" && got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if len(tt.m) == 0 && got != "" {
				t.Fatalf("got %q for no metadata, want empty", got)
			}
			back, err := got.Map()
			if err != nil || len(back) != len(tt.m) {
				t.Fatalf("Map: got %v, %v; want %v", back, err, tt.m)
			}
			for k, v := range tt.m {
				if back[k] != v {
					t.Fatalf("Map: got %q=%q, want %q", k, back[k], v)
				}
			}
			if err := got.validate("metadata"); err != nil {
				t.Fatalf("the canonical form does not validate: %v", err)
			}
		})
	}
}

func TestValidateJournalFields(t *testing.T) {
	meta, err := NewMetadata("metadata", map[string]string{"order": "42"})
	if err != nil {
		t.Fatal(err)
	}
	base := map[Kind]Command{
		KindOpenAccount:       {Currency: "USD"},
		KindDeposit:           {Amount: 1},
		KindWithdrawal:        {Amount: 1},
		KindHold:              {Amount: 1},
		KindCapture:           {HoldID: "h1"},
		KindRelease:           {HoldID: "h1"},
		KindExpireHold:        {HoldID: "h1"},
		KindSetOverdraftLimit: {OverdraftLimit: 5},
		KindFreeze:            {},
		KindUnfreeze:          {},
		KindClose:             {},
		KindTransfer:          {Amount: 1, Currency: "USD", Counterparty: "bob"},
		KindTransferCredit:    {Amount: 1, Currency: "USD", Counterparty: "bob", TransferID: "x1"},
		KindTransferSettle:    {TransferID: "x1"},
	}
	for _, k := range Kinds {
		cmd := base[k]
		cmd.ID, cmd.Kind, cmd.AccountID = "c1", k, "alice"
		t.Run(string(k), func(t *testing.T) {
			withJournal := cmd
			withJournal.Reference, withJournal.Metadata = "inv-7", meta
			if err := withJournal.Validate(); err != nil {
				t.Errorf("reference and metadata: got %v, want valid", err)
			}
			for _, tt := range []struct {
				name  string
				set   func(*Command)
				field string
			}{
				{"bad reference", func(c *Command) { c.Reference = "a\nb" }, "reference"},
				{"metadata not JSON", func(c *Command) { c.Metadata = "order=42" }, "metadata"},
				{"metadata not canonical", func(c *Command) { c.Metadata = `{ "order": "42" }` }, "metadata"},
				{"metadata empty object", func(c *Command) { c.Metadata = `{}` }, "metadata"},
				{"metadata not strings", func(c *Command) { c.Metadata = `{"order":42}` }, "metadata"},
				{"metadata with a bad key", func(c *Command) { c.Metadata = `{"a b":"1"}` }, "metadata"},
			} {
				bad := cmd
				tt.set(&bad)
				var fe *FieldError
				if err := bad.Validate(); !errors.As(err, &fe) || fe.Field != tt.field {
					t.Errorf("%s: got %v, want a FieldError for %s", tt.name, err, tt.field)
				}
			}
		})
	}
	for _, tt := range []struct {
		name  string
		cmd   Command
		field string // "" when valid
	}{
		{"deposit from a bank", Command{Kind: KindDeposit, Amount: 1, Counterparty: "bank:acme"}, ""},
		{"withdrawal to the default", Command{Kind: KindWithdrawal, Amount: 1, Counterparty: "external"}, ""},
		{"capture by a card network", Command{Kind: KindCapture, HoldID: "h1", Counterparty: "card:visa"}, ""},
		{"deposit from a bad name", Command{Kind: KindDeposit, Amount: 1, Counterparty: "Bank ACME"}, "counterparty"},
		{"capture by a bad name", Command{Kind: KindCapture, HoldID: "h1", Counterparty: "-x"}, "counterparty"},
		{"hold with a counterparty", Command{Kind: KindHold, Amount: 1, Counterparty: "bank"}, "counterparty"},
		{"release with a counterparty", Command{Kind: KindRelease, HoldID: "h1", Counterparty: "bank"}, "counterparty"},
		{"freeze with a counterparty", Command{Kind: KindFreeze, Counterparty: "bank"}, "counterparty"},
		{"open with a counterparty", Command{Kind: KindOpenAccount, Currency: "USD", Counterparty: "bank"}, "counterparty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := tt.cmd
			cmd.ID, cmd.AccountID = "c1", "alice"
			err := cmd.Validate()
			var fe *FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("got %v, want valid", err)
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Fatalf("got %v, want a FieldError for %s", err, tt.field)
			}
		})
	}
}

func TestFingerprintJournalFields(t *testing.T) {
	meta := func(m map[string]string) Metadata {
		t.Helper()
		md, err := NewMetadata("metadata", m)
		if err != nil {
			t.Fatal(err)
		}
		return md
	}
	dep := Command{ID: "c1", Kind: KindDeposit, AccountID: "alice", Amount: 5}
	with := func(f func(*Command)) Command {
		c := dep
		f(&c)
		return c
	}
	tests := []struct {
		name string
		a, b Command
		same bool
	}{
		{"default counterparty named or not", dep, with(func(c *Command) { c.Counterparty = DefaultCounterparty }), true},
		{"another counterparty", dep, with(func(c *Command) { c.Counterparty = "bank:acme" }), false},
		{"two counterparties", with(func(c *Command) { c.Counterparty = "bank:a" }), with(func(c *Command) { c.Counterparty = "bank:b" }), false},
		{"a reference", dep, with(func(c *Command) { c.Reference = "inv-7" }), false},
		{"another reference", with(func(c *Command) { c.Reference = "inv-7" }), with(func(c *Command) { c.Reference = "inv-8" }), false},
		{"metadata", dep, with(func(c *Command) { c.Metadata = meta(map[string]string{"k": "v"}) }), false},
		{"other metadata", with(func(c *Command) { c.Metadata = meta(map[string]string{"k": "v"}) }), with(func(c *Command) { c.Metadata = meta(map[string]string{"k": "w"}) }), false},
		{"same metadata", with(func(c *Command) { c.Metadata = meta(map[string]string{"a": "1", "b": "2"}) }), with(func(c *Command) { c.Metadata = meta(map[string]string{"b": "2", "a": "1"}) }), true},
		{"reference is not metadata", with(func(c *Command) { c.Reference = `{"k":"v"}` }), with(func(c *Command) { c.Metadata = `{"k":"v"}` }), false},
		{"another command ID, the same journal fields", with(func(c *Command) { c.Reference = "r" }), with(func(c *Command) { c.Reference, c.ID = "r", "c2" }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if same := bytes.Equal(tt.a.Fingerprint(), tt.b.Fingerprint()); same != tt.same {
				t.Fatalf("got same=%v, want %v", same, tt.same)
			}
		})
	}
	// A transfer's destination named "external" is an account, not the
	// default counterparty.
	xfer := Command{ID: "t", Kind: KindTransfer, AccountID: "alice", Amount: 1, Currency: "USD", Counterparty: "external"}
	plain := xfer
	plain.Counterparty = ""
	if bytes.Equal(xfer.Fingerprint(), plain.Fingerprint()) {
		t.Fatal("a transfer to account \"external\" has the fingerprint of one to no account")
	}
}

// TestFingerprintStable pins the fingerprints of commands without journal
// fields: they are stored with every decided command, and a retry after an
// upgrade must still match.
func TestFingerprintStable(t *testing.T) {
	for _, tt := range []struct {
		cmd  Command
		want string
	}{
		{Command{Kind: KindDeposit, AccountID: "alice", Amount: 5}, "694ebfa4"},
		{Command{Kind: KindTransfer, AccountID: "alice", Amount: 5, Currency: "USD", Counterparty: "bob"}, "350b0f3b"},
		{Command{Kind: KindCapture, AccountID: "alice", HoldID: "h1"}, "6506a10d"},
	} {
		if got := fmt.Sprintf("%x", tt.cmd.Fingerprint()[:4]); got != tt.want {
			t.Errorf("%s: got fingerprint %s…, want %s…", tt.cmd.Kind, got, tt.want)
		}
	}
}

func TestDecideJournal(t *testing.T) {
	meta, err := NewMetadata("metadata", map[string]string{"order": "42"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	acc := &Account{ID: "alice", Currency: "USD", Status: AccountActive, Balance: 100, Held: 30, OverdraftLimit: 20, InFlight: 7, Version: 5}
	frozen := &Account{ID: "alice", Currency: "USD", Status: AccountFrozen, Balance: 100, Version: 5}
	openHold := &Hold{ID: "h1", AccountID: "alice", Amount: 30, Status: HoldOpen, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	pending := &Transfer{ID: "x1", From: "alice", To: "bob", Amount: 7, Currency: "USD", Status: TransferPending}
	tests := []struct {
		name             string
		st               State
		cmd              Command
		wantAmount       int64
		wantCounterparty string
		wantExternal     bool
		want             Account // the state after, as the entry records it
	}{
		{"deposit, default counterparty", State{Account: acc}, Command{Kind: KindDeposit, Amount: 10},
			10, DefaultCounterparty, true, Account{Status: AccountActive, Balance: 110, Held: 30, InFlight: 7, OverdraftLimit: 20}},
		{"deposit from a bank", State{Account: acc}, Command{Kind: KindDeposit, Amount: 10, Counterparty: "bank:acme"},
			10, "bank:acme", true, Account{Status: AccountActive, Balance: 110, Held: 30, InFlight: 7, OverdraftLimit: 20}},
		{"withdrawal to a bank", State{Account: acc}, Command{Kind: KindWithdrawal, Amount: 10, Counterparty: "bank:acme"},
			-10, "bank:acme", true, Account{Status: AccountActive, Balance: 90, Held: 30, InFlight: 7, OverdraftLimit: 20}},
		{"deposit to a frozen account", State{Account: frozen}, Command{Kind: KindDeposit, Amount: 10},
			10, DefaultCounterparty, true, Account{Status: AccountFrozen, Balance: 110}},
		{"hold moves no money", State{Account: acc}, Command{Kind: KindHold, Amount: 10},
			0, "", false, Account{Status: AccountActive, Balance: 100, Held: 40, InFlight: 7, OverdraftLimit: 20}},
		{"capture by a card network", State{Account: acc, Hold: openHold}, Command{Kind: KindCapture, HoldID: "h1", Amount: 25, Counterparty: "card:visa"},
			-25, "card:visa", true, Account{Status: AccountActive, Balance: 75, InFlight: 7, OverdraftLimit: 20}},
		{"capture, default counterparty", State{Account: acc, Hold: openHold}, Command{Kind: KindCapture, HoldID: "h1"},
			-30, DefaultCounterparty, true, Account{Status: AccountActive, Balance: 70, InFlight: 7, OverdraftLimit: 20}},
		{"release moves no money", State{Account: acc, Hold: openHold}, Command{Kind: KindRelease, HoldID: "h1"},
			0, "", false, Account{Status: AccountActive, Balance: 100, InFlight: 7, OverdraftLimit: 20}},
		{"overdraft limit", State{Account: acc}, Command{Kind: KindSetOverdraftLimit, OverdraftLimit: 50},
			0, "", false, Account{Status: AccountActive, Balance: 100, Held: 30, InFlight: 7, OverdraftLimit: 50}},
		{"freeze", State{Account: acc}, Command{Kind: KindFreeze},
			0, "", false, Account{Status: AccountFrozen, Balance: 100, Held: 30, InFlight: 7, OverdraftLimit: 20}},
		{"open", State{}, Command{Kind: KindOpenAccount, Currency: "USD", OverdraftLimit: 5},
			0, "", false, Account{Status: AccountActive, OverdraftLimit: 5}},
		{"transfer debit", State{Account: acc}, Command{Kind: KindTransfer, Amount: 10, Currency: "USD", Counterparty: "bob"},
			-10, "bob", false, Account{Status: AccountActive, Balance: 90, Held: 30, InFlight: 17, OverdraftLimit: 20}},
		{"transfer credit", State{Account: acc}, Command{Kind: KindTransferCredit, Amount: 10, Currency: "USD", Counterparty: "carol", TransferID: "x9"},
			10, "carol", false, Account{Status: AccountActive, Balance: 110, Held: 30, InFlight: 7, OverdraftLimit: 20}},
		{"transfer refund", State{Account: acc, Transfer: pending}, Command{Kind: KindTransferSettle, TransferID: "x1", Reason: CodeAccountNotFound},
			7, "bob", false, Account{Status: AccountActive, Balance: 107, Held: 30, OverdraftLimit: 20}},
		{"transfer completed moves no money", State{Account: acc, Transfer: pending}, Command{Kind: KindTransferSettle, TransferID: "x1"},
			0, "", false, Account{Status: AccountActive, Balance: 100, Held: 30, OverdraftLimit: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := tt.cmd
			cmd.ID, cmd.AccountID, cmd.At = "c1", "alice", at.Add(time.Minute)
			cmd.Reference, cmd.Metadata = "inv-7", meta
			if err := cmd.Validate(); err != nil {
				t.Fatalf("invalid command: %v", err)
			}
			d := Decide(tt.st, cmd)
			if d.Outcome.Status != StatusApplied || d.Entry == nil {
				t.Fatalf("got %s/%s, want applied with an entry", d.Outcome.Status, d.Outcome.Code)
			}
			e := *d.Entry
			if e.Amount != tt.wantAmount || e.Counterparty != tt.wantCounterparty || e.HasExternalSide() != tt.wantExternal {
				t.Errorf("got amount %d, counterparty %q, external side %v; want %d, %q, %v",
					e.Amount, e.Counterparty, e.HasExternalSide(), tt.wantAmount, tt.wantCounterparty, tt.wantExternal)
			}
			if e.Reference != "inv-7" || e.Metadata != meta {
				t.Errorf("got reference %q, metadata %s; want inv-7, %s", e.Reference, e.Metadata, meta)
			}
			got := Account{Status: e.StatusAfter, Balance: e.BalanceAfter, Held: e.HeldAfter, InFlight: e.InFlightAfter, OverdraftLimit: e.OverdraftLimitAfter}
			if got != tt.want {
				t.Errorf("got state after %+v, want %+v", got, tt.want)
			}
			a := d.Account
			if a.Status != e.StatusAfter || a.Balance != e.BalanceAfter || a.Held != e.HeldAfter || a.InFlight != e.InFlightAfter || a.OverdraftLimit != e.OverdraftLimitAfter {
				t.Errorf("got entry state %+v, account %+v: want them equal", got, *a)
			}
		})
	}
}

// TestTransferStepsCarryJournalFields: the credit a transfer emits and the
// settle a credit emits carry the transfer's reference and metadata, so
// the destination's credit and the source's refund are found by them too.
func TestTransferStepsCarryJournalFields(t *testing.T) {
	meta, err := NewMetadata("metadata", map[string]string{"order": "42"})
	if err != nil {
		t.Fatal(err)
	}
	alice := &Account{ID: "alice", Currency: "USD", Status: AccountActive, Balance: 100, Version: 1}
	bob := &Account{ID: "bob", Currency: "USD", Status: AccountActive, Version: 1}
	xfer := Command{ID: "t1", Kind: KindTransfer, AccountID: "alice", Amount: 10, Currency: "USD", Counterparty: "bob", Reference: "inv-7", Metadata: meta}
	d := Decide(State{Account: alice}, xfer)
	if d.Emit == nil || d.Emit.Reference != "inv-7" || d.Emit.Metadata != meta {
		t.Fatalf("got credit %+v, want one with the transfer's reference and metadata", d.Emit)
	}
	for _, dst := range []*Account{bob, nil} { // credited, refused
		c := Decide(State{Account: dst}, *d.Emit)
		if c.Emit == nil || c.Emit.Reference != "inv-7" || c.Emit.Metadata != meta {
			t.Fatalf("got settle %+v, want one with the transfer's reference and metadata", c.Emit)
		}
		if err := c.Emit.Validate(); err != nil {
			t.Fatalf("settle step invalid: %v", err)
		}
	}
}
