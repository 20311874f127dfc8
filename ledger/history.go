package ledger

import (
	"encoding/json"
	"fmt"
	"time"
)

// ErrNotInHistory means the account exists but has no state at the version
// or time asked for: the version is beyond its current one, or the time is
// before it was opened. It wraps ErrNotFound.
var ErrNotInHistory = fmt.Errorf("not in the account's history: %w", ErrNotFound)

// JournalEntry is one entry of an account's journal, as stored, with the
// account's state right after it. Fields that entries written before the
// double-entry journal (migration 0008) do not record are nil.
type JournalEntry struct {
	Version      int64  `json:"version"`
	CommandID    string `json:"command_id"`
	Kind         Kind   `json:"kind"`
	Amount       int64  `json:"amount"` // the signed change of the balance
	BalanceAfter int64  `json:"balance_after"`
	// AvailableAfter is BalanceAfter - HeldAfter, nil when HeldAfter is.
	AvailableAfter      *int64         `json:"available_after"`
	HeldAfter           *int64         `json:"held_after"`
	InFlightAfter       *int64         `json:"in_flight_after"`
	OverdraftLimitAfter *int64         `json:"overdraft_limit_after"`
	StatusAfter         *AccountStatus `json:"status_after"`
	// Counterparty is the other side: an account for transfer legs, an
	// external counterparty for deposits, withdrawals and captures, "" for
	// entries that move no money.
	Counterparty string          `json:"counterparty"`
	Reference    string          `json:"reference"`
	Metadata     json.RawMessage `json:"metadata"` // a JSON object, or null
	CreatedAt    time.Time       `json:"created_at"`
}

// AccountVersion is an account as it stood at one version of its journal:
// its state after that version's entry. Held, InFlight, OverdraftLimit,
// Available and Status are nil when the entry predates their recording.
type AccountVersion struct {
	ID             string         `json:"id"`
	Currency       string         `json:"currency"`
	Status         *AccountStatus `json:"status"`
	Balance        int64          `json:"balance"`
	Available      *int64         `json:"available"`
	Held           *int64         `json:"held"`
	OverdraftLimit *int64         `json:"overdraft_limit"`
	InFlight       *int64         `json:"in_flight"`
	Version        int64          `json:"version"`
	// RecordedAt is when the version's entry was written.
	RecordedAt time.Time `json:"recorded_at"`
}

// AccountAt is the account, identified by id and currency, after entry e.
func AccountAt(id, currency string, e JournalEntry) AccountVersion {
	return AccountVersion{
		ID: id, Currency: currency, Status: e.StatusAfter, Balance: e.BalanceAfter, Available: e.AvailableAfter,
		Held: e.HeldAfter, OverdraftLimit: e.OverdraftLimitAfter, InFlight: e.InFlightAfter,
		Version: e.Version, RecordedAt: e.CreatedAt,
	}
}

// EntryQuery selects a page of an account's journal: the entries with
// After < version < Before, in ascending or descending version order.
type EntryQuery struct {
	After  int64 // 0: from the first entry
	Before int64 // 0: up to the newest entry
	Desc   bool
	Limit  int
}

// CounterpartyBalance is an external counterparty's balance in one
// currency: the sum of the external sides of its entries (the opposite of
// what its accounts received from it), and how many there are.
type CounterpartyBalance struct {
	Currency string `json:"currency"`
	Balance  int64  `json:"balance"`
	Entries  int64  `json:"entries"`
}
