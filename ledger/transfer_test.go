package ledger

import (
	"testing"
	"time"
)

func TestDecideTransfer(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	acct := func(id, cur string, balance, held, inFlight, overdraft int64, status AccountStatus) *Account {
		return &Account{ID: id, Currency: cur, Status: status, Balance: balance, Held: held, InFlight: inFlight, OverdraftLimit: overdraft, Version: 4}
	}
	transfer := func(amount int64) Command {
		return Command{ID: "c1", Kind: KindTransfer, AccountID: "a", Counterparty: "b", Amount: amount, Currency: "USD", At: t0}
	}
	id := TransferIDFor("c1")
	pending := &Transfer{ID: id, From: "a", To: "b", Amount: 30, Currency: "USD", Status: TransferPending, CreatedAt: t0, CommandID: "c1"}
	credit := Command{ID: TransferCreditID(id), Kind: KindTransferCredit, AccountID: "b", Counterparty: "a", Amount: 30, Currency: "USD", TransferID: id, At: t0}
	settle := func(reason Code) Command {
		return Command{ID: TransferSettleID(id), Kind: KindTransferSettle, AccountID: "a", TransferID: id, Reason: reason, At: t0.Add(time.Second)}
	}
	with := func(c Command, change func(*Command)) Command { change(&c); return c }
	active, frozen, closed := AccountActive, AccountFrozen, AccountClosed

	tests := []struct {
		name         string
		st           State
		cmd          Command
		wantCode     Code // "" when applied
		wantBalance  int64
		wantInFlight int64
		wantTransfer TransferStatus // "" for none in the outcome
		wantEmit     Kind           // "" for none
		wantReason   Code           // the emitted settle's reason
	}{
		// Step 1: the debit, on the source.
		{"debit", State{Account: acct("a", "USD", 100, 0, 0, 0, active)}, transfer(30), "", 70, 30, TransferPending, KindTransferCredit, ""},
		{"debit into the overdraft", State{Account: acct("a", "USD", 10, 0, 0, 50, active)}, transfer(60), "", -50, 60, TransferPending, KindTransferCredit, ""},
		{"debit past what may be spent", State{Account: acct("a", "USD", 100, 80, 0, 0, active)}, transfer(21), CodeInsufficientFunds, 100, 0, "", "", ""},
		{"debit in another currency", State{Account: acct("a", "EUR", 100, 0, 0, 0, active)}, transfer(30), CodeCurrencyMismatch, 100, 0, "", "", ""},
		{"debit from a frozen account", State{Account: acct("a", "USD", 100, 0, 0, 0, frozen)}, transfer(30), CodeAccountFrozen, 100, 0, "", "", ""},
		{"debit from a closed account", State{Account: acct("a", "USD", 0, 0, 0, 0, closed)}, transfer(30), CodeAccountClosed, 0, 0, "", "", ""},
		{"debit from a missing account", State{}, transfer(30), CodeAccountNotFound, 0, 0, "", "", ""},
		{"debit with a stale If-Match", State{Account: acct("a", "USD", 100, 0, 0, 0, active)}, with(transfer(30), func(c *Command) { c.IfMatch = 3 }), CodePreconditionFailed, 100, 0, "", "", ""},

		// Step 2: the credit, on the destination; a refusal still emits the settle.
		{"credit", State{Account: acct("b", "USD", 5, 0, 0, 0, active)}, credit, "", 35, 0, "", KindTransferSettle, ""},
		{"credit to a frozen account", State{Account: acct("b", "USD", 5, 0, 0, 0, frozen)}, credit, "", 35, 0, "", KindTransferSettle, ""},
		{"credit to a missing account", State{}, credit, CodeAccountNotFound, 0, 0, "", KindTransferSettle, CodeAccountNotFound},
		{"credit to a closed account", State{Account: acct("b", "USD", 0, 0, 0, 0, closed)}, credit, CodeAccountClosed, 0, 0, "", KindTransferSettle, CodeAccountClosed},
		{"credit in another currency", State{Account: acct("b", "EUR", 5, 0, 0, 0, active)}, credit, CodeCurrencyMismatch, 5, 0, "", KindTransferSettle, CodeCurrencyMismatch},
		{"credit past the balance limit", State{Account: acct("b", "USD", MaxAmount-29, 0, 0, 0, active)}, credit, CodeBalanceLimitExceeded, MaxAmount - 29, 0, "", KindTransferSettle, CodeBalanceLimitExceeded},

		// Step 3: the settle, on the source: completes or refunds, once.
		{"complete", State{Account: acct("a", "USD", 70, 0, 30, 0, active), Transfer: pending}, settle(""), "", 70, 0, TransferCompleted, "", ""},
		{"refund", State{Account: acct("a", "USD", 70, 0, 30, 0, active), Transfer: pending}, settle(CodeAccountNotFound), "", 100, 0, TransferRefunded, "", ""},
		{"refund to a frozen account", State{Account: acct("a", "USD", 70, 0, 30, 0, frozen), Transfer: pending}, settle(CodeAccountClosed), "", 100, 0, TransferRefunded, "", ""},
		{"settle twice", State{Account: acct("a", "USD", 70, 0, 0, 0, active), Transfer: &Transfer{ID: id, From: "a", Status: TransferCompleted}}, settle(""), CodeTransferNotPending, 70, 0, "", "", ""},
		{"settle an unknown transfer", State{Account: acct("a", "USD", 70, 0, 30, 0, active)}, settle(""), CodeTransferNotFound, 70, 30, "", "", ""},

		// Money in flight keeps an account open.
		{"close with money in flight", State{Account: acct("a", "USD", 0, 0, 30, 0, active)}, Command{ID: "c9", Kind: KindClose, AccountID: "a"}, CodeAccountNotEmpty, 0, 30, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cmd.Validate(); err != nil {
				t.Fatalf("the test's command is invalid: %v", err)
			}
			d := Decide(tt.st, tt.cmd)
			if d.Outcome.Code != tt.wantCode {
				t.Fatalf("got code %q (%s), want %q", d.Outcome.Code, d.Outcome.Detail, tt.wantCode)
			}
			if tt.wantCode != "" && (d.Account != nil || d.Entry != nil || d.Transfer != nil) {
				t.Fatalf("a refusal changed state: %+v %+v %+v", d.Account, d.Entry, d.Transfer)
			}
			if a := d.Outcome.Account; a != nil && (a.Balance != tt.wantBalance || a.InFlight != tt.wantInFlight) {
				t.Fatalf("got balance %d in flight %d, want %d and %d", a.Balance, a.InFlight, tt.wantBalance, tt.wantInFlight)
			}
			if tt.wantCode == "" && d.Entry.Amount != tt.wantBalance-tt.st.Account.Balance {
				t.Fatalf("got entry amount %d, want the balance change %d", d.Entry.Amount, tt.wantBalance-tt.st.Account.Balance)
			}
			var got TransferStatus
			if d.Outcome.Transfer != nil {
				got = d.Outcome.Transfer.Status
			}
			if got != tt.wantTransfer {
				t.Fatalf("got transfer %q, want %q", got, tt.wantTransfer)
			}
			var emit Kind
			if d.Emit != nil {
				emit = d.Emit.Kind
				if err := d.Emit.Validate(); err != nil {
					t.Fatalf("emitted an invalid command %+v: %v", d.Emit, err)
				}
			}
			if emit != tt.wantEmit || (d.Emit != nil && d.Emit.Reason != tt.wantReason) {
				t.Fatalf("got emitted %+v, want %q with reason %q", d.Emit, tt.wantEmit, tt.wantReason)
			}
		})
	}
}

// TestTransferSaga runs the three steps in sequence, as the log would, and
// checks that money is conserved at every point and the steps chain by ID.
func TestTransferSaga(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		to     *Account
		status TransferStatus
	}{
		{"completed", &Account{ID: "b", Currency: "USD", Balance: 5, Version: 1}, TransferCompleted},
		{"refunded", nil, TransferRefunded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			from := &Account{ID: "a", Currency: "USD", Balance: 100, Version: 1}
			to := tt.to
			total := func() int64 {
				n := from.Balance + from.InFlight
				if to != nil {
					n += to.Balance
				}
				return n
			}
			want := total()
			d1 := Decide(State{Account: from}, Command{ID: "req", Kind: KindTransfer, AccountID: "a", Counterparty: "b", Amount: 40, Currency: "USD", At: t0})
			from = d1.Account
			if total() != want || d1.Emit.ID != TransferCreditID(d1.Transfer.ID) {
				t.Fatalf("after the debit: total %d, want %d; emitted %+v", total(), want, d1.Emit)
			}
			d2 := Decide(State{Account: to}, *d1.Emit)
			if d2.Account != nil {
				to = d2.Account
			}
			if d2.Emit.ID != TransferSettleID(d1.Transfer.ID) {
				t.Fatalf("got emitted %+v, want the settle", d2.Emit)
			}
			d3 := Decide(State{Account: from, Transfer: d1.Transfer}, *d2.Emit)
			from = d3.Account
			if total() != want || from.InFlight != 0 || d3.Transfer.Status != tt.status {
				t.Fatalf("after the settle: total %d (want %d), in flight %d, status %s (want %s)", total(), want, from.InFlight, d3.Transfer.Status, tt.status)
			}
			if again := Decide(State{Account: from, Transfer: d3.Transfer}, *d2.Emit); again.Outcome.Code != CodeTransferNotPending {
				t.Fatalf("a second settle: got %s, want transfer_not_pending", again.Outcome.Code)
			}
		})
	}
}

func TestTransferValidation(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cmd   Command
		field string
	}{
		{"to itself", Command{ID: "c", Kind: KindTransfer, AccountID: "a", Counterparty: "a", Amount: 1, Currency: "USD"}, "counterparty"},
		{"no destination", Command{ID: "c", Kind: KindTransfer, AccountID: "a", Amount: 1, Currency: "USD"}, "counterparty"},
		{"no currency", Command{ID: "c", Kind: KindTransfer, AccountID: "a", Counterparty: "b", Amount: 1}, "currency"},
		{"credit without transfer", Command{ID: "c", Kind: KindTransferCredit, AccountID: "b", Counterparty: "a", Amount: 1, Currency: "USD"}, "transfer_id"},
		{"settle with an amount", Command{ID: "c", Kind: KindTransferSettle, AccountID: "a", TransferID: "x", Amount: 1}, "amount"},
		{"internal step with If-Match", Command{ID: "c", Kind: KindTransferSettle, AccountID: "a", TransferID: "x", IfMatch: 2}, "if_match"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fe, ok := tt.cmd.Validate().(*FieldError)
			if !ok || fe.Field != tt.field {
				t.Fatalf("got %v, want a FieldError for %s", tt.cmd.Validate(), tt.field)
			}
		})
	}
}
