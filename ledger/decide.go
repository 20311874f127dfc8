package ledger

import (
	"fmt"
	"time"
)

// Decision is what Decide returns: the outcome, and for an applied command
// the account's new state and its journal entry.
type Decision struct {
	Outcome Outcome
	Account *Account // new state; nil when nothing changed
	Entry   *Entry   // journal row; nil when nothing changed
}

// Decide applies cmd to the account's current state. acc is nil when the
// account does not exist. It is pure: the caller persists the result. cmd
// must already be valid (Command.Validate).
func Decide(acc *Account, cmd Command) Decision {
	out := Outcome{CommandID: cmd.ID, Kind: cmd.Kind, AccountID: cmd.AccountID}
	reject := func(code Code, detail string) Decision {
		out.Status, out.Code, out.Detail = StatusRejected, code, detail
		if acc != nil {
			a := acc.withDerived()
			out.Account = &a
		}
		return Decision{Outcome: out}
	}
	apply := func(next Account, amount int64) Decision {
		next.Version++
		next = next.withDerived()
		out.Status = StatusApplied
		out.Account = &next
		return Decision{
			Outcome: out,
			Account: &next,
			Entry: &Entry{
				AccountID: next.ID, Version: next.Version, CommandID: cmd.ID,
				Kind: cmd.Kind, Amount: amount, BalanceAfter: next.Balance,
			},
		}
	}

	if cmd.Kind == KindOpenAccount {
		if acc != nil {
			return reject(CodeAccountExists, fmt.Sprintf("account %q already exists", cmd.AccountID))
		}
		return apply(Account{ID: cmd.AccountID, Currency: cmd.Currency, OverdraftLimit: cmd.OverdraftLimit}, 0)
	}
	if acc == nil {
		return reject(CodeAccountNotFound, fmt.Sprintf("account %q does not exist", cmd.AccountID))
	}
	next := *acc
	switch cmd.Kind {
	case KindDeposit:
		if next.Balance > MaxAmount-cmd.Amount {
			return reject(CodeBalanceLimitExceeded, fmt.Sprintf("the balance would exceed %d", MaxAmount))
		}
		next.Balance += cmd.Amount
		return apply(next, cmd.Amount)
	case KindWithdrawal:
		// Available plus the overdraft limit is what may be spent; amounts are
		// bounded by MaxAmount, so none of this overflows int64.
		spendable := acc.Balance - acc.Held + acc.OverdraftLimit
		if cmd.Amount > spendable {
			return reject(CodeInsufficientFunds, fmt.Sprintf("withdrawal of %d exceeds the %d that may be spent (available balance plus overdraft limit)", cmd.Amount, spendable))
		}
		next.Balance -= cmd.Amount
		return apply(next, -cmd.Amount)
	default:
		return reject(CodeInvalidCommand, fmt.Sprintf("unknown command kind %q", cmd.Kind))
	}
}

// DecideAt decides cmd as Decide does, unless its deadline has passed at
// now: then it is refused as expired and changes nothing. now is the
// decider's clock, read once per decision and passed in, so the rule stays
// pure and testable.
func DecideAt(acc *Account, cmd Command, now time.Time) Decision {
	if !cmd.Deadline.IsZero() && now.After(cmd.Deadline) {
		out := Outcome{
			CommandID: cmd.ID, Kind: cmd.Kind, AccountID: cmd.AccountID, Status: StatusRejected, Code: CodeExpired,
			Detail: fmt.Sprintf("the command was not decided before its deadline %s; it did not take effect", cmd.Deadline.UTC().Format(time.RFC3339Nano)),
		}
		if acc != nil {
			a := acc.withDerived()
			out.Account = &a
		}
		return Decision{Outcome: out}
	}
	return Decide(acc, cmd)
}
