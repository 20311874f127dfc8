package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// Kind names what a command does.
type Kind string

// The command kinds.
const (
	KindOpenAccount Kind = "open_account"
	KindDeposit     Kind = "deposit"
	KindWithdrawal  Kind = "withdrawal"
)

// Command is one request to change one account. Every command names exactly
// one account; that account's ID is the Kafka record key, so all commands for
// an account are applied by one writer, in order.
type Command struct {
	ID        string // unique; the idempotency key's digest or a server-assigned ID
	Kind      Kind
	AccountID string
	// Amount is set for deposits and withdrawals.
	Amount int64
	// Currency and OverdraftLimit are set for open_account.
	Currency       string
	OverdraftLimit int64
	// Deadline is the last moment the command may be decided; decided
	// later, it is refused as expired (DecideAt). Zero: no deadline. It is
	// not part of the Fingerprint: a retry with a later deadline is the
	// same request.
	Deadline time.Time
}

// MaxCommandIDLen is the longest command ID accepted.
const MaxCommandIDLen = 128

// ValidateCommandID checks a command ID: 1-128 characters of [A-Za-z0-9._:-].
func ValidateCommandID(field, id string) error {
	if !isID(id, MaxCommandIDLen) {
		return &FieldError{Field: field, Reason: "must be 1-128 characters of A-Z a-z 0-9 . _ : -"}
	}
	return nil
}

// Validate reports the first rule the command breaks, as a *FieldError.
func (c Command) Validate() error {
	if err := ValidateCommandID("command_id", c.ID); err != nil {
		return err
	}
	if err := ValidateAccountID("account_id", c.AccountID); err != nil {
		return err
	}
	switch c.Kind {
	case KindOpenAccount:
		if err := ValidateCurrency("currency", c.Currency); err != nil {
			return err
		}
		return ValidateLimit("overdraft_limit", c.OverdraftLimit)
	case KindDeposit, KindWithdrawal:
		if c.Amount <= 0 || c.Amount > MaxAmount {
			return &FieldError{Field: "amount", Reason: "must be a positive integer no larger than 9007199254740991"}
		}
		return nil
	default:
		return &FieldError{Field: "kind", Reason: "must be open_account, deposit or withdrawal"}
	}
}

// Fingerprint is a digest of everything the command asks for except its ID
// and its deadline.
// Two requests that reuse an idempotency key must have equal fingerprints;
// otherwise the second is a different request and is refused.
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
	return h.Sum(nil)
}
