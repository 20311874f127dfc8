package ledger

import (
	"bytes"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	funded := &Account{ID: "alice", Currency: "USD", Balance: 100, Version: 3}
	overdraft := &Account{ID: "bob", Currency: "USD", Balance: 10, OverdraftLimit: 50, Version: 1}
	held := &Account{ID: "carol", Currency: "USD", Balance: 100, Held: 60, Version: 2}
	full := &Account{ID: "dan", Currency: "USD", Balance: MaxAmount - 5, Version: 9}

	tests := []struct {
		name        string
		acc         *Account
		cmd         Command
		wantStatus  Status
		wantCode    Code
		wantBalance int64 // balance in the outcome's account snapshot
		wantVersion int64
		wantEntry   int64 // signed entry amount; only checked when applied
	}{
		{"open new", nil, Command{ID: "c1", Kind: KindOpenAccount, AccountID: "x", Currency: "EUR"}, StatusApplied, "", 0, 1, 0},
		{"open existing", funded, Command{ID: "c1", Kind: KindOpenAccount, AccountID: "alice", Currency: "USD"}, StatusRejected, CodeAccountExists, 100, 3, 0},
		{"deposit", funded, Command{ID: "c1", Kind: KindDeposit, AccountID: "alice", Amount: 50}, StatusApplied, "", 150, 4, 50},
		{"deposit unknown account", nil, Command{ID: "c1", Kind: KindDeposit, AccountID: "ghost", Amount: 5}, StatusRejected, CodeAccountNotFound, 0, 0, 0},
		{"deposit to the limit", full, Command{ID: "c1", Kind: KindDeposit, AccountID: "dan", Amount: 5}, StatusApplied, "", MaxAmount, 10, 5},
		{"deposit past the limit", full, Command{ID: "c1", Kind: KindDeposit, AccountID: "dan", Amount: 6}, StatusRejected, CodeBalanceLimitExceeded, MaxAmount - 5, 9, 0},
		{"withdraw part", funded, Command{ID: "c1", Kind: KindWithdrawal, AccountID: "alice", Amount: 40}, StatusApplied, "", 60, 4, -40},
		{"withdraw all", funded, Command{ID: "c1", Kind: KindWithdrawal, AccountID: "alice", Amount: 100}, StatusApplied, "", 0, 4, -100},
		{"withdraw one too many", funded, Command{ID: "c1", Kind: KindWithdrawal, AccountID: "alice", Amount: 101}, StatusRejected, CodeInsufficientFunds, 100, 3, 0},
		{"withdraw into overdraft", overdraft, Command{ID: "c1", Kind: KindWithdrawal, AccountID: "bob", Amount: 60}, StatusApplied, "", -50, 2, -60},
		{"withdraw past overdraft", overdraft, Command{ID: "c1", Kind: KindWithdrawal, AccountID: "bob", Amount: 61}, StatusRejected, CodeInsufficientFunds, 10, 1, 0},
		{"withdraw respects holds", held, Command{ID: "c1", Kind: KindWithdrawal, AccountID: "carol", Amount: 41}, StatusRejected, CodeInsufficientFunds, 100, 2, 0},
		{"withdraw unknown account", nil, Command{ID: "c1", Kind: KindWithdrawal, AccountID: "ghost", Amount: 5}, StatusRejected, CodeAccountNotFound, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before Account
			if tt.acc != nil {
				before = *tt.acc
			}
			d := Decide(State{Account: tt.acc}, tt.cmd)
			if tt.acc != nil && *tt.acc != before {
				t.Fatalf("Decide mutated its input: got %+v, want %+v", *tt.acc, before)
			}
			if d.Outcome.Status != tt.wantStatus || d.Outcome.Code != tt.wantCode {
				t.Fatalf("got %s/%s, want %s/%s", d.Outcome.Status, d.Outcome.Code, tt.wantStatus, tt.wantCode)
			}
			if d.Outcome.CommandID != tt.cmd.ID {
				t.Errorf("got command ID %q, want %q", d.Outcome.CommandID, tt.cmd.ID)
			}
			if tt.acc == nil && tt.wantStatus == StatusRejected {
				if d.Outcome.Account != nil {
					t.Errorf("got account %+v for a missing account, want none", d.Outcome.Account)
				}
				return
			}
			snap := d.Outcome.Account
			if snap == nil {
				t.Fatal("got no account snapshot, want one")
			}
			if snap.Balance != tt.wantBalance || snap.Version != tt.wantVersion {
				t.Errorf("got balance %d version %d, want %d and %d", snap.Balance, snap.Version, tt.wantBalance, tt.wantVersion)
			}
			if snap.Available != snap.Balance-snap.Held {
				t.Errorf("got available %d, want balance-held %d", snap.Available, snap.Balance-snap.Held)
			}
			if tt.wantStatus == StatusRejected {
				if d.Account != nil || d.Entry != nil {
					t.Errorf("a rejection changed state: account %+v entry %+v", d.Account, d.Entry)
				}
				return
			}
			if d.Account == nil || d.Entry == nil {
				t.Fatal("an applied command returned no new state or entry")
			}
			if d.Entry.Amount != tt.wantEntry || d.Entry.BalanceAfter != tt.wantBalance || d.Entry.Version != tt.wantVersion {
				t.Errorf("got entry %+v, want amount %d balance_after %d version %d", *d.Entry, tt.wantEntry, tt.wantBalance, tt.wantVersion)
			}
		})
	}
}

// TestDecideSequence replays the race from the README: ten withdrawals of 10
// from 100 succeed, the rest are refused, and versions stay contiguous.
func TestDecideSequence(t *testing.T) {
	acc := &Account{ID: "alice", Currency: "USD", Balance: 100, Version: 1}
	applied, refused := 0, 0
	for i := 0; i < 50; i++ {
		d := Decide(State{Account: acc}, Command{ID: "w", Kind: KindWithdrawal, AccountID: "alice", Amount: 10})
		switch d.Outcome.Status {
		case StatusApplied:
			applied++
			if d.Account.Version != acc.Version+1 {
				t.Fatalf("got version %d after %d, want contiguous", d.Account.Version, acc.Version)
			}
			acc = d.Account
		default:
			refused++
		}
	}
	if applied != 10 || refused != 40 || acc.Balance != 0 || acc.Version != 11 {
		t.Fatalf("got %d applied, %d refused, balance %d, version %d; want 10, 40, 0, 11", applied, refused, acc.Balance, acc.Version)
	}
}

func TestFingerprint(t *testing.T) {
	base := Command{ID: "a", Kind: KindDeposit, AccountID: "alice", Amount: 10}
	same := base
	same.ID = "b"
	if !bytes.Equal(base.Fingerprint(), same.Fingerprint()) {
		t.Error("fingerprint depends on the command ID; want it not to")
	}
	for name, c := range map[string]Command{
		"amount":  {ID: "a", Kind: KindDeposit, AccountID: "alice", Amount: 11},
		"kind":    {ID: "a", Kind: KindWithdrawal, AccountID: "alice", Amount: 10},
		"account": {ID: "a", Kind: KindDeposit, AccountID: "alicf", Amount: 10},
		// Length-prefixed fields: moving a character between fields differs.
		"boundary": {ID: "a", Kind: KindDeposit, AccountID: "alic", Amount: 10, Currency: "e"},
	} {
		if bytes.Equal(base.Fingerprint(), c.Fingerprint()) {
			t.Errorf("%s: got equal fingerprints for different requests", name)
		}
	}
}

func TestDecideAt(t *testing.T) {
	deadline := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	funded := &Account{ID: "alice", Currency: "USD", Balance: 100, Version: 3}
	tests := []struct {
		name        string
		acc         *Account
		deadline    time.Time
		now         time.Time
		wantStatus  Status
		wantCode    Code
		wantBalance int64
	}{
		{"before the deadline", funded, deadline, deadline.Add(-time.Second), StatusApplied, "", 60},
		{"at the deadline", funded, deadline, deadline, StatusApplied, "", 60},
		{"after the deadline", funded, deadline, deadline.Add(time.Millisecond), StatusRejected, CodeExpired, 100},
		{"no deadline", funded, time.Time{}, deadline.Add(1000 * time.Hour), StatusApplied, "", 60},
		{"expired on a missing account", nil, deadline, deadline.Add(time.Hour), StatusRejected, CodeExpired, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := Command{ID: "c1", Kind: KindWithdrawal, AccountID: "alice", Amount: 40, Deadline: tt.deadline}
			d := DecideAt(State{Account: tt.acc}, cmd, tt.now)
			if d.Outcome.Status != tt.wantStatus || d.Outcome.Code != tt.wantCode {
				t.Fatalf("got %s/%s, want %s/%s", d.Outcome.Status, d.Outcome.Code, tt.wantStatus, tt.wantCode)
			}
			if tt.wantCode == CodeExpired && (d.Account != nil || d.Entry != nil) {
				t.Fatalf("an expired command changed state: %+v %+v", d.Account, d.Entry)
			}
			if tt.acc != nil && d.Outcome.Account.Balance != tt.wantBalance {
				t.Errorf("got balance %d, want %d", d.Outcome.Account.Balance, tt.wantBalance)
			}
		})
	}
}

func TestFingerprintIgnoresDeadline(t *testing.T) {
	a := Command{ID: "a", Kind: KindDeposit, AccountID: "alice", Amount: 10, Deadline: time.Unix(100, 0)}
	b := a
	b.Deadline = time.Unix(200, 0)
	if !bytes.Equal(a.Fingerprint(), b.Fingerprint()) {
		t.Error("got different fingerprints for a retry with a later deadline, want equal")
	}
}
