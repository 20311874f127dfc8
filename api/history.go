package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ordo-dev/ordo/ledger"
)

// History reads the ledger's past: journals, accounts at a version or a
// time, account lists, external counterparties. It may be a read replica,
// so it may lag the store a little (see DESIGN.md, "History").
type History interface {
	// Entries returns a page of an account's journal and whether more
	// entries matched; ledger.ErrNotFound for an unknown account.
	Entries(ctx context.Context, accountID string, q ledger.EntryQuery) ([]ledger.JournalEntry, bool, error)
	// AccountAtVersion and AccountAsOf return the account as it stood;
	// ledger.ErrNotFound for an unknown account, ledger.ErrNotInHistory for
	// a version beyond the current one or a time before the first entry.
	AccountAtVersion(ctx context.Context, id string, version int64) (ledger.AccountVersion, error)
	AccountAsOf(ctx context.Context, id string, t time.Time) (ledger.AccountVersion, error)
	// Accounts lists accounts whose ID starts with prefix, after the ID
	// after, in byte order, and says whether more matched.
	Accounts(ctx context.Context, prefix, after string, limit int) ([]ledger.Account, bool, error)
	// Counterparty returns an external counterparty's balances;
	// ledger.ErrNotFound when it has no entries.
	Counterparty(ctx context.Context, name string) ([]ledger.CounterpartyBalance, error)
}

// Page sizes of the history lists.
const (
	defaultHistoryPage = 50
	maxHistoryPage     = 500
)

// Codes of the history problems.
const (
	codeVersionNotFound       = "version_not_found"
	codeAccountNotYetOpen     = "account_not_yet_open"
	codeCounterpartyNotFound  = "counterparty_not_found"
	maxCounterpartyNameLength = 128
)

func init() {
	problems[codeVersionNotFound] = problemKind{http.StatusNotFound, "Version not found"}
	problems[codeAccountNotYetOpen] = problemKind{http.StatusNotFound, "Account not yet open"}
	problems[codeCounterpartyNotFound] = problemKind{http.StatusNotFound, "Counterparty not found"}
}

// registerHistory adds the history routes to e, GET and HEAD alike.
func (s *Server) registerHistory(get func(string, echo.HandlerFunc)) {
	get("/v1/accounts", s.listAccounts)
	get("/v1/accounts/:id/entries", s.listEntries)
	get("/v1/counterparties/:name", s.getCounterparty)
}

// entryCursor is the position an entries cursor stands for: a version of
// one account's journal. It travels as base64url JSON; V is its format.
type entryCursor struct {
	V       int    `json:"v"`
	Account string `json:"a"`
	Version int64  `json:"n"`
}

func encodeEntryCursor(account string, version int64) string {
	raw, _ := json.Marshal(entryCursor{V: 1, Account: account, Version: version})
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeEntryCursor reads the cursor in query parameter field, which must
// belong to account.
func decodeEntryCursor(field, account, s string) (int64, error) {
	bad := &ledger.FieldError{Field: field, Reason: "is not a cursor of this account's entries (use the next of a previous page)"}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, bad
	}
	var c entryCursor
	if err := json.Unmarshal(raw, &c); err != nil || c.V != 1 || c.Account != account || c.Version < 1 {
		return 0, bad
	}
	return c.Version, nil
}

// knownParams refuses query parameters other than names.
func knownParams(c echo.Context, names ...string) error {
	for name := range c.QueryParams() {
		found := false
		for _, n := range names {
			found = found || name == n
		}
		if !found {
			return &ledger.FieldError{Field: name, Reason: "is not a known parameter (" + strings.Join(names, ", ") + ")"}
		}
	}
	return nil
}

// pageLimit reads the limit parameter: 1 to maxHistoryPage, default
// defaultHistoryPage.
func pageLimit(c echo.Context) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return defaultHistoryPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxHistoryPage || strings.TrimLeft(v, "0123456789") != "" {
		return 0, &ledger.FieldError{Field: "limit", Reason: "must be a whole number from 1 to " + strconv.Itoa(maxHistoryPage)}
	}
	return n, nil
}

type entryList struct {
	Entries []ledger.JournalEntry `json:"entries"`
	// Next is the cursor of the next page, absent when no more entries
	// matched at the time of the read: pass it as after= in ascending
	// order, as before= in descending order.
	Next string `json:"next,omitempty"`
}

func (s *Server) listEntries(c echo.Context) error {
	id, err := accountParam(c)
	if err != nil {
		return err
	}
	if err := knownParams(c, "limit", "after", "before", "order"); err != nil {
		return err
	}
	q := ledger.EntryQuery{}
	switch c.QueryParam("order") {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		return &ledger.FieldError{Field: "order", Reason: "must be asc or desc"}
	}
	if q.Limit, err = pageLimit(c); err != nil {
		return err
	}
	if v := c.QueryParam("after"); v != "" {
		if q.After, err = decodeEntryCursor("after", id, v); err != nil {
			return err
		}
	}
	if v := c.QueryParam("before"); v != "" {
		if q.Before, err = decodeEntryCursor("before", id, v); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadTimeout)
	defer cancel()
	entries, more, err := s.cfg.History.Entries(ctx, id, q)
	if errors.Is(err, ledger.ErrNotFound) {
		return s.problem(c, accountNotFound(id))
	}
	if err != nil {
		return s.readFailed(c, err)
	}
	list := entryList{Entries: entries}
	if list.Entries == nil {
		list.Entries = []ledger.JournalEntry{}
	}
	if more {
		list.Next = encodeEntryCursor(id, entries[len(entries)-1].Version)
	}
	return c.JSON(http.StatusOK, list)
}

func accountNotFound(id string) *Problem {
	return newProblem(string(ledger.CodeAccountNotFound), "account "+strconv.Quote(id)+" does not exist")
}

// accountOrHistory serves GET /v1/accounts/{id}: with as_of or version,
// the account as it stood then, from the journal; without, current, by
// current (with its ETag and conditional requests).
func (s *Server) accountOrHistory(current echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := c.QueryParams()
		if s.cfg.History == nil || !q.Has("as_of") && !q.Has("version") {
			return current(c)
		}
		id, err := accountParam(c)
		if err != nil {
			return err
		}
		if q.Has("as_of") && q.Has("version") {
			return &ledger.FieldError{Field: "version", Reason: "must not be given with as_of: ask for a version or a time"}
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadTimeout)
		defer cancel()
		var (
			acc      ledger.AccountVersion
			notFound *Problem
		)
		if v := q.Get("version"); q.Has("version") {
			n, perr := ledger.ParseAmount("version", v)
			if perr != nil {
				return &ledger.FieldError{Field: "version", Reason: "must be a whole number from 1"}
			}
			acc, err = s.cfg.History.AccountAtVersion(ctx, id, n)
			notFound = newProblem(codeVersionNotFound, "account "+strconv.Quote(id)+" has no version "+v+" yet; its versions run from 1 to its current one")
		} else {
			at, perr := time.Parse(time.RFC3339Nano, q.Get("as_of"))
			if perr != nil {
				return &ledger.FieldError{Field: "as_of", Reason: "must be an RFC 3339 time such as 2026-11-30T12:00:00Z"}
			}
			acc, err = s.cfg.History.AccountAsOf(ctx, id, at)
			notFound = newProblem(codeAccountNotYetOpen, "account "+strconv.Quote(id)+" was not open yet at "+at.UTC().Format(time.RFC3339Nano))
		}
		switch {
		case errors.Is(err, ledger.ErrNotInHistory):
			return s.problem(c, notFound)
		case errors.Is(err, ledger.ErrNotFound):
			return s.problem(c, accountNotFound(id))
		case err != nil:
			return s.readFailed(c, err)
		}
		return c.JSON(http.StatusOK, map[string]ledger.AccountVersion{"account": acc})
	}
}

type accountList struct {
	Accounts []ledger.Account `json:"accounts"`
	// Next is the cursor of the next page (pass it as after=), absent when
	// no more accounts matched: the last account's ID.
	Next string `json:"next,omitempty"`
}

func (s *Server) listAccounts(c echo.Context) error {
	if err := knownParams(c, "prefix", "limit", "after"); err != nil {
		return err
	}
	prefix, after := c.QueryParam("prefix"), c.QueryParam("after")
	if !isIDPrefix(prefix) {
		return &ledger.FieldError{Field: "prefix", Reason: "must be at most 64 characters of A-Z a-z 0-9 . _ : -"}
	}
	if after != "" {
		if err := ledger.ValidateAccountID("after", after); err != nil {
			return err
		}
	}
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	// A key limited to a prefix lists within it: a wider prefix is
	// narrowed to the key's, a disjoint one refused.
	if prefix, err = authorizePrefix(c, prefix); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadTimeout)
	defer cancel()
	accounts, more, err := s.cfg.History.Accounts(ctx, prefix, after, limit)
	if err != nil {
		return s.readFailed(c, err)
	}
	list := accountList{Accounts: accounts}
	if list.Accounts == nil {
		list.Accounts = []ledger.Account{}
	}
	if more {
		list.Next = accounts[len(accounts)-1].ID
	}
	return c.JSON(http.StatusOK, list)
}

// isIDPrefix reports whether p may begin an account ID.
func isIDPrefix(p string) bool {
	if len(p) > ledger.MaxAccountIDLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch b := p[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '_', b == ':', b == '-':
		default:
			return false
		}
	}
	return true
}

type counterpartyDoc struct {
	Name     string                       `json:"name"`
	Balances []ledger.CounterpartyBalance `json:"balances"`
	Entries  int64                        `json:"entries"`
}

func (s *Server) getCounterparty(c echo.Context) error {
	// An external counterparty's balance sums every tenant's entries.
	if err := authorizeAllAccounts(c); err != nil {
		return err
	}
	name := c.Param("name")
	if name == "" || len(name) > maxCounterpartyNameLength || strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return &ledger.FieldError{Field: "name", Reason: "must be 1-" + strconv.Itoa(maxCounterpartyNameLength) + " printable ASCII characters without spaces"}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadTimeout)
	defer cancel()
	balances, err := s.cfg.History.Counterparty(ctx, name)
	if errors.Is(err, ledger.ErrNotFound) {
		return s.problem(c, newProblem(codeCounterpartyNotFound, "no entry has the counterparty "+strconv.Quote(name)))
	}
	if err != nil {
		return s.readFailed(c, err)
	}
	doc := counterpartyDoc{Name: name, Balances: balances}
	for _, b := range balances {
		doc.Entries += b.Entries
	}
	return c.JSON(http.StatusOK, doc)
}
