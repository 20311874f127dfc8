package client

import (
	"context"
	"iter"
	"net/url"
	"strconv"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// Sentinels of the history reads' problem codes, for errors.Is.
var (
	// ErrVersionNotFound: the account has no such version (yet).
	ErrVersionNotFound = newCode("version_not_found")
	// ErrAccountNotYetOpen: the account did not exist at that time.
	ErrAccountNotYetOpen = newCode("account_not_yet_open")
	// ErrCounterpartyNotFound: no entry names the counterparty.
	ErrCounterpartyNotFound = newCode("counterparty_not_found")
)

// EntriesQuery selects a page of an account's journal; every field is
// optional.
type EntriesQuery struct {
	Limit int  // page size, 1-500 (0: the server's 50)
	Desc  bool // newest first
	// After and Before are cursors (EntryPage.Next): only entries after,
	// or before, that position. Entries follows Next for you.
	After, Before string
}

// EntryPage is a page of journal entries in version order (newest first
// with Desc).
type EntryPage struct {
	Entries []ledger.JournalEntry `json:"entries"`
	// Next is the cursor of the next page ("" when no more entries existed
	// when the page was read): EntriesQuery.After in ascending order,
	// Before in descending order.
	Next string `json:"next,omitempty"`
}

// EntriesPage reads one page of an account's journal
// (ErrAccountNotFound for an unknown account).
func (c *Client) EntriesPage(ctx context.Context, account string, q EntriesQuery) (EntryPage, error) {
	v := url.Values{}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Desc {
		v.Set("order", "desc")
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Before != "" {
		v.Set("before", q.Before)
	}
	var page EntryPage
	err := c.get(ctx, accountPath(account)+"/entries", v, &page)
	return page, err
}

// Entries iterates over an account's journal from q on, a page at a time,
// until the last entry that existed when its page was read; it stops at
// the first error, which it yields. Entries appended meanwhile are seen
// once each, or not at all if they came after the last page.
func (c *Client) Entries(ctx context.Context, account string, q EntriesQuery) iter.Seq2[ledger.JournalEntry, error] {
	return func(yield func(ledger.JournalEntry, error) bool) {
		for {
			page, err := c.EntriesPage(ctx, account, q)
			if err != nil {
				yield(ledger.JournalEntry{}, err)
				return
			}
			for _, e := range page.Entries {
				if !yield(e, nil) {
					return
				}
			}
			if page.Next == "" {
				return
			}
			if q.Desc {
				q.Before = page.Next
			} else {
				q.After = page.Next
			}
		}
	}
}

// AccountAt reads an account as it stood at a version of its journal
// (ErrVersionNotFound beyond its current version).
func (c *Client) AccountAt(ctx context.Context, id string, version int64) (ledger.AccountVersion, error) {
	return c.accountThen(ctx, id, url.Values{"version": {strconv.FormatInt(version, 10)}})
}

// AccountAsOf reads an account as it stood at time t: after its newest
// entry written at or before t (ErrAccountNotYetOpen before its first).
func (c *Client) AccountAsOf(ctx context.Context, id string, t time.Time) (ledger.AccountVersion, error) {
	return c.accountThen(ctx, id, url.Values{"as_of": {t.Format(time.RFC3339Nano)}})
}

func (c *Client) accountThen(ctx context.Context, id string, q url.Values) (ledger.AccountVersion, error) {
	var doc struct {
		Account ledger.AccountVersion `json:"account"`
	}
	err := c.get(ctx, accountPath(id), q, &doc)
	return doc.Account, err
}

// AccountsQuery selects a page of accounts; every field is optional.
type AccountsQuery struct {
	Prefix string // only IDs starting with it
	Limit  int    // page size, 1-500 (0: the server's 50)
	After  string // AccountPage.Next of the previous page
}

// AccountPage is a page of accounts, in byte order of their IDs, each in
// its current state.
type AccountPage struct {
	Accounts []ledger.Account `json:"accounts"`
	// Next is the cursor of the next page (AccountsQuery.After), "" on the
	// last.
	Next string `json:"next,omitempty"`
}

// Accounts lists accounts, a page at a time.
func (c *Client) Accounts(ctx context.Context, q AccountsQuery) (AccountPage, error) {
	v := url.Values{}
	if q.Prefix != "" {
		v.Set("prefix", q.Prefix)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	var page AccountPage
	err := c.get(ctx, "/v1/accounts", v, &page)
	return page, err
}

// CounterpartyDoc is an external counterparty's balance per currency,
// summed from the external sides of its entries.
type CounterpartyDoc struct {
	Name     string                       `json:"name"`
	Balances []ledger.CounterpartyBalance `json:"balances"`
	Entries  int64                        `json:"entries"`
}

// Counterparty reads an external counterparty's balances
// (ErrCounterpartyNotFound when no entry names it).
func (c *Client) Counterparty(ctx context.Context, name string) (CounterpartyDoc, error) {
	var doc CounterpartyDoc
	err := c.get(ctx, "/v1/counterparties/"+url.PathEscape(name), nil, &doc)
	return doc, err
}
