package api

import (
	"errors"
	"net/http"

	"github.com/ordo-dev/ordo/ledger"
)

// ProblemTypeBase prefixes every problem type URI; the fragment is the code.
const ProblemTypeBase = "https://github.com/ordo-dev/ordo/blob/main/docs/problems.md#"

// Problem is an RFC 9457 problem details document with Ordo's extension
// members.
type Problem struct {
	Type      string          `json:"type"`
	Title     string          `json:"title"`
	Status    int             `json:"status"`
	Detail    string          `json:"detail,omitempty"`
	Instance  string          `json:"instance,omitempty"`
	Code      string          `json:"code"`
	Field     string          `json:"field,omitempty"`
	CommandID string          `json:"command_id,omitempty"`
	Account   *ledger.Account `json:"account,omitempty"`
	Hold      *ledger.Hold    `json:"hold,omitempty"`
}

type problemKind struct {
	status int
	title  string
}

// problems is the one table from codes to HTTP statuses and titles.
var problems = map[string]problemKind{
	string(ledger.CodeInsufficientFunds):    {http.StatusUnprocessableEntity, "Insufficient funds"},
	string(ledger.CodeAccountNotFound):      {http.StatusNotFound, "Account not found"},
	string(ledger.CodeAccountExists):        {http.StatusConflict, "Account already exists"},
	string(ledger.CodeBalanceLimitExceeded): {http.StatusUnprocessableEntity, "Balance limit exceeded"},
	string(ledger.CodeIdempotencyMismatch):  {http.StatusUnprocessableEntity, "Idempotency key reused for a different request"},
	string(ledger.CodeInvalidCommand):       {http.StatusBadRequest, "Invalid command"},
	string(ledger.CodeMisrouted):            {http.StatusInternalServerError, "Command misrouted"},
	string(ledger.CodeExpired):              {http.StatusConflict, "Command expired"},
	string(ledger.CodePreconditionFailed):   {http.StatusPreconditionFailed, "Precondition failed"},
	string(ledger.CodeHoldNotFound):         {http.StatusNotFound, "Hold not found"},
	string(ledger.CodeHoldNotOpen):          {http.StatusConflict, "Hold not open"},
	string(ledger.CodeCaptureExceedsHold):   {http.StatusUnprocessableEntity, "Capture exceeds hold"},
	string(ledger.CodeHoldNotExpired):       {http.StatusConflict, "Hold not expired"},
	string(ledger.CodeAccountFrozen):        {http.StatusConflict, "Account frozen"},
	string(ledger.CodeAccountClosed):        {http.StatusConflict, "Account closed"},
	string(ledger.CodeAccountNotEmpty):      {http.StatusConflict, "Account not empty"},
	string(ledger.CodeOverdraftInUse):       {http.StatusUnprocessableEntity, "Overdraft in use"},
	string(ledger.CodeCurrencyMismatch):     {http.StatusUnprocessableEntity, "Currency mismatch"},
	string(ledger.CodeTransferNotFound):     {http.StatusNotFound, "Transfer not found"},
	string(ledger.CodeTransferNotPending):   {http.StatusConflict, "Transfer not pending"},
	codeInvalidRequest:                      {http.StatusBadRequest, "Invalid request"},
	codeCommandNotFound:                     {http.StatusNotFound, "Command not found"},
	codeNotFound:                            {http.StatusNotFound, "Not found"},
	codeMethodNotAllowed:                    {http.StatusMethodNotAllowed, "Method not allowed"},
	codePayloadTooLarge:                     {http.StatusRequestEntityTooLarge, "Request body too large"},
	codeUnavailable:                         {http.StatusServiceUnavailable, "Service unavailable"},
	codeOutcomeUnknown:                      {http.StatusServiceUnavailable, "Outcome unknown"},
	codeOverloaded:                          {http.StatusServiceUnavailable, "Overloaded"},
	codeInternal:                            {http.StatusInternalServerError, "Internal error"},
	codeUnauthorized:                        {http.StatusUnauthorized, "Unauthorized"},
	codeForbidden:                           {http.StatusForbidden, "Forbidden"},
}

// Codes of problems that are not command outcomes.
const (
	codeInvalidRequest   = "invalid_request"
	codeCommandNotFound  = "command_not_found"
	codeTransferNotFound = string(ledger.CodeTransferNotFound)
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codePayloadTooLarge  = "payload_too_large"
	codeUnavailable      = "unavailable"
	codeOutcomeUnknown   = "outcome_unknown"
	codeOverloaded       = "overloaded"
	codeInternal         = "internal"
	codeUnauthorized     = "unauthorized"
	codeForbidden        = "forbidden"
)

func newProblem(code, detail string) *Problem {
	k, ok := problems[code]
	if !ok {
		code, k = codeInternal, problems[codeInternal]
	}
	return &Problem{Type: ProblemTypeBase + code, Title: k.title, Status: k.status, Detail: detail, Code: code}
}

// outcomeProblem is the problem for a rejected command.
func outcomeProblem(out ledger.Outcome) *Problem {
	p := newProblem(string(out.Code), out.Detail)
	p.CommandID = out.CommandID
	p.Account = out.Account
	p.Hold = out.Hold
	return p
}

// errorProblem maps an error to a problem and says whether it is internal
// (to be logged, its detail withheld from the client).
func errorProblem(err error) (p *Problem, internal bool) {
	var (
		fe  *ledger.FieldError
		fbe *forbiddenError
	)
	switch {
	case errors.As(err, &fbe):
		return newProblem(codeForbidden, fbe.detail), false
	case errors.As(err, &fe):
		p = newProblem(codeInvalidRequest, fe.Error())
		p.Field = fe.Field
		return p, false
	case errors.Is(err, ledger.ErrInvalid):
		return newProblem(codeInvalidRequest, err.Error()), false
	case errors.Is(err, ledger.ErrUnavailable):
		return newProblem(codeUnavailable, "a dependency is unavailable; retry with the same Idempotency-Key"), true
	default:
		return newProblem(codeInternal, ""), true
	}
}
