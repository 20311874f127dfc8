package ledger

import (
	"fmt"
	"time"
)

// State is what a command is decided against.
type State struct {
	Account *Account // nil when the account does not exist
	// Hold is the hold the command names (capture, release, expire_hold),
	// nil when there is none with that ID.
	Hold *Hold
	// Transfer is the transfer a transfer_settle names, nil when there is
	// none with that ID.
	Transfer *Transfer
}

// Decision is what Decide returns: the outcome, and for an applied command
// the account's new state, the hold it created or settled, and its journal
// entry.
type Decision struct {
	Outcome Outcome
	Account *Account // new state; nil when nothing changed
	Hold    *Hold    // new or settled hold; nil when no hold changed
	Entry   *Entry   // journal row; nil when nothing changed
	// Transfer is the transfer the command started or settled.
	Transfer *Transfer
	// Emit is the next step of a saga this decision starts or continues:
	// a command for another account, to be published to the log once this
	// decision has committed. It is set for refusals too (a refused credit
	// still emits the settle that refunds the debit).
	Emit *Command
}

// DecideAt decides cmd as Decide does, unless its deadline has passed at
// now: then it is refused as expired and changes nothing. now is the
// decider's clock, read once per decision and passed in, so the rule stays
// pure and testable. It is the only rule that reads a wall clock: whether a
// command came too late depends on when it is decided, which no log time
// tells; the decision is stored, so it is never made twice.
func DecideAt(st State, cmd Command, now time.Time) Decision {
	if !cmd.Deadline.IsZero() && now.After(cmd.Deadline) {
		return refuse(st, cmd, CodeExpired, fmt.Sprintf("the command was not decided before its deadline %s; it did not take effect", cmd.Deadline.UTC().Format(time.RFC3339Nano)))
	}
	return Decide(st, cmd)
}

// Decide applies cmd to the state it names. It is pure: the caller persists
// the result. cmd must already be valid (Command.Validate). Time-dependent
// rules (hold expiry) use cmd.At, the command's log time.
//
// The checks run in this order: the account exists (or, to open it, does
// not); it is not closed; the If-Match condition holds; then the kind's own
// rules.
func Decide(st State, cmd Command) Decision {
	acc := st.Account
	if cmd.Kind == KindTransferCredit {
		return credit(st, cmd)
	}
	if cmd.Kind == KindOpenAccount {
		if acc != nil {
			return refuse(st, cmd, CodeAccountExists, fmt.Sprintf("account %q already exists", cmd.AccountID))
		}
		if cmd.IfMatch != IfMatchNone {
			return refuse(st, cmd, CodePreconditionFailed, fmt.Sprintf("If-Match requires account %q to exist", cmd.AccountID))
		}
		return apply(st, cmd, Account{ID: cmd.AccountID, Currency: cmd.Currency, Status: AccountActive, OverdraftLimit: cmd.OverdraftLimit}, nil, 0)
	}
	if acc == nil {
		return refuse(st, cmd, CodeAccountNotFound, fmt.Sprintf("account %q does not exist", cmd.AccountID))
	}
	a := acc.withDerived()
	if a.Status == AccountClosed {
		return refuse(st, cmd, CodeAccountClosed, fmt.Sprintf("account %q is closed", cmd.AccountID))
	}
	if cmd.IfMatch > 0 && cmd.IfMatch != a.Version {
		return refuse(st, cmd, CodePreconditionFailed, fmt.Sprintf("If-Match requires version %d; the account is at version %d", cmd.IfMatch, a.Version))
	}
	frozen := func() Decision {
		return refuse(st, cmd, CodeAccountFrozen, fmt.Sprintf("account %q is frozen: debits, new holds and captures are refused", cmd.AccountID))
	}
	next := a
	switch cmd.Kind {
	case KindDeposit:
		// Money in flight may come back as a refund, which cannot be
		// refused: it counts against the limit already.
		if next.Balance+next.InFlight > MaxAmount-cmd.Amount {
			return refuse(st, cmd, CodeBalanceLimitExceeded, fmt.Sprintf("the balance (with %d in transfers that may be refunded) would exceed %d", next.InFlight, MaxAmount))
		}
		next.Balance += cmd.Amount
		return apply(st, cmd, next, nil, cmd.Amount)

	case KindWithdrawal:
		if a.Status == AccountFrozen {
			return frozen()
		}
		if cmd.Amount > a.spendable() {
			return refuse(st, cmd, CodeInsufficientFunds, fmt.Sprintf("withdrawal of %d exceeds the %d that may be spent (available balance plus overdraft limit)", cmd.Amount, a.spendable()))
		}
		next.Balance -= cmd.Amount
		return apply(st, cmd, next, nil, -cmd.Amount)

	case KindHold:
		if a.Status == AccountFrozen {
			return frozen()
		}
		if cmd.Amount > a.spendable() {
			return refuse(st, cmd, CodeInsufficientFunds, fmt.Sprintf("hold of %d exceeds the %d that may be spent (available balance plus overdraft limit)", cmd.Amount, a.spendable()))
		}
		holdFor := cmd.HoldFor
		if holdFor == 0 {
			holdFor = DefaultHoldFor
		}
		h := Hold{
			ID: HoldIDFor(cmd.ID), AccountID: a.ID, Amount: cmd.Amount, Status: HoldOpen,
			CreatedAt: cmd.At, ExpiresAt: cmd.At.Add(holdFor),
		}
		next.Held += cmd.Amount
		return apply(st, cmd, next, &h, 0)

	case KindCapture, KindRelease, KindExpireHold:
		return settle(st, cmd, a)

	case KindSetOverdraftLimit:
		if spent := -a.Available; cmd.OverdraftLimit < spent {
			return refuse(st, cmd, CodeOverdraftInUse, fmt.Sprintf("the account already spends %d of its overdraft; the limit cannot go below that", spent))
		}
		next.OverdraftLimit = cmd.OverdraftLimit
		return apply(st, cmd, next, nil, 0)

	case KindFreeze:
		next.Status = AccountFrozen
		return apply(st, cmd, next, nil, 0)

	case KindUnfreeze:
		next.Status = AccountActive
		return apply(st, cmd, next, nil, 0)

	case KindClose:
		if a.Balance != 0 || a.Held != 0 || a.InFlight != 0 {
			return refuse(st, cmd, CodeAccountNotEmpty, fmt.Sprintf("account %q holds a balance of %d, %d in open holds and %d in transfers on their way; only an empty account can be closed", cmd.AccountID, a.Balance, a.Held, a.InFlight))
		}
		next.Status = AccountClosed
		return apply(st, cmd, next, nil, 0)

	case KindTransfer:
		if a.Status == AccountFrozen {
			return frozen()
		}
		if cmd.Currency != a.Currency {
			return refuse(st, cmd, CodeCurrencyMismatch, fmt.Sprintf("account %q holds %s, not %s", a.ID, a.Currency, cmd.Currency))
		}
		if cmd.Amount > a.spendable() {
			return refuse(st, cmd, CodeInsufficientFunds, fmt.Sprintf("transfer of %d exceeds the %d that may be spent (available balance plus overdraft limit)", cmd.Amount, a.spendable()))
		}
		t := Transfer{
			ID: TransferIDFor(cmd.ID), From: a.ID, To: cmd.Counterparty, Amount: cmd.Amount, Currency: cmd.Currency,
			Status: TransferPending, CreatedAt: cmd.At, CommandID: cmd.ID,
		}
		next.Balance -= cmd.Amount
		next.InFlight += cmd.Amount
		d := apply(st, cmd, next, nil, -cmd.Amount)
		d.Transfer, d.Outcome.Transfer = &t, &t
		d.Emit = &Command{
			ID: TransferCreditID(t.ID), Kind: KindTransferCredit, AccountID: t.To, Counterparty: t.From,
			Amount: t.Amount, Currency: t.Currency, TransferID: t.ID,
			Reference: cmd.Reference, Metadata: cmd.Metadata,
		}
		return d

	case KindTransferSettle:
		t := st.Transfer
		if t == nil || t.ID != cmd.TransferID || t.From != a.ID {
			return refuse(st, cmd, CodeTransferNotFound, fmt.Sprintf("account %q sent no transfer %q", a.ID, cmd.TransferID))
		}
		if t.Status != TransferPending {
			return refuse(st, cmd, CodeTransferNotPending, fmt.Sprintf("transfer %q is %s already", t.ID, t.Status))
		}
		settled := *t
		at := cmd.At
		settled.CompletedAt = &at
		next.InFlight -= t.Amount
		refund := int64(0)
		if cmd.Reason == "" {
			settled.Status = TransferCompleted
		} else {
			settled.Status, settled.Reason = TransferRefunded, cmd.Reason
			refund = t.Amount
			next.Balance += refund
		}
		d := apply(st, cmd, next, nil, refund)
		if refund != 0 {
			d.Entry.Counterparty = t.To
		}
		d.Transfer, d.Outcome.Transfer = &settled, &settled
		return d

	default:
		return refuse(st, cmd, CodeInvalidCommand, fmt.Sprintf("unknown command kind %q", cmd.Kind))
	}
}

// credit decides a transfer_credit on the destination: the credit, or its
// refusal, and in both cases the settle step that tells the source. A
// frozen account still receives money; a missing or closed one, one of
// another currency, or a balance past the limit refuses it.
func credit(st State, cmd Command) Decision {
	settle := func(reason Code) *Command {
		return &Command{
			ID: TransferSettleID(cmd.TransferID), Kind: KindTransferSettle, AccountID: cmd.Counterparty, TransferID: cmd.TransferID, Reason: reason,
			Reference: cmd.Reference, Metadata: cmd.Metadata,
		}
	}
	refuseCredit := func(code Code, detail string) Decision {
		d := refuse(st, cmd, code, detail)
		d.Emit = settle(code)
		return d
	}
	acc := st.Account
	switch {
	case acc == nil:
		return refuseCredit(CodeAccountNotFound, fmt.Sprintf("account %q does not exist", cmd.AccountID))
	case acc.Status == AccountClosed:
		return refuseCredit(CodeAccountClosed, fmt.Sprintf("account %q is closed", cmd.AccountID))
	case acc.Currency != cmd.Currency:
		return refuseCredit(CodeCurrencyMismatch, fmt.Sprintf("account %q holds %s, not %s", acc.ID, acc.Currency, cmd.Currency))
	case acc.Balance+acc.InFlight > MaxAmount-cmd.Amount:
		return refuseCredit(CodeBalanceLimitExceeded, fmt.Sprintf("the balance (with %d in transfers that may be refunded) would exceed %d", acc.InFlight, MaxAmount))
	}
	next := acc.withDerived()
	next.Balance += cmd.Amount
	d := apply(st, cmd, next, nil, cmd.Amount)
	d.Emit = settle("")
	return d
}

// settle decides a capture, release or expire_hold of st.Hold.
func settle(st State, cmd Command, a Account) Decision {
	h := st.Hold
	if h == nil || h.AccountID != a.ID || h.ID != cmd.HoldID {
		return refuse(st, cmd, CodeHoldNotFound, fmt.Sprintf("account %q has no hold %q", a.ID, cmd.HoldID))
	}
	if h.Status != HoldOpen {
		return refuse(st, cmd, CodeHoldNotOpen, fmt.Sprintf("hold %q is %s already: a hold is settled once", h.ID, h.Status))
	}
	expired := h.ExpiredAt(cmd.At)
	if cmd.Kind == KindExpireHold {
		if !expired {
			return refuse(st, cmd, CodeHoldNotExpired, fmt.Sprintf("hold %q expires at %s, after this command's time %s", h.ID, h.ExpiresAt.UTC().Format(time.RFC3339Nano), cmd.At.UTC().Format(time.RFC3339Nano)))
		}
		return closeHold(st, cmd, a, *h, HoldExpired, 0)
	}
	if expired {
		return refuse(st, cmd, CodeHoldNotOpen, fmt.Sprintf("hold %q expired at %s", h.ID, h.ExpiresAt.UTC().Format(time.RFC3339Nano)))
	}
	if cmd.Kind == KindRelease {
		return closeHold(st, cmd, a, *h, HoldReleased, 0)
	}
	if a.Status == AccountFrozen {
		return refuse(st, cmd, CodeAccountFrozen, fmt.Sprintf("account %q is frozen: debits, new holds and captures are refused", cmd.AccountID))
	}
	amount := cmd.Amount
	if amount == 0 {
		amount = h.Amount
	}
	if amount > h.Amount {
		return refuse(st, cmd, CodeCaptureExceedsHold, fmt.Sprintf("capture of %d exceeds the %d held", amount, h.Amount))
	}
	return closeHold(st, cmd, a, *h, HoldCaptured, amount)
}

// closeHold settles an open hold: its whole amount leaves held, captured of
// it leaves the balance. Capturing at most the held amount never takes the
// account below what the hold had reserved.
func closeHold(st State, cmd Command, a Account, h Hold, status HoldStatus, captured int64) Decision {
	at := cmd.At
	h.Status, h.Captured, h.SettledAt = status, captured, &at
	a.Held -= h.Amount
	a.Balance -= captured
	return apply(st, cmd, a, &h, -captured)
}

// apply returns the decision for an applied command: the account at its
// next version, the hold if one changed, the journal entry (amount is the
// signed change of the balance).
func apply(st State, cmd Command, next Account, hold *Hold, amount int64) Decision {
	next.Version++
	next = next.withDerived()
	out := Outcome{CommandID: cmd.ID, Kind: cmd.Kind, AccountID: cmd.AccountID, Status: StatusApplied, Account: &next, Hold: hold}
	return Decision{
		Outcome: out,
		Account: &next,
		Hold:    hold,
		Entry: &Entry{
			AccountID: next.ID, Version: next.Version, CommandID: cmd.ID,
			Kind: cmd.Kind, Amount: amount, BalanceAfter: next.Balance,
			Counterparty: entryCounterparty(cmd, amount), Reference: cmd.Reference, Metadata: cmd.Metadata,
			StatusAfter: next.Status, HeldAfter: next.Held, InFlightAfter: next.InFlight, OverdraftLimitAfter: next.OverdraftLimit,
		},
	}
}

// entryCounterparty is the other side of an applied command's entry: none
// when it moves no money, the named external counterparty (or the
// default) for a deposit, withdrawal or capture, the other account for a
// transfer's debit or credit. (A refund's, the transfer's destination, is
// set where it is decided.)
func entryCounterparty(cmd Command, amount int64) string {
	switch {
	case amount == 0:
		return ""
	case cmd.Kind.ExternalCounterparty() && cmd.Counterparty == "":
		return DefaultCounterparty
	}
	return cmd.Counterparty
}

// refuse returns the decision for a refused command: nothing changes; the
// outcome shows the account (and the named hold) as they stand.
func refuse(st State, cmd Command, code Code, detail string) Decision {
	out := Outcome{CommandID: cmd.ID, Kind: cmd.Kind, AccountID: cmd.AccountID, Status: StatusRejected, Code: code, Detail: detail}
	if st.Account != nil {
		a := st.Account.withDerived()
		out.Account = &a
	}
	if st.Hold != nil && st.Hold.AccountID == cmd.AccountID {
		h := st.Hold.AsOf(cmd.At)
		out.Hold = &h
	}
	return Decision{Outcome: out}
}
