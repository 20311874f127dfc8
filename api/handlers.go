package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/ordo-dev/ordo/ledger"
)

// HeaderIdempotencyKey is the IETF httpapi Idempotency-Key header.
const HeaderIdempotencyKey = "Idempotency-Key"

type openAccountRequest struct {
	ID             string `json:"id"`
	Currency       string `json:"currency"`
	OverdraftLimit *int64 `json:"overdraft_limit"`
}

type amountRequest struct {
	Amount json.RawMessage `json:"amount"`
}

type commandResponse struct {
	CommandID string        `json:"command_id"`
	Status    ledger.Status `json:"status"`
	// Deadline is set while the command is pending: it is decided by then
	// (applied, refused or expired), never later.
	Deadline *time.Time      `json:"deadline,omitempty"`
	Account  *ledger.Account `json:"account,omitempty"`
}

func (s *Server) openAccount(c echo.Context) error {
	var req openAccountRequest
	if err := decodeBody(c.Request().Body, &req); err != nil {
		return err
	}
	if err := ledger.ValidateAccountID("id", req.ID); err != nil {
		return err
	}
	if err := ledger.ValidateCurrency("currency", req.Currency); err != nil {
		return err
	}
	cmd := ledger.Command{Kind: ledger.KindOpenAccount, AccountID: req.ID, Currency: req.Currency}
	if req.OverdraftLimit != nil {
		if err := ledger.ValidateLimit("overdraft_limit", *req.OverdraftLimit); err != nil {
			return err
		}
		cmd.OverdraftLimit = *req.OverdraftLimit
	}
	return s.execute(c, cmd)
}

func (s *Server) deposit(c echo.Context) error  { return s.moveMoney(c, ledger.KindDeposit) }
func (s *Server) withdraw(c echo.Context) error { return s.moveMoney(c, ledger.KindWithdrawal) }

func (s *Server) moveMoney(c echo.Context, kind ledger.Kind) error {
	id := c.Param("id")
	if err := ledger.ValidateAccountID("id", id); err != nil {
		return err
	}
	var req amountRequest
	if err := decodeBody(c.Request().Body, &req); err != nil {
		return err
	}
	amount, err := amountField(req.Amount)
	if err != nil {
		return err
	}
	return s.execute(c, ledger.Command{Kind: kind, AccountID: id, Amount: amount})
}

// execute submits a validated command and answers with its outcome.
func (s *Server) execute(c echo.Context, cmd ledger.Command) error {
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
	// The deadline travels in the record (milliseconds, as the envelope
	// writes it): a command the consumer reaches later is refused as
	// expired, so a 202 never means "may apply at any time".
	cmd.Deadline = s.cfg.Now().Add(s.cfg.CommandDeadline).UTC().Truncate(time.Millisecond)
	fp := cmd.Fingerprint()

	// A retry of a decided request is submitted again: the consumer
	// answers it with the stored outcome (or idempotency_key_reused for a
	// different request) without applying it twice. Concurrent retries on
	// this instance share one submission.
	call, leader, ok := s.inflight.join(cmd.ID, fp)
	if !ok {
		return s.problem(c, idempotencyMismatch(cmd.ID))
	}
	if leader {
		defer s.inflight.leave(cmd.ID, call)
		// The submission answers every request sharing this command ID, so
		// the leader hanging up must not cancel it; and it may not outlast
		// the wait budget: a broker that cannot be reached is a 503 (franz-go
		// would otherwise retry without end).
		subCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WaitBudget)
		_, err := s.submit.Submit(subCtx, cmd, s.cfg.Reply)
		cancel()
		if err != nil {
			call.finish(ledger.Outcome{}, err)
		}
	}

	timer := time.NewTimer(s.cfg.WaitBudget)
	defer timer.Stop()
	select {
	case <-call.done:
		if call.err != nil {
			p, internal := errorProblem(call.err)
			if internal {
				s.log.Warn("submit command", "command_id", cmd.ID, "err", call.err)
			}
			p.CommandID = cmd.ID
			return s.problem(c, p)
		}
		return s.answer(c, call.outcome)
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	// The wait budget is spent: look once more, then hand out the URL.
	out, storedFP, err := s.store.Outcome(ctx, cmd.ID)
	if err == nil {
		return s.answerStored(c, cmd, fp, out, storedFP)
	}
	if !errors.Is(err, ledger.ErrNotFound) {
		s.log.Warn("read outcome after the wait budget", "command_id", cmd.ID, "err", err)
	}
	return s.accepted(c, cmd)
}

// accepted answers 202: the command is in the log, or may be, and is
// decided by its deadline. The deadline is remembered for GET.
func (s *Server) accepted(c echo.Context, cmd ledger.Command) error {
	s.pending.add(cmd.ID, cmd.Deadline, s.cfg.Now())
	c.Response().Header().Set(echo.HeaderLocation, "/v1/commands/"+cmd.ID)
	return c.JSON(http.StatusAccepted, commandResponse{CommandID: cmd.ID, Status: ledger.StatusPending, Deadline: &cmd.Deadline})
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
	status := http.StatusOK
	if out.Kind == ledger.KindOpenAccount {
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, "/v1/accounts/"+out.AccountID)
	}
	return c.JSON(status, commandResponse{CommandID: out.CommandID, Status: out.Status, Account: out.Account})
}

func (s *Server) getAccount(c echo.Context) error {
	id := c.Param("id")
	if err := ledger.ValidateAccountID("id", id); err != nil {
		return err
	}
	acc, err := s.store.Account(c.Request().Context(), id)
	if errors.Is(err, ledger.ErrNotFound) {
		return s.problem(c, newProblem(string(ledger.CodeAccountNotFound), "account "+strconv.Quote(id)+" does not exist"))
	}
	if err != nil {
		return err
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
	out, _, err := s.store.Outcome(c.Request().Context(), id)
	if errors.Is(err, ledger.ErrNotFound) {
		return s.undecided(c, id)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
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

// undecided answers GET for a command with no stored outcome: pending until
// its deadline (if this instance submitted it), expired once the deadline
// and a grace period for clocks and commits have passed, else not found.
func (s *Server) undecided(c echo.Context, id string) error {
	now := s.cfg.Now()
	deadline, ok := s.pending.deadline(id, now)
	if !ok {
		return s.problem(c, newProblem(codeCommandNotFound, "no outcome for this command: it was never submitted, or it is still in flight; a command is decided by the deadline its 202 response gave, and a command with no outcome a minute after its deadline never takes effect"))
	}
	if now.Sub(deadline) <= deadlineGrace {
		return c.JSON(http.StatusOK, commandResponse{CommandID: id, Status: ledger.StatusPending, Deadline: &deadline})
	}
	return c.JSON(http.StatusOK, ledger.Outcome{
		CommandID: id, Status: ledger.StatusRejected, Code: ledger.CodeExpired,
		Detail: "the command was not decided before its deadline " + deadline.Format(time.RFC3339Nano) + "; it did not take effect and never will",
	})
}
