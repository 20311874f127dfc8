package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Kind names what a command does.
type Kind string

// The command kinds.
const (
	KindOpenAccount       Kind = "open_account"
	KindDeposit           Kind = "deposit"
	KindWithdrawal        Kind = "withdrawal"
	KindHold              Kind = "hold"
	KindCapture           Kind = "capture"
	KindRelease           Kind = "release"
	KindExpireHold        Kind = "expire_hold"
	KindSetOverdraftLimit Kind = "set_overdraft_limit"
	KindFreeze            Kind = "freeze"
	KindUnfreeze          Kind = "unfreeze"
	KindClose             Kind = "close"
	KindTransfer          Kind = "transfer"
	KindTransferCredit    Kind = "transfer_credit"
	KindTransferSettle    Kind = "transfer_settle"
)

// Kinds lists every command kind.
var Kinds = []Kind{
	KindOpenAccount, KindDeposit, KindWithdrawal, KindHold, KindCapture, KindRelease,
	KindExpireHold, KindSetOverdraftLimit, KindFreeze, KindUnfreeze, KindClose,
	KindTransfer, KindTransferCredit, KindTransferSettle,
}

// IfMatch values other than a version (versions start at 1).
const (
	IfMatchNone   int64 = 0  // no condition
	IfMatchExists int64 = -1 // If-Match: *, the account exists
)

// Command is one request to change one account. Every command names exactly
// one account; that account's ID is the Kafka record key, so all commands for
// an account are applied by one writer, in order.
type Command struct {
	ID        string // unique; the idempotency key's digest or a server-assigned ID
	Kind      Kind
	AccountID string
	// Amount is set for deposits, withdrawals and holds; for a capture it
	// is optional (0: the whole hold).
	Amount int64
	// Currency is set for open_account; OverdraftLimit for open_account and
	// set_overdraft_limit.
	Currency       string
	OverdraftLimit int64
	// HoldID names the hold a capture, release or expire_hold settles.
	HoldID string
	// HoldFor is how long a new hold lasts (0: DefaultHoldFor).
	HoldFor time.Duration
	// Counterparty is the other side of the command's entry. For a
	// transfer step it is the other account: the destination of a
	// transfer, the source of a transfer_credit. For a deposit, withdrawal
	// or capture it is optional and names an external counterparty
	// (ValidateCounterparty); empty is DefaultCounterparty.
	Counterparty string
	// Reference and Metadata are the caller's, optional on every kind,
	// stored with the command's entry as given (ValidateReference,
	// NewMetadata). A transfer passes its own on to its credit and settle
	// steps, so both accounts' entries carry them.
	Reference string
	Metadata  Metadata
	// TransferID names the transfer of a transfer_credit or
	// transfer_settle.
	TransferID string
	// Reason, on a transfer_settle, is why the credit was refused (empty:
	// it was applied).
	Reason Code
	// IfMatch is the account version the command requires when it is
	// decided (If-Match: "<version>"), IfMatchExists for any version, or
	// IfMatchNone.
	IfMatch int64
	// Deadline is the last moment the command may be decided; decided
	// later, it is refused as expired (DecideAt). Zero: no deadline. It is
	// not part of the Fingerprint: a retry with a later deadline is the
	// same request.
	Deadline time.Time
	// At is the command's log time: its record's timestamp. Holds are
	// created, and expire, on log time, so every replay decides them alike.
	// Like Deadline it is not part of the Fingerprint.
	At time.Time
}

// MaxCommandIDLen is the longest command ID accepted.
const MaxCommandIDLen = 128

// ValidateCommandID checks a command ID: 1-128 characters of [A-Za-z0-9._:-],
// not only dots.
func ValidateCommandID(field, id string) error {
	if !isID(id, MaxCommandIDLen) {
		return &FieldError{Field: field, Reason: "must be 1-128 characters of A-Z a-z 0-9 . _ : -, not only dots"}
	}
	return nil
}

// ValidateHoldFor checks a hold duration: from MinHoldFor to MaxHoldFor.
func ValidateHoldFor(field string, d time.Duration) error {
	if d < MinHoldFor || d > MaxHoldFor {
		return &FieldError{Field: field, Reason: "must be a duration from 1s to 720h (30 days)"}
	}
	return nil
}

// The optional members of a command, as bits, in the order of memberNames.
const (
	mAmount uint8 = 1 << iota
	mCurrency
	mOverdraftLimit
	mHoldID
	mExpiresIn
	mCounterparty
	mTransferID
	mReason
)

// memberNames are the optional members of a command, in the order
// Validate checks them.
var memberNames = [...]string{"amount", "currency", "overdraft_limit", "hold_id", "expires_in", "counterparty", "transfer_id", "reason"}

// Validate reports the first rule the command breaks, as a *FieldError.
func (c Command) Validate() error {
	if err := ValidateCommandID("command_id", c.ID); err != nil {
		return err
	}
	if err := ValidateAccountID("account_id", c.AccountID); err != nil {
		return err
	}
	if c.IfMatch < IfMatchExists {
		return &FieldError{Field: "if_match", Reason: "must be an account version (1 or more) or * (any)"}
	}
	amount := func(required bool) error {
		if !required && c.Amount == 0 {
			return nil
		}
		if c.Amount <= 0 || c.Amount > MaxAmount {
			return &FieldError{Field: "amount", Reason: "must be a positive integer no larger than 9007199254740991"}
		}
		return nil
	}
	externalCounterparty := func() error {
		if c.Counterparty == "" {
			return nil
		}
		return ValidateCounterparty("counterparty", c.Counterparty)
	}
	// Every kind may carry a reference and metadata.
	if err := ValidateReference("reference", c.Reference); err != nil {
		return err
	}
	if err := c.Metadata.validate("metadata"); err != nil {
		return err
	}
	// Fields a kind does not use must be empty, so a command means one
	// thing whoever produced it.
	// Which optional members are set, as bits of memberNames; each kind
	// clears the ones it takes, and any left is refused. (Bits, not a map:
	// this runs for every command on the hot path.)
	var unused uint8
	for i, set := range [...]bool{c.Amount != 0, c.Currency != "", c.OverdraftLimit != 0, c.HoldID != "", c.HoldFor != 0, c.Counterparty != "", c.TransferID != "", c.Reason != ""} {
		if set {
			unused |= 1 << i
		}
	}
	var err error
	switch c.Kind {
	case KindOpenAccount:
		unused &^= mCurrency
		unused &^= mOverdraftLimit
		if err = ValidateCurrency("currency", c.Currency); err == nil {
			err = ValidateLimit("overdraft_limit", c.OverdraftLimit)
		}
	case KindDeposit, KindWithdrawal:
		unused &^= mAmount
		unused &^= mCounterparty
		err = amount(true)
		if err == nil {
			err = externalCounterparty()
		}
	case KindHold:
		unused &^= mAmount
		unused &^= mExpiresIn
		if err = amount(true); err == nil && c.HoldFor != 0 {
			err = ValidateHoldFor("expires_in", c.HoldFor)
		}
	case KindCapture:
		unused &^= mAmount
		unused &^= mHoldID
		unused &^= mCounterparty
		if err = amount(false); err == nil {
			err = ValidateCommandID("hold_id", c.HoldID)
		}
		if err == nil {
			err = externalCounterparty()
		}
	case KindRelease, KindExpireHold:
		unused &^= mHoldID
		err = ValidateCommandID("hold_id", c.HoldID)
	case KindSetOverdraftLimit:
		unused &^= mOverdraftLimit
		err = ValidateLimit("overdraft_limit", c.OverdraftLimit)
	case KindFreeze, KindUnfreeze, KindClose:
	case KindTransfer, KindTransferCredit:
		unused &^= mAmount
		unused &^= mCurrency
		unused &^= mCounterparty
		err = amount(true)
		if err == nil {
			err = ValidateCurrency("currency", c.Currency)
		}
		if err == nil {
			err = ValidateAccountID("counterparty", c.Counterparty)
		}
		if err == nil && c.Counterparty == c.AccountID {
			err = &FieldError{Field: "counterparty", Reason: "must be another account than account_id"}
		}
		if c.Kind == KindTransferCredit {
			unused &^= mTransferID
			if err == nil {
				err = ValidateCommandID("transfer_id", c.TransferID)
			}
		}
	case KindTransferSettle:
		unused &^= mTransferID
		unused &^= mReason
		err = ValidateCommandID("transfer_id", c.TransferID)
	default:
		return &FieldError{Field: "kind", Reason: fmt.Sprintf("must be one of %v", Kinds)}
	}
	if err != nil {
		return err
	}
	if c.Kind.Internal() && c.IfMatch != IfMatchNone {
		return &FieldError{Field: "if_match", Reason: "does not belong to a " + string(c.Kind) + " command"}
	}
	for i, f := range memberNames {
		if unused&(1<<i) != 0 {
			return &FieldError{Field: f, Reason: "does not belong to a " + string(c.Kind) + " command"}
		}
	}
	return nil
}

// Fingerprint is a digest of everything the command asks for except its ID,
// its deadline and its log time. Two requests that reuse an idempotency key
// must have equal fingerprints; otherwise the second is a different request
// and is refused.
//
// The journal fields are part of it, because they change what is stored:
// a retry with another reference, other metadata or another counterparty
// is another request. An external counterparty equal to the default counts
// as none, so "counterparty": "external" and no counterparty are the same
// request (and deposits stored before counterparties existed keep their
// fingerprints). Metadata counts in its canonical form, so the order of
// its keys does not matter.
func (c Command) Fingerprint() []byte {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	num := func(v int64) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	field(string(c.Kind))
	field(c.AccountID)
	num(c.Amount)
	field(c.Currency)
	num(c.OverdraftLimit)
	// Fields added after version 1 of the envelope count only when set, so
	// the fingerprints of commands stored before them do not change.
	if c.HoldID != "" || c.HoldFor != 0 || c.IfMatch != IfMatchNone {
		field(c.HoldID)
		num(int64(c.HoldFor))
		num(c.IfMatch)
	}
	counterparty := c.Counterparty
	if c.Kind.ExternalCounterparty() && counterparty == DefaultCounterparty {
		counterparty = ""
	}
	if counterparty != "" || c.TransferID != "" || c.Reason != "" {
		field(counterparty)
		field(c.TransferID)
		field(string(c.Reason))
	}
	if c.Reference != "" || c.Metadata != "" {
		field("\x00journal") // not a valid hold ID: this block cannot read as the one above
		field(c.Reference)
		field(string(c.Metadata))
	}
	return h.Sum(nil)
}
