package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/ordo-dev/ordo/internal/strictjson"
	"github.com/ordo-dev/ordo/ledger"
)

// HeaderIdempotencyKey is the IETF httpapi Idempotency-Key header.
const HeaderIdempotencyKey = "Idempotency-Key"

// The request bodies, as read by decodeBody: each member raw, checked by
// the strictjson readers in the handler.
type openAccountRequest struct {
	ID             jsontext.Value `json:"id"`
	Currency       jsontext.Value `json:"currency"`
	OverdraftLimit jsontext.Value `json:"overdraft_limit"`
	journalFields  `json:",inline"`
}

// amountRequest is a deposit's or a withdrawal's body.
type amountRequest struct {
	Amount        jsontext.Value `json:"amount"`
	Counterparty  jsontext.Value `json:"counterparty"`
	journalFields `json:",inline"`
}

type commandResponse struct {
	CommandID string        `json:"command_id"`
	Status    ledger.Status `json:"status"`
	// Deadline is set while the command is pending: it is decided by then
	// (applied, refused or expired), never later.
	Deadline *time.Time       `json:"deadline,omitempty"`
	Hold     *ledger.Hold     `json:"hold,omitempty"`
	Transfer *ledger.Transfer `json:"transfer,omitempty"`
	Account  *ledger.Account  `json:"account,omitempty"`
}

func (s *Server) openAccount(c echo.Context) error {
	var req openAccountRequest
	if err := decodeBody(c.Request().Body, &req); err != nil {
		return err
	}
	cmd := ledger.Command{Kind: ledger.KindOpenAccount}
	var err error
	if cmd.AccountID, err = strictjson.String("id", req.ID); err != nil {
		return err
	}
	if err := ledger.ValidateAccountID("id", cmd.AccountID); err != nil {
		return err
	}
	if err := authorizeAccount(c, cmd.AccountID); err != nil {
		return err
	}
	if cmd.Currency, err = strictjson.String("currency", req.Currency); err != nil {
		return err
	}
	if err := ledger.ValidateCurrency("currency", cmd.Currency); err != nil {
		return err
	}
	if cmd.OverdraftLimit, err = strictjson.Limit("overdraft_limit", req.OverdraftLimit); err != nil {
		return err
	}
	if err := req.read(&cmd); err != nil {
		return err
	}
	return s.execute(c, cmd)
}

// accountParam reads and checks the {id} path parameter: a valid account
// ID that the request's API key covers (authorizeAccount), so that every
// route reading it is tenant-isolated.
func accountParam(c echo.Context) (string, error) {
	id := c.Param("id")
	if err := ledger.ValidateAccountID("id", id); err != nil {
		return id, err
	}
	return id, authorizeAccount(c, id)
}

func (s *Server) deposit(c echo.Context) error  { return s.moveMoney(c, ledger.KindDeposit) }
func (s *Server) withdraw(c echo.Context) error { return s.moveMoney(c, ledger.KindWithdrawal) }

func (s *Server) moveMoney(c echo.Context, kind ledger.Kind) error {
	id, err := accountParam(c)
	if err != nil {
		return err
	}
	var req amountRequest
	if err := decodeBody(c.Request().Body, &req); err != nil {
		return err
	}
	cmd := ledger.Command{Kind: kind, AccountID: id}
	if cmd.Amount, err = strictjson.Amount("amount", req.Amount); err != nil {
		return err
	}
	if err := readCounterparty(&cmd, req.Counterparty); err != nil {
		return err
	}
	if err := req.read(&cmd); err != nil {
		return err
	}
	return s.execute(c, cmd)
}

// execute submits a validated command and answers with its outcome.
//
// Time: the broker must acknowledge the command within the produce timeout
// (else 503 outcome_unknown), the outcome must arrive within the wait
// budget after the acknowledgement (else one last read of the store, bounded
// by the read timeout, and 202). So every command is answered within
// ProduceTimeout + WaitBudget + ReadTimeout of its validation, whatever the
// broker or Postgres do.
func (s *Server) execute(c echo.Context, cmd ledger.Command) error {
	start := time.Now()
	if s.draining.Load() {
		return s.refuseDraining(c)
	}
	ctx := c.Request().Context()
	key := c.Request().Header.Get(HeaderIdempotencyKey)
	if key != "" {
		if len(key) > 255 {
			return &ledger.FieldError{Field: HeaderIdempotencyKey, Reason: "must be at most 255 characters"}
		}
		cmd.ID = keyedCommandID(cmd.AccountID, key)
	} else {
		cmd.ID = s.cfg.NewID()
	}
	var err error
	if cmd.IfMatch, err = ifMatch(c); err != nil {
		return err
	}
	// The deadline travels in the record (milliseconds, as the envelope
	// writes it): a command the consumer reaches later is refused as
	// expired, so a 202 never means "may apply at any time".
	cmd.Deadline = s.cfg.Now().Add(s.cfg.CommandDeadline).UTC().Truncate(time.Millisecond)
	fp := cmd.Fingerprint()

	// A retry of a decided request is submitted again: the consumer
	// answers it with the stored outcome (or idempotency_key_reused for a
	// different request) without applying it twice. Concurrent identical
	// requests on this instance share one submission.
	call, leader := s.inflight.join(cmd.ID, fp)
	if call == nil {
		return s.overloaded(c)
	}
	defer s.inflight.leave(call)
	if leader {
		// The submission answers every request sharing the call, so it
		// belongs to none of them: a leader that hangs up does not cancel
		// it.
		go s.submitCall(context.WithoutCancel(c.Request().Context()), call, cmd, start.Add(s.cfg.ProduceTimeout))
	}

	// Wait for the broker's acknowledgement. Its end is bounded by the
	// leader's produce deadline, which is no later than this request's.
	end := time.NewTimer(s.cfg.ProduceTimeout + s.cfg.WaitBudget)
	defer end.Stop()
	select {
	case <-call.done:
		return s.answer(c, call.outcome)
	case <-call.submitted:
	case <-end.C:
		return s.outcomeUnknown(c, cmd, key != "")
	case <-ctx.Done():
		return ctx.Err()
	}
	if call.subErr != nil {
		select {
		case <-call.done: // written after all, and decided
			return s.answer(c, call.outcome)
		default:
		}
		p, internal := errorProblem(call.subErr)
		if internal {
			s.logFor(c).Warn("submit command", "command_id", cmd.ID, "err", call.subErr)
		}
		if p.Code == codeUnavailable {
			return s.outcomeUnknown(c, cmd, key != "")
		}
		p.CommandID = cmd.ID
		return s.problem(c, p)
	}

	// Accepted: wait the budget for the outcome, from the acknowledgement
	// (or from this request's start, for one that joined later).
	from := call.ackedAt
	if start.After(from) {
		from = start
	}
	end.Reset(time.Until(from.Add(s.cfg.WaitBudget)))
	select {
	case <-call.done:
		return s.answer(c, call.outcome)
	case <-end.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	// The wait budget is spent: look once more, then hand out the URL.
	readCtx, cancel := context.WithTimeout(ctx, s.cfg.ReadTimeout)
	out, storedFP, err := s.store.Outcome(readCtx, cmd.ID)
	cancel()
	if err == nil {
		return s.answerStored(c, cmd, fp, out, storedFP)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !errors.Is(err, ledger.ErrNotFound) {
		s.logFor(c).Warn("read outcome after the wait budget", "command_id", cmd.ID, "err", err)
	}
	return s.accepted(c, cmd)
}

// accepted answers 202: the command is in the log, or may be, and is
// decided by its deadline. The deadline is remembered for GET.
func (s *Server) accepted(c echo.Context, cmd ledger.Command) error {
	s.pending.add(cmd.ID, cmd.AccountID, cmd.Deadline, s.cfg.Now())
	loc := "/v1/commands/" + cmd.ID
	if cmd.Kind == ledger.KindTransfer {
		// The transfer's ID is known before its debit is decided.
		loc = "/v1/transfers/" + ledger.TransferIDFor(cmd.ID)
	}
	c.Response().Header().Set(echo.HeaderLocation, loc)
	return c.JSON(http.StatusAccepted, commandResponse{CommandID: cmd.ID, Status: ledger.StatusPending, Deadline: &cmd.Deadline})
}

// submitCall produces a call's command, waiting for the broker's
// acknowledgement until deadline, and records how it ended. parent carries
// the leader's trace, not its cancellation.
func (s *Server) submitCall(parent context.Context, c *call, cmd ledger.Command, deadline time.Time) {
	ctx, cancel := context.WithDeadline(parent, deadline)
	defer cancel()
	_, err := s.submit.Submit(ctx, cmd, s.cfg.Reply)
	s.inflight.submitted(c, time.Now(), err)
}

// outcomeUnknown answers a command that the broker did not acknowledge in
// time and that may still reach the log: 503, with its command ID so the
// client can look it up or, if it is keyed, retry it. GET on this instance
// says pending until its deadline, then expired.
func (s *Server) outcomeUnknown(c echo.Context, cmd ledger.Command, keyed bool) error {
	id := cmd.ID
	s.pending.add(id, cmd.AccountID, cmd.Deadline, s.cfg.Now())
	detail := "no broker acknowledged the command in time; it may have been accepted: look it up with GET /v1/commands/" + id
	if keyed {
		detail += ", or retry with the same Idempotency-Key"
	} else {
		detail += " (a retry without an Idempotency-Key is a new command)"
	}
	p := newProblem(codeOutcomeUnknown, detail)
	p.CommandID = id
	c.Response().Header().Set("Retry-After", "1")
	return s.problem(c, p)
}

// unavailable answers a request that could not be served now and changed
// nothing: 503 with Retry-After.
func (s *Server) unavailable(c echo.Context, detail string) error {
	c.Response().Header().Set("Retry-After", "1")
	return s.problem(c, newProblem(codeUnavailable, detail))
}

// overloaded refuses a new command when MaxWaiting commands are in flight
// already: 503 with Retry-After. The command was not submitted.
func (s *Server) overloaded(c echo.Context) error {
	s.metrics.overloaded.Inc()
	c.Response().Header().Set("Retry-After", "1")
	return s.problem(c, newProblem(codeOverloaded, "this instance has too many commands waiting for their outcomes and took no new one; retry after the Retry-After seconds"))
}

// refuseDraining refuses a new command while the server shuts down; the
// command was not submitted. The connection is closed, so the client's next
// request goes to another instance.
func (s *Server) refuseDraining(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderConnection, "close")
	return s.unavailable(c, "this instance is shutting down and took no new command; retry, on another instance")
}

func (s *Server) answerStored(c echo.Context, cmd ledger.Command, fp []byte, out ledger.Outcome, storedFP []byte) error {
	if string(fp) != string(storedFP) {
		return s.problem(c, idempotencyMismatch(cmd.ID))
	}
	return s.answer(c, out)
}

func idempotencyMismatch(id string) *Problem {
	p := newProblem(string(ledger.CodeIdempotencyMismatch), "this Idempotency-Key was already used with a different request")
	p.CommandID = id
	return p
}

// answer renders a decided outcome.
func (s *Server) answer(c echo.Context, out ledger.Outcome) error {
	s.metrics.outcome(out)
	if out.Status != ledger.StatusApplied {
		return s.problem(c, outcomeProblem(out))
	}
	if out.Kind == ledger.KindTransfer && out.Transfer != nil {
		return s.answerTransfer(c, out)
	}
	status := http.StatusOK
	switch {
	case out.Kind == ledger.KindOpenAccount:
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, "/v1/accounts/"+out.AccountID)
	case out.Kind == ledger.KindHold && out.Hold != nil:
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, "/v1/accounts/"+out.AccountID+"/holds/"+out.Hold.ID)
	}
	return c.JSON(status, commandResponse{CommandID: out.CommandID, Status: out.Status, Hold: out.Hold, Account: out.Account})
}

func (s *Server) getAccount(c echo.Context) error {
	id, err := accountParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadTimeout)
	defer cancel()
	acc, err := s.store.Account(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return s.problem(c, newProblem(string(ledger.CodeAccountNotFound), "account "+strconv.Quote(id)+" does not exist"))
	}
	if err != nil {
		return s.readFailed(c, err)
	}
	etag := `"` + strconv.FormatInt(acc.Version, 10) + `"`
	c.Response().Header().Set("ETag", etag)
	if c.Request().Header.Get("If-None-Match") == etag {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSON(http.StatusOK, map[string]ledger.Account{"account": acc})
}

func (s *Server) getCommand(c echo.Context) error {
	id := c.Param("id")
	if err := ledger.ValidateCommandID("command_id", id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadTimeout)
	defer cancel()
	out, _, err := s.store.Outcome(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return s.undecided(c, id)
	}
	if err != nil {
		return s.readFailed(c, err)
	}
	if !covers(c, out.AccountID) {
		return s.commandNotFound(c) // as if absent: existence does not leak
	}
	return c.JSON(http.StatusOK, out)
}

// readFailed answers a read the store did not serve within the read
// timeout, or failed: 503 with Retry-After. A client that hung up gets
// nothing.
func (s *Server) readFailed(c echo.Context, err error) error {
	if ctxErr := c.Request().Context().Err(); ctxErr != nil {
		return ctxErr
	}
	if !errors.Is(err, ledger.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	s.logFor(c).Warn("read from the store", "path", c.Request().URL.Path, "err", err)
	return s.unavailable(c, "the database did not answer in time")
}

// keyedCommandID derives the command ID of an idempotent request. Keys are
// scoped to the account, so the same key on two accounts names two commands.
func keyedCommandID(accountID, key string) string {
	sum := sha256.Sum256([]byte(accountID + "\x00" + key))
	return "idem-" + hex.EncodeToString(sum[:16])
}

func newCommandID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

func (s *Server) commandNotFound(c echo.Context) error {
	return s.problem(c, newProblem(codeCommandNotFound, "no outcome for this command: it was never submitted, or it is still in flight; a command is decided by the deadline its 202 response gave, and a command with no outcome a minute after its deadline never takes effect"))
}

// undecided answers GET for a command with no stored outcome: pending until
// its deadline (if this instance submitted it), expired once the deadline
// and a grace period for clocks and commits have passed, else not found.
func (s *Server) undecided(c echo.Context, id string) error {
	now := s.cfg.Now()
	account, deadline, ok := s.pending.deadline(id, now)
	if !ok || !covers(c, account) {
		return s.commandNotFound(c)
	}
	if now.Sub(deadline) <= deadlineGrace {
		return c.JSON(http.StatusOK, commandResponse{CommandID: id, Status: ledger.StatusPending, Deadline: &deadline})
	}
	return c.JSON(http.StatusOK, ledger.Outcome{
		CommandID: id, Status: ledger.StatusRejected, Code: ledger.CodeExpired,
		Detail: "the command was not decided before its deadline " + deadline.Format(time.RFC3339Nano) + "; it did not take effect and never will",
	})
}
