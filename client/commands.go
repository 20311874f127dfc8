package client

import (
	"context"
	"net/url"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// Result is the outcome of an applied command.
type Result struct {
	CommandID string `json:"command_id"`
	// Status is ledger.StatusApplied (refusals are errors).
	Status ledger.Status `json:"status"`
	// Account is the account after the command (for a transfer: the
	// source).
	Account *ledger.Account `json:"account,omitempty"`
	// Hold is set by CreateHold, CaptureHold and ReleaseHold.
	Hold *ledger.Hold `json:"hold,omitempty"`
	// Transfer is set by Transfer: completed, or refunded with its Reason.
	Transfer *ledger.Transfer `json:"transfer,omitempty"`
	// Deadline is set while a command is pending (internal to following a
	// 202).
	Deadline *time.Time `json:"deadline,omitempty"`
	// Location is the answer's Location header, if any: the new account,
	// hold or transfer.
	Location string `json:"-"`
}

// OpenAccount opens account id in currency (such as "USD") with an
// overdraft limit (0: none).
func (c *Client) OpenAccount(ctx context.Context, id, currency string, overdraftLimit int64, opts ...CallOption) (*Result, error) {
	body := struct {
		ID             string `json:"id"`
		Currency       string `json:"currency"`
		OverdraftLimit int64  `json:"overdraft_limit,omitempty"`
	}{id, currency, overdraftLimit}
	return c.run(ctx, "/v1/accounts", body, opts)
}

type amountBody struct {
	Amount int64 `json:"amount"`
}

// Deposit adds amount (minor units) to account.
func (c *Client) Deposit(ctx context.Context, account string, amount int64, opts ...CallOption) (*Result, error) {
	return c.run(ctx, accountPath(account)+"/deposits", amountBody{amount}, opts)
}

// Withdraw takes amount from account: ErrInsufficientFunds beyond its
// available money and overdraft.
func (c *Client) Withdraw(ctx context.Context, account string, amount int64, opts ...CallOption) (*Result, error) {
	return c.run(ctx, accountPath(account)+"/withdrawals", amountBody{amount}, opts)
}

// CreateHold reserves amount on account until it is captured, released or
// expires after expiresIn (0: the server's default, 168h). Result.Hold is
// the new hold.
func (c *Client) CreateHold(ctx context.Context, account string, amount int64, expiresIn time.Duration, opts ...CallOption) (*Result, error) {
	body := struct {
		Amount    int64  `json:"amount"`
		ExpiresIn string `json:"expires_in,omitempty"`
	}{Amount: amount}
	if expiresIn > 0 {
		body.ExpiresIn = expiresIn.String()
	}
	return c.run(ctx, accountPath(account)+"/holds", body, opts)
}

// CaptureHold takes amount of the hold from the balance and releases the
// rest (amount 0: all of it).
func (c *Client) CaptureHold(ctx context.Context, account, hold string, amount int64, opts ...CallOption) (*Result, error) {
	body := struct {
		Amount int64 `json:"amount,omitempty"`
	}{amount}
	return c.run(ctx, holdPath(account, hold)+"/capture", body, opts)
}

// ReleaseHold returns the hold's whole amount to the available money.
func (c *Client) ReleaseHold(ctx context.Context, account, hold string, opts ...CallOption) (*Result, error) {
	return c.run(ctx, holdPath(account, hold)+"/release", nil, opts)
}

// SetOverdraftLimit sets how far below zero account may go.
func (c *Client) SetOverdraftLimit(ctx context.Context, account string, limit int64, opts ...CallOption) (*Result, error) {
	body := struct {
		OverdraftLimit int64 `json:"overdraft_limit"`
	}{limit}
	return c.run(ctx, accountPath(account)+"/overdraft-limit", body, opts)
}

// Freeze refuses debits, new holds, captures and outgoing transfers on
// account until Unfreeze.
func (c *Client) Freeze(ctx context.Context, account string, opts ...CallOption) (*Result, error) {
	return c.run(ctx, accountPath(account)+"/freeze", nil, opts)
}

// Unfreeze lifts Freeze.
func (c *Client) Unfreeze(ctx context.Context, account string, opts ...CallOption) (*Result, error) {
	return c.run(ctx, accountPath(account)+"/unfreeze", nil, opts)
}

// Close closes an empty account for good (ErrAccountNotEmpty otherwise).
func (c *Client) Close(ctx context.Context, account string, opts ...CallOption) (*Result, error) {
	return c.run(ctx, accountPath(account)+"/close", nil, opts)
}

// TransferRequest moves Amount of Currency from one account to another.
type TransferRequest struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Transfer moves money between accounts and returns once the transfer is
// final: Result.Transfer.Status is completed, or refunded with the
// destination's refusal as Reason. The Idempotency-Key and IfMatch apply
// to the source account. A refusal of the debit is an error.
func (c *Client) Transfer(ctx context.Context, t TransferRequest, opts ...CallOption) (*Result, error) {
	return c.run(ctx, "/v1/transfers", t, opts)
}

func (c *Client) run(ctx context.Context, path string, body any, opts []CallOption) (*Result, error) {
	var r Result
	if err := c.command(ctx, path, body, opts, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func accountPath(id string) string { return "/v1/accounts/" + url.PathEscape(id) }

func holdPath(account, hold string) string {
	return accountPath(account) + "/holds/" + url.PathEscape(hold)
}
