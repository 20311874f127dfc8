package client

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// Account reads an account. Its Version is the ETag for IfMatch.
func (c *Client) Account(ctx context.Context, id string) (ledger.Account, error) {
	var doc struct {
		Account ledger.Account `json:"account"`
	}
	err := c.get(ctx, accountPath(id), nil, &doc)
	return doc.Account, err
}

// Hold reads one hold of an account.
func (c *Client) Hold(ctx context.Context, account, hold string) (ledger.Hold, error) {
	var doc struct {
		Hold ledger.Hold `json:"hold"`
	}
	err := c.get(ctx, holdPath(account, hold), nil, &doc)
	return doc.Hold, err
}

// HoldsQuery selects a page of an account's holds; every field is
// optional.
type HoldsQuery struct {
	Status ledger.HoldStatus // only holds in this status
	Limit  int               // page size, 1-200 (0: the server's 50)
	After  string            // HoldPage.Next of the previous page
}

// HoldPage is a page of holds, newest first.
type HoldPage struct {
	Holds []ledger.Hold `json:"holds"`
	// Next is the cursor of the next page (HoldsQuery.After), "" on the
	// last.
	Next string `json:"next,omitempty"`
}

// Holds lists an account's holds, a page at a time.
func (c *Client) Holds(ctx context.Context, account string, q HoldsQuery) (HoldPage, error) {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", string(q.Status))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	var page HoldPage
	err := c.get(ctx, accountPath(account)+"/holds", v, &page)
	return page, err
}

// TransferDoc is a transfer with the legs decided so far.
type TransferDoc struct {
	ledger.Transfer
	Legs []ledger.TransferLeg `json:"legs"`
}

// TransferByID reads a transfer (ErrTransferNotFound until its debit is
// decided).
func (c *Client) TransferByID(ctx context.Context, id string) (TransferDoc, error) {
	var doc struct {
		Transfer TransferDoc `json:"transfer"`
	}
	err := c.get(ctx, "/v1/transfers/"+url.PathEscape(id), nil, &doc)
	return doc.Transfer, err
}

// CommandOutcome is a command's stored outcome, applied or rejected alike
// (a rejection is data here, not an error), or pending with its Deadline
// on the instance that answered its 202.
type CommandOutcome struct {
	ledger.Outcome
	Deadline *time.Time `json:"deadline,omitempty"`
}

// Command reads a command's outcome by its ID (ErrCommandNotFound while it
// is undecided or unknown, on other instances than the one that answered
// its 202).
func (c *Client) Command(ctx context.Context, id string) (CommandOutcome, error) {
	var out CommandOutcome
	err := c.get(ctx, "/v1/commands/"+url.PathEscape(id), nil, &out)
	return out, err
}
