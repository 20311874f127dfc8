package postgres

import "fmt"

// HistoryQueries are the history reads' statements by name, for the test
// that EXPLAINs them.
var HistoryQueries = map[string]string{
	"entries asc":        entriesAscQuery,
	"entries desc":       entriesDescQuery,
	"account at version": fmt.Sprintf(accountAtQuery, versionPick),
	"account as of":      fmt.Sprintf(accountAtQuery, asOfPick),
	"entry":              entryQuery,
	"accounts":           accountsQuery,
	"counterparty":       counterpartyQuery,
}
