package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// A transfer moves money between two accounts that may live on different
// partitions, owned by different consumers, as a saga of three commands,
// each decided by one partition's owner and applied exactly once:
//
//  1. transfer, on the source: the debit. The money leaves the balance and
//     is counted in the source's InFlight; the decision emits step 2.
//  2. transfer_credit, on the destination: the credit, or its refusal
//     (account missing, closed, another currency, balance limit). Either
//     way it emits step 3.
//  3. transfer_settle, on the source: completes the transfer, or refunds
//     the debit when the credit was refused. InFlight drops back.
//
// Steps 2 and 3 are named after the transfer (TransferCreditID,
// TransferSettleID), so however often one is published it is applied once.

// TransferStatus is where a transfer is.
type TransferStatus string

// The transfer statuses.
const (
	TransferPending   TransferStatus = "pending"
	TransferCompleted TransferStatus = "completed"
	TransferRefunded  TransferStatus = "refunded"
)

// Transfer is a transfer as its source partition's owner records it. Times
// are log times.
type Transfer struct {
	ID       string         `json:"id"`
	From     string         `json:"from"`
	To       string         `json:"to"`
	Amount   int64          `json:"amount"`
	Currency string         `json:"currency"`
	Status   TransferStatus `json:"status"`
	// Reason is why the credit was refused, for a refunded transfer.
	Reason      Code       `json:"reason,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	// CommandID is the command that started it: the request's.
	CommandID string `json:"-"`
}

// TransferIDFor is the ID of the transfer a command starts: derived from
// the command ID, so a retry with the same Idempotency-Key names the same
// transfer.
func TransferIDFor(commandID string) string {
	sum := sha256.Sum256([]byte("transfer\x00" + commandID))
	return "xfer-" + hex.EncodeToString(sum[:12])
}

// TransferCreditID and TransferSettleID are the command IDs of a transfer's
// second and third steps.
func TransferCreditID(transferID string) string { return "credit:" + transferID }
func TransferSettleID(transferID string) string { return "settle:" + transferID }

// Internal reports whether a kind is a step Ordo's own consumers emit
// (a saga step or a hold expiry) rather than a client's request: it carries
// no deadline, because a step that expired would leave its saga unfinished.
func (k Kind) Internal() bool {
	switch k {
	case KindTransferCredit, KindTransferSettle, KindExpireHold:
		return true
	}
	return false
}

// TransferLeg is one step of a transfer as its command was decided.
type TransferLeg struct {
	CommandID string    `json:"command_id"`
	Kind      Kind      `json:"kind"`
	AccountID string    `json:"account_id"`
	Status    Status    `json:"status"`
	Code      Code      `json:"code,omitempty"`
	At        time.Time `json:"at"`
}
