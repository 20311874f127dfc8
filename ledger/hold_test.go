package ledger

import (
	"errors"
	"testing"
	"time"
)

func TestDecideHoldsAndLifecycle(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	expires := t0.Add(time.Hour)
	acct := func(balance, held, overdraft int64, status AccountStatus) *Account {
		return &Account{ID: "alice", Currency: "USD", Status: status, Balance: balance, Held: held, OverdraftLimit: overdraft, Version: 5}
	}
	hold := func(status HoldStatus) *Hold {
		return &Hold{ID: "h1", AccountID: "alice", Amount: 30, Status: status, CreatedAt: t0, ExpiresAt: expires}
	}
	cmd := func(kind Kind, amount int64) Command {
		c := Command{ID: "c1", Kind: kind, AccountID: "alice", Amount: amount, At: t0.Add(time.Minute)}
		switch kind {
		case KindCapture, KindRelease, KindExpireHold:
			c.HoldID = "h1"
		}
		return c
	}
	with := func(c Command, change func(*Command)) Command { change(&c); return c }
	active, frozen, closed := AccountActive, AccountFrozen, AccountClosed

	tests := []struct {
		name         string
		st           State
		cmd          Command
		wantCode     Code // "" when applied
		wantBalance  int64
		wantHeld     int64
		wantStatus   AccountStatus
		wantHold     HoldStatus // the outcome's hold; "" for none
		wantCaptured int64
	}{
		// Holds move money from available to held, never past what may be spent.
		{"hold", State{Account: acct(100, 0, 0, active)}, cmd(KindHold, 30), "", 100, 30, active, HoldOpen, 0},
		{"hold all that may be spent", State{Account: acct(10, 0, 50, active)}, cmd(KindHold, 60), "", 10, 60, active, HoldOpen, 0},
		{"hold past the overdraft", State{Account: acct(10, 0, 50, active)}, cmd(KindHold, 61), CodeInsufficientFunds, 10, 0, active, "", 0},
		{"hold counts open holds", State{Account: acct(100, 80, 0, active)}, cmd(KindHold, 21), CodeInsufficientFunds, 100, 80, active, "", 0},
		{"hold on a frozen account", State{Account: acct(100, 0, 0, frozen)}, cmd(KindHold, 1), CodeAccountFrozen, 100, 0, frozen, "", 0},
		{"hold on a missing account", State{}, cmd(KindHold, 1), CodeAccountNotFound, 0, 0, "", "", 0},
		{"withdrawal cannot spend held money", State{Account: acct(100, 30, 0, active)}, cmd(KindWithdrawal, 71), CodeInsufficientFunds, 100, 30, active, "", 0},
		{"withdrawal spends the rest", State{Account: acct(100, 30, 0, active)}, cmd(KindWithdrawal, 70), "", 30, 30, active, "", 0},

		// Captures take at most the held amount, once, before the expiry.
		{"capture all", State{Account: acct(100, 30, 0, active), Hold: hold(HoldOpen)}, cmd(KindCapture, 0), "", 70, 0, active, HoldCaptured, 30},
		{"capture part, release the rest", State{Account: acct(100, 30, 0, active), Hold: hold(HoldOpen)}, cmd(KindCapture, 20), "", 80, 0, active, HoldCaptured, 20},
		{"capture more than held", State{Account: acct(100, 30, 0, active), Hold: hold(HoldOpen)}, cmd(KindCapture, 31), CodeCaptureExceedsHold, 100, 30, active, HoldOpen, 0},
		{"capture an unknown hold", State{Account: acct(100, 30, 0, active)}, cmd(KindCapture, 0), CodeHoldNotFound, 100, 30, active, "", 0},
		{"capture another account's hold", State{Account: acct(100, 30, 0, active), Hold: &Hold{ID: "h1", AccountID: "bob", Amount: 30, Status: HoldOpen, ExpiresAt: expires}}, cmd(KindCapture, 0), CodeHoldNotFound, 100, 30, active, "", 0},
		{"capture a captured hold", State{Account: acct(70, 0, 0, active), Hold: hold(HoldCaptured)}, cmd(KindCapture, 0), CodeHoldNotOpen, 70, 0, active, HoldCaptured, 0},
		{"capture a released hold", State{Account: acct(100, 0, 0, active), Hold: hold(HoldReleased)}, cmd(KindCapture, 0), CodeHoldNotOpen, 100, 0, active, HoldReleased, 0},
		{"capture just before the expiry", State{Account: acct(100, 30, 0, active), Hold: hold(HoldOpen)}, with(cmd(KindCapture, 0), func(c *Command) { c.At = expires.Add(-time.Nanosecond) }), "", 70, 0, active, HoldCaptured, 30},
		{"capture at the expiry", State{Account: acct(100, 30, 0, active), Hold: hold(HoldOpen)}, with(cmd(KindCapture, 0), func(c *Command) { c.At = expires }), CodeHoldNotOpen, 100, 30, active, HoldExpired, 0},
		{"capture on a frozen account", State{Account: acct(100, 30, 0, frozen), Hold: hold(HoldOpen)}, cmd(KindCapture, 0), CodeAccountFrozen, 100, 30, frozen, HoldOpen, 0},

		// Releases return the whole amount; frozen accounts still release.
		{"release", State{Account: acct(100, 30, 0, active), Hold: hold(HoldOpen)}, cmd(KindRelease, 0), "", 100, 0, active, HoldReleased, 0},
		{"release on a frozen account", State{Account: acct(100, 30, 0, frozen), Hold: hold(HoldOpen)}, cmd(KindRelease, 0), "", 100, 0, frozen, HoldReleased, 0},
		{"release a captured hold", State{Account: acct(70, 0, 0, active), Hold: hold(HoldCaptured)}, cmd(KindRelease, 0), CodeHoldNotOpen, 70, 0, active, HoldCaptured, 0},
		{"release after the expiry", State{Account: acct(100, 30, 0, active), Hold: hold(HoldOpen)}, with(cmd(KindRelease, 0), func(c *Command) { c.At = expires.Add(time.Second) }), CodeHoldNotOpen, 100, 30, active, HoldExpired, 0},

		// Expiry is decided on log time, at the exact boundary.
		{"expire before the expiry", State{Account: acct(100, 30, 0, active), Hold: hold(HoldOpen)}, with(cmd(KindExpireHold, 0), func(c *Command) { c.At = expires.Add(-time.Nanosecond) }), CodeHoldNotExpired, 100, 30, active, HoldOpen, 0},
		{"expire at the expiry", State{Account: acct(100, 30, 0, active), Hold: hold(HoldOpen)}, with(cmd(KindExpireHold, 0), func(c *Command) { c.At = expires }), "", 100, 0, active, HoldExpired, 0},
		{"expire on a frozen account", State{Account: acct(100, 30, 0, frozen), Hold: hold(HoldOpen)}, with(cmd(KindExpireHold, 0), func(c *Command) { c.At = expires }), "", 100, 0, frozen, HoldExpired, 0},
		{"expire a captured hold", State{Account: acct(70, 0, 0, active), Hold: hold(HoldCaptured)}, with(cmd(KindExpireHold, 0), func(c *Command) { c.At = expires }), CodeHoldNotOpen, 70, 0, active, HoldCaptured, 0},

		// If-Match is checked against the version where the command applies.
		{"if-match met", State{Account: acct(100, 0, 0, active)}, with(cmd(KindWithdrawal, 10), func(c *Command) { c.IfMatch = 5 }), "", 90, 0, active, "", 0},
		{"if-match stale", State{Account: acct(100, 0, 0, active)}, with(cmd(KindWithdrawal, 10), func(c *Command) { c.IfMatch = 4 }), CodePreconditionFailed, 100, 0, active, "", 0},
		{"if-match any version", State{Account: acct(100, 0, 0, active)}, with(cmd(KindDeposit, 10), func(c *Command) { c.IfMatch = IfMatchExists }), "", 110, 0, active, "", 0},
		{"if-match on a hold", State{Account: acct(100, 0, 0, active)}, with(cmd(KindHold, 10), func(c *Command) { c.IfMatch = 6 }), CodePreconditionFailed, 100, 0, active, "", 0},
		{"if-match on a capture", State{Account: acct(100, 30, 0, active), Hold: hold(HoldOpen)}, with(cmd(KindCapture, 0), func(c *Command) { c.IfMatch = 6 }), CodePreconditionFailed, 100, 30, active, HoldOpen, 0},
		{"if-match any on a missing account", State{}, with(cmd(KindDeposit, 10), func(c *Command) { c.IfMatch = IfMatchExists }), CodeAccountNotFound, 0, 0, "", "", 0},
		{"open with if-match", State{}, Command{ID: "c1", Kind: KindOpenAccount, AccountID: "alice", Currency: "USD", IfMatch: IfMatchExists}, CodePreconditionFailed, 0, 0, "", "", 0},

		// Overdraft limits cannot go below what is spent of them.
		{"lower the overdraft to what is spent", State{Account: acct(-40, 0, 50, active)}, with(cmd(KindSetOverdraftLimit, 0), func(c *Command) { c.OverdraftLimit = 40 }), "", -40, 0, active, "", 0},
		{"lower the overdraft below what is spent", State{Account: acct(-40, 0, 50, active)}, with(cmd(KindSetOverdraftLimit, 0), func(c *Command) { c.OverdraftLimit = 39 }), CodeOverdraftInUse, -40, 0, active, "", 0},
		{"holds count as spent", State{Account: acct(10, 30, 50, active)}, with(cmd(KindSetOverdraftLimit, 0), func(c *Command) { c.OverdraftLimit = 19 }), CodeOverdraftInUse, 10, 30, active, "", 0},
		{"raise the overdraft", State{Account: acct(100, 0, 0, active)}, with(cmd(KindSetOverdraftLimit, 0), func(c *Command) { c.OverdraftLimit = 500 }), "", 100, 0, active, "", 0},

		// Freezing stops debits, not credits.
		{"freeze", State{Account: acct(100, 0, 0, active)}, cmd(KindFreeze, 0), "", 100, 0, frozen, "", 0},
		{"withdraw from a frozen account", State{Account: acct(100, 0, 0, frozen)}, cmd(KindWithdrawal, 1), CodeAccountFrozen, 100, 0, frozen, "", 0},
		{"deposit to a frozen account", State{Account: acct(100, 0, 0, frozen)}, cmd(KindDeposit, 1), "", 101, 0, frozen, "", 0},
		{"unfreeze", State{Account: acct(100, 0, 0, frozen)}, cmd(KindUnfreeze, 0), "", 100, 0, active, "", 0},

		// Only an empty account closes; a closed account refuses everything.
		{"close", State{Account: acct(0, 0, 0, active)}, cmd(KindClose, 0), "", 0, 0, closed, "", 0},
		{"close a frozen account", State{Account: acct(0, 0, 0, frozen)}, cmd(KindClose, 0), "", 0, 0, closed, "", 0},
		{"close with a balance", State{Account: acct(5, 0, 0, active)}, cmd(KindClose, 0), CodeAccountNotEmpty, 5, 0, active, "", 0},
		{"close overdrawn", State{Account: acct(-5, 0, 10, active)}, cmd(KindClose, 0), CodeAccountNotEmpty, -5, 0, active, "", 0},
		{"close with an open hold", State{Account: acct(30, 30, 0, active)}, cmd(KindClose, 0), CodeAccountNotEmpty, 30, 30, active, "", 0},
		{"deposit to a closed account", State{Account: acct(0, 0, 0, closed)}, cmd(KindDeposit, 1), CodeAccountClosed, 0, 0, closed, "", 0},
		{"unfreeze a closed account", State{Account: acct(0, 0, 0, closed)}, cmd(KindUnfreeze, 0), CodeAccountClosed, 0, 0, closed, "", 0},
		{"if-match on a closed account", State{Account: acct(0, 0, 0, closed)}, with(cmd(KindDeposit, 1), func(c *Command) { c.IfMatch = 1 }), CodeAccountClosed, 0, 0, closed, "", 0},
		{"reopen a closed account", State{Account: acct(0, 0, 0, closed)}, Command{ID: "c1", Kind: KindOpenAccount, AccountID: "alice", Currency: "USD"}, CodeAccountExists, 0, 0, closed, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cmd.Validate(); err != nil {
				t.Fatalf("the test's command is invalid: %v", err)
			}
			d := Decide(tt.st, tt.cmd)
			out := d.Outcome
			if got := out.Code; got != tt.wantCode {
				t.Fatalf("got code %q (%s), want %q", got, out.Detail, tt.wantCode)
			}
			wantState := StatusApplied
			if tt.wantCode != "" {
				wantState = StatusRejected
				if d.Account != nil || d.Hold != nil || d.Entry != nil {
					t.Fatalf("a refusal changed state: %+v %+v %+v", d.Account, d.Hold, d.Entry)
				}
			}
			if out.Status != wantState {
				t.Fatalf("got status %s, want %s", out.Status, wantState)
			}
			if tt.st.Account == nil && tt.wantCode != "" {
				if out.Account != nil {
					t.Fatalf("got account %+v for a missing account, want none", out.Account)
				}
				return
			}
			a := out.Account
			if a.Balance != tt.wantBalance || a.Held != tt.wantHeld || a.Available != a.Balance-a.Held || a.Status != tt.wantStatus {
				t.Fatalf("got balance %d held %d available %d status %s, want %d %d %d %s",
					a.Balance, a.Held, a.Available, a.Status, tt.wantBalance, tt.wantHeld, tt.wantBalance-tt.wantHeld, tt.wantStatus)
			}
			if tt.wantCode == "" && (a.Version != 6 || d.Entry == nil || d.Entry.Version != 6 || d.Entry.BalanceAfter != a.Balance) {
				t.Fatalf("got version %d entry %+v, want version 6 with a matching entry", a.Version, d.Entry)
			}
			if tt.wantCode == "" && d.Entry.Amount != a.Balance-tt.st.Account.Balance {
				t.Fatalf("got entry amount %d, want the balance change %d", d.Entry.Amount, a.Balance-tt.st.Account.Balance)
			}
			if (out.Hold == nil) != (tt.wantHold == "") {
				t.Fatalf("got hold %+v, want status %q", out.Hold, tt.wantHold)
			}
			if out.Hold != nil && (out.Hold.Status != tt.wantHold || out.Hold.Captured != tt.wantCaptured) {
				t.Fatalf("got hold %s captured %d, want %s captured %d", out.Hold.Status, out.Hold.Captured, tt.wantHold, tt.wantCaptured)
			}
		})
	}
}

func TestNewHold(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	acc := &Account{ID: "alice", Currency: "USD", Balance: 100, Version: 1}
	for _, tt := range []struct {
		holdFor time.Duration
		want    time.Time
	}{
		{0, at.Add(7 * 24 * time.Hour)},
		{15 * time.Minute, at.Add(15 * time.Minute)},
	} {
		d := Decide(State{Account: acc}, Command{ID: "idem-1", Kind: KindHold, AccountID: "alice", Amount: 30, HoldFor: tt.holdFor, At: at})
		h := d.Hold
		if h == nil || h.ID != HoldIDFor("idem-1") || h.AccountID != "alice" || h.Amount != 30 || h.Status != HoldOpen || !h.CreatedAt.Equal(at) || !h.ExpiresAt.Equal(tt.want) {
			t.Fatalf("expires in %s: got %+v, want an open hold of 30 from %s to %s", tt.holdFor, h, at, tt.want)
		}
	}
	first, again := HoldIDFor("idem-1"), HoldIDFor(string([]byte("idem-1")))
	if first == HoldIDFor("idem-2") || first != again {
		t.Fatal("hold IDs must follow the command ID: equal for equal IDs, different for different ones")
	}
}

// TestHoldSettledOnce: whatever sequence of captures, releases and expiries
// reaches a hold, exactly the first settles it, and held returns to zero.
func TestHoldSettledOnce(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	acc := &Account{ID: "alice", Currency: "USD", Balance: 100, Version: 1}
	d := Decide(State{Account: acc}, Command{ID: "c0", Kind: KindHold, AccountID: "alice", Amount: 30, HoldFor: time.Hour, At: t0})
	acc, h := d.Account, d.Hold
	kinds := []Kind{KindCapture, KindRelease, KindCapture, KindExpireHold, KindRelease, KindCapture}
	applied := 0
	for i, k := range kinds {
		at := t0.Add(time.Duration(i) * time.Minute)
		if k == KindExpireHold {
			at = t0.Add(2 * time.Hour)
		}
		d := Decide(State{Account: acc, Hold: h}, Command{ID: "s", Kind: k, AccountID: "alice", HoldID: h.ID, Amount: 0, At: at})
		if d.Outcome.Status == StatusApplied {
			applied++
			acc, h = d.Account, d.Hold
		} else if d.Outcome.Code != CodeHoldNotOpen {
			t.Fatalf("%s: got %s, want hold_not_open", k, d.Outcome.Code)
		}
	}
	if applied != 1 || h.Status != HoldCaptured || acc.Held != 0 || acc.Balance != 70 {
		t.Fatalf("got %d settlements, hold %s, held %d, balance %d; want 1, captured, 0, 70", applied, h.Status, acc.Held, acc.Balance)
	}
}

func TestValidateNewKinds(t *testing.T) {
	base := func(k Kind) Command { return Command{ID: "c1", Kind: k, AccountID: "alice"} }
	with := func(c Command, change func(*Command)) Command { change(&c); return c }
	tests := []struct {
		name  string
		cmd   Command
		field string // "" when valid
	}{
		{"hold", with(base(KindHold), func(c *Command) { c.Amount = 1 }), ""},
		{"hold without amount", base(KindHold), "amount"},
		{"hold for a second", with(base(KindHold), func(c *Command) { c.Amount = 1; c.HoldFor = time.Second }), ""},
		{"hold too short", with(base(KindHold), func(c *Command) { c.Amount = 1; c.HoldFor = time.Second - 1 }), "expires_in"},
		{"hold for 30 days", with(base(KindHold), func(c *Command) { c.Amount = 1; c.HoldFor = MaxHoldFor }), ""},
		{"hold too long", with(base(KindHold), func(c *Command) { c.Amount = 1; c.HoldFor = MaxHoldFor + 1 }), "expires_in"},
		{"capture all", with(base(KindCapture), func(c *Command) { c.HoldID = "h1" }), ""},
		{"capture part", with(base(KindCapture), func(c *Command) { c.HoldID = "h1"; c.Amount = 5 }), ""},
		{"capture negative", with(base(KindCapture), func(c *Command) { c.HoldID = "h1"; c.Amount = -5 }), "amount"},
		{"capture without hold", base(KindCapture), "hold_id"},
		{"release with amount", with(base(KindRelease), func(c *Command) { c.HoldID = "h1"; c.Amount = 5 }), "amount"},
		{"deposit with currency", with(base(KindDeposit), func(c *Command) { c.Amount = 5; c.Currency = "USD" }), "currency"},
		{"open with amount", with(base(KindOpenAccount), func(c *Command) { c.Currency = "USD"; c.Amount = 5 }), "amount"},
		{"freeze with hold id", with(base(KindFreeze), func(c *Command) { c.HoldID = "h1" }), "hold_id"},
		{"set overdraft", with(base(KindSetOverdraftLimit), func(c *Command) { c.OverdraftLimit = 10 }), ""},
		{"set overdraft negative", with(base(KindSetOverdraftLimit), func(c *Command) { c.OverdraftLimit = -1 }), "overdraft_limit"},
		{"close", base(KindClose), ""},
		{"if-match version", with(base(KindClose), func(c *Command) { c.IfMatch = 3 }), ""},
		{"if-match any", with(base(KindClose), func(c *Command) { c.IfMatch = IfMatchExists }), ""},
		{"if-match bad", with(base(KindClose), func(c *Command) { c.IfMatch = -2 }), "if_match"},
		{"unknown kind", base("payout"), "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cmd.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("got %v, want a FieldError for %s", err, tt.field)
			}
		})
	}
}
