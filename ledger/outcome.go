package ledger

// Status says whether a command took effect.
type Status string

// The statuses of a decided command.
const (
	StatusApplied  Status = "applied"
	StatusRejected Status = "rejected"
	// StatusPending is never stored: the API reports it while a command is
	// accepted but not yet decided.
	StatusPending Status = "pending"
)

// Code says why a command was rejected. Rejections are business outcomes,
// recorded like applied commands, never errors.
type Code string

// The rejection codes.
const (
	CodeInsufficientFunds    Code = "insufficient_funds"
	CodeAccountNotFound      Code = "account_not_found"
	CodeAccountExists        Code = "account_exists"
	CodeBalanceLimitExceeded Code = "balance_limit_exceeded"
	CodeInvalidCommand       Code = "invalid_command"
	CodeIdempotencyMismatch  Code = "idempotency_key_reused"
	CodeMisrouted            Code = "misrouted"
	// CodeExpired: the command reached its decider after its deadline and
	// never took effect.
	CodeExpired Code = "expired"
	// CodePreconditionFailed: the account's version was not the one the
	// command's If-Match required.
	CodePreconditionFailed Code = "precondition_failed"
	CodeHoldNotFound       Code = "hold_not_found"
	// CodeHoldNotOpen: the hold was captured, released or expired already
	// (or is past its expiry): a hold is settled at most once.
	CodeHoldNotOpen        Code = "hold_not_open"
	CodeCaptureExceedsHold Code = "capture_exceeds_hold"
	// CodeHoldNotExpired: an expire_hold command reached the hold before
	// its expiry (a producer's clock ran ahead). Nothing changed; a later
	// expire_hold expires it.
	CodeHoldNotExpired  Code = "hold_not_expired"
	CodeAccountFrozen   Code = "account_frozen"
	CodeAccountClosed   Code = "account_closed"
	CodeAccountNotEmpty Code = "account_not_empty"
	// CodeOverdraftInUse: the new overdraft limit is below what the account
	// already spends of it.
	CodeOverdraftInUse Code = "overdraft_in_use"
	// CodeCurrencyMismatch: a transfer names another currency than one of
	// its accounts has.
	CodeCurrencyMismatch Code = "currency_mismatch"
	// CodeTransferNotFound and CodeTransferNotPending refuse a settle step
	// that names no pending transfer (it was settled before).
	CodeTransferNotFound   Code = "transfer_not_found"
	CodeTransferNotPending Code = "transfer_not_pending"
)

// Outcome is the stored, replayable result of one command: what the caller
// of the original request got, and what every retry gets.
type Outcome struct {
	CommandID string   `json:"command_id"`
	Kind      Kind     `json:"kind,omitempty"`
	AccountID string   `json:"account_id,omitempty"`
	Status    Status   `json:"status"`
	Code      Code     `json:"code,omitempty"`
	Detail    string   `json:"detail,omitempty"`
	Account   *Account `json:"account,omitempty"`
	// Hold is the hold the command created or settled (or, for a refusal,
	// the hold as it stood).
	Hold *Hold `json:"hold,omitempty"`
	// Transfer is the transfer the command started or settled.
	Transfer *Transfer `json:"transfer,omitempty"`
}

// Entry is one row of the append-only journal: an applied command's effect
// on one account. Amount is signed: deposits positive, withdrawals negative,
// zero for open_account.
type Entry struct {
	AccountID    string
	Version      int64
	CommandID    string
	Kind         Kind
	Amount       int64
	BalanceAfter int64
	// Counterparty is the other side: the external counterparty of a
	// deposit, withdrawal or capture (HasExternalSide), the other account
	// of a transfer's debit, credit or refund, empty for an entry that
	// moves no money.
	Counterparty string
	// Reference and Metadata are the command's, as the caller sent them.
	Reference string
	Metadata  Metadata
	// The account's state after the entry (with BalanceAfter): the
	// account as it stood at this version.
	StatusAfter         AccountStatus
	HeldAfter           int64
	InFlightAfter       int64
	OverdraftLimitAfter int64
}
