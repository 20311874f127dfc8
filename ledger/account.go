package ledger

// Account is the state of one account. Amounts are integers in minor units
// (cents for USD). Version grows by exactly one for every applied command, so
// it doubles as an optimistic-concurrency token and an ETag.
type Account struct {
	ID             string `json:"id"`
	Currency       string `json:"currency"`
	Balance        int64  `json:"balance"`
	Available      int64  `json:"available"`
	Held           int64  `json:"held"`
	OverdraftLimit int64  `json:"overdraft_limit"`
	Version        int64  `json:"version"`
}

// withDerived returns a with Available recomputed from Balance and Held.
func (a Account) withDerived() Account {
	a.Available = a.Balance - a.Held
	return a
}
