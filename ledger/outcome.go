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
}
