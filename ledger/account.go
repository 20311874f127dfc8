package ledger

// AccountStatus is where an account is in its lifecycle.
type AccountStatus string

// The account statuses.
const (
	// AccountActive: every command applies by its rules.
	AccountActive AccountStatus = "active"
	// AccountFrozen: debits, new holds and captures are refused;
	// deposits, releases and expiries still apply.
	AccountFrozen AccountStatus = "frozen"
	// AccountClosed: every command is refused. Only an account with a zero
	// balance and no open hold can be closed.
	AccountClosed AccountStatus = "closed"
)

// Account is the state of one account. Amounts are integers in minor units
// (cents for USD). Version grows by exactly one for every applied command, so
// it doubles as an optimistic-concurrency token and an ETag.
//
// Held is the sum of the account's open holds. Available (Balance - Held)
// is what a debit may spend, plus OverdraftLimit.
type Account struct {
	ID             string        `json:"id"`
	Currency       string        `json:"currency"`
	Status         AccountStatus `json:"status"`
	Balance        int64         `json:"balance"`
	Available      int64         `json:"available"`
	Held           int64         `json:"held"`
	OverdraftLimit int64         `json:"overdraft_limit"`
	// InFlight is money this account sent in transfers not yet credited
	// or refused: it has left the balance and not arrived anywhere yet.
	InFlight int64 `json:"in_flight"`
	Version  int64 `json:"version"`
}

// withDerived returns a with Available recomputed from Balance and Held,
// and an empty status read as active.
func (a Account) withDerived() Account {
	a.Available = a.Balance - a.Held
	if a.Status == "" {
		a.Status = AccountActive
	}
	return a
}

// spendable is what a debit may take: the available balance plus the
// overdraft limit. Amounts are bounded by MaxAmount, so it cannot overflow.
func (a Account) spendable() int64 { return a.Balance - a.Held + a.OverdraftLimit }
