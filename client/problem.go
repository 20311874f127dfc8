package client

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ordo-dev/ordo/ledger"
)

// Problem is an RFC 9457 problem document answered by Ordo: a refusal or an
// error. docs/problems.md lists the codes.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code"`
	// Field names the offending input of an invalid_request.
	Field string `json:"field,omitempty"`
	// CommandID is the refused command, when there is one.
	CommandID string `json:"command_id,omitempty"`
	// Account is the account's state when a command was refused.
	Account *ledger.Account `json:"account,omitempty"`
	// Hold is the hold a hold command was refused on (hold_not_open).
	Hold *ledger.Hold `json:"hold,omitempty"`
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("ordo: %d %s", p.Status, p.Code)
	if p.Code == "" {
		s = fmt.Sprintf("ordo: %d %s", p.Status, http.StatusText(p.Status))
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// Is reports whether target is the sentinel of p's code, so that
// errors.Is(err, ErrInsufficientFunds) holds for such a refusal.
func (p *Problem) Is(target error) bool {
	c, ok := target.(*codeError)
	return ok && c.code == p.Code
}

// codeError is the sentinel of one problem code.
type codeError struct{ code string }

func (e *codeError) Error() string { return "ordo: " + e.code }

// Code returns the problem code of err (wrapped or not), or "" if err is
// not a *Problem.
func Code(err error) string {
	var p *Problem
	if errors.As(err, &p) {
		return p.Code
	}
	return ""
}

func newCode(c string) error { return &codeError{code: c} }

// Sentinels, one per problem code, for errors.Is.
var (
	ErrInsufficientFunds    = newCode(string(ledger.CodeInsufficientFunds))
	ErrAccountNotFound      = newCode(string(ledger.CodeAccountNotFound))
	ErrAccountExists        = newCode(string(ledger.CodeAccountExists))
	ErrBalanceLimitExceeded = newCode(string(ledger.CodeBalanceLimitExceeded))
	ErrIdempotencyKeyReused = newCode(string(ledger.CodeIdempotencyMismatch))
	ErrInvalidCommand       = newCode(string(ledger.CodeInvalidCommand))
	ErrMisrouted            = newCode(string(ledger.CodeMisrouted))
	ErrExpired              = newCode(string(ledger.CodeExpired))
	ErrPreconditionFailed   = newCode(string(ledger.CodePreconditionFailed))
	ErrHoldNotFound         = newCode(string(ledger.CodeHoldNotFound))
	ErrHoldNotOpen          = newCode(string(ledger.CodeHoldNotOpen))
	ErrCaptureExceedsHold   = newCode(string(ledger.CodeCaptureExceedsHold))
	ErrHoldNotExpired       = newCode(string(ledger.CodeHoldNotExpired))
	ErrAccountFrozen        = newCode(string(ledger.CodeAccountFrozen))
	ErrAccountClosed        = newCode(string(ledger.CodeAccountClosed))
	ErrAccountNotEmpty      = newCode(string(ledger.CodeAccountNotEmpty))
	ErrOverdraftInUse       = newCode(string(ledger.CodeOverdraftInUse))
	ErrCurrencyMismatch     = newCode(string(ledger.CodeCurrencyMismatch))
	ErrTransferNotFound     = newCode(string(ledger.CodeTransferNotFound))
	ErrTransferNotPending   = newCode(string(ledger.CodeTransferNotPending))
	ErrInvalidRequest       = newCode("invalid_request")
	ErrCommandNotFound      = newCode("command_not_found")
	ErrNotFound             = newCode("not_found")
	ErrMethodNotAllowed     = newCode("method_not_allowed")
	ErrPayloadTooLarge      = newCode("payload_too_large")
	ErrUnavailable          = newCode("unavailable")
	ErrOutcomeUnknown       = newCode("outcome_unknown")
	ErrInternal             = newCode("internal")
	ErrUnauthorized         = newCode("unauthorized")
	ErrForbidden            = newCode("forbidden")
)
