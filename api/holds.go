package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/ordo-dev/ordo/internal/strictjson"
	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// The bodies of the hold and lifecycle commands.
type holdRequest struct {
	Amount        jsontext.Value `json:"amount"`
	ExpiresIn     jsontext.Value `json:"expires_in"`
	journalFields `json:",inline"`
}

type captureRequest struct {
	Amount        jsontext.Value `json:"amount"`
	Counterparty  jsontext.Value `json:"counterparty"`
	journalFields `json:",inline"`
}

type overdraftRequest struct {
	OverdraftLimit jsontext.Value `json:"overdraft_limit"`
	journalFields  `json:",inline"`
}

// journalOnly is the optional body of release, freeze, unfreeze and close.
type journalOnly struct {
	journalFields `json:",inline"`
}

// Hold listing: pages of at most maxHoldPage holds, defaultHoldPage unless
// asked.
const (
	defaultHoldPage = 50
	maxHoldPage     = 200
)

// holdParams reads and checks the {id} and {hold_id} path parameters.
func holdParams(c echo.Context) (account, hold string, err error) {
	if account, err = accountParam(c); err != nil {
		return "", "", err
	}
	hold = c.Param("hold_id")
	return account, hold, ledger.ValidateCommandID("hold_id", hold)
}

// decodeOptionalBody is decodeBody for commands whose members are all
// optional: an empty body is no members.
func decodeOptionalBody(c echo.Context, dst any) error {
	body, err := readBody(c.Request().Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return strictjson.Unmarshal("body", body, dst)
}

func (s *Server) createHold(c echo.Context) error {
	id, err := accountParam(c)
	if err != nil {
		return err
	}
	var req holdRequest
	if err := decodeBody(c.Request().Body, &req); err != nil {
		return err
	}
	cmd := ledger.Command{Kind: ledger.KindHold, AccountID: id}
	if cmd.Amount, err = strictjson.Amount("amount", req.Amount); err != nil {
		return err
	}
	if len(req.ExpiresIn) > 0 {
		if cmd.HoldFor, err = wire.Duration("expires_in", req.ExpiresIn); err != nil {
			return err
		}
		if err := ledger.ValidateHoldFor("expires_in", cmd.HoldFor); err != nil {
			return err
		}
	}
	if err := req.read(&cmd); err != nil {
		return err
	}
	return s.execute(c, cmd)
}

func (s *Server) captureHold(c echo.Context) error {
	account, hold, err := holdParams(c)
	if err != nil {
		return err
	}
	var req captureRequest
	if err := decodeOptionalBody(c, &req); err != nil {
		return err
	}
	cmd := ledger.Command{Kind: ledger.KindCapture, AccountID: account, HoldID: hold}
	if len(req.Amount) > 0 {
		if cmd.Amount, err = strictjson.Amount("amount", req.Amount); err != nil {
			return err
		}
	}
	if err := readCounterparty(&cmd, req.Counterparty); err != nil {
		return err
	}
	if err := req.read(&cmd); err != nil {
		return err
	}
	return s.execute(c, cmd)
}

func (s *Server) releaseHold(c echo.Context) error {
	account, hold, err := holdParams(c)
	if err != nil {
		return err
	}
	var req journalOnly
	if err := decodeOptionalBody(c, &req); err != nil {
		return err
	}
	cmd := ledger.Command{Kind: ledger.KindRelease, AccountID: account, HoldID: hold}
	if err := req.read(&cmd); err != nil {
		return err
	}
	return s.execute(c, cmd)
}

func (s *Server) setOverdraftLimit(c echo.Context) error {
	id, err := accountParam(c)
	if err != nil {
		return err
	}
	var req overdraftRequest
	if err := decodeBody(c.Request().Body, &req); err != nil {
		return err
	}
	if len(req.OverdraftLimit) == 0 {
		return &ledger.FieldError{Field: "overdraft_limit", Reason: "is required"}
	}
	cmd := ledger.Command{Kind: ledger.KindSetOverdraftLimit, AccountID: id}
	if cmd.OverdraftLimit, err = strictjson.Limit("overdraft_limit", req.OverdraftLimit); err != nil {
		return err
	}
	if err := req.read(&cmd); err != nil {
		return err
	}
	return s.execute(c, cmd)
}

// lifecycle returns the handler of a command with no members: freeze,
// unfreeze, close.
func (s *Server) lifecycle(kind ledger.Kind) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := accountParam(c)
		if err != nil {
			return err
		}
		var req journalOnly
		if err := decodeOptionalBody(c, &req); err != nil {
			return err
		}
		cmd := ledger.Command{Kind: kind, AccountID: id}
		if err := req.read(&cmd); err != nil {
			return err
		}
		return s.execute(c, cmd)
	}
}

func (s *Server) getHold(c echo.Context) error {
	account, hold, err := holdParams(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadTimeout)
	defer cancel()
	h, err := s.store.Hold(ctx, account, hold)
	if errors.Is(err, ledger.ErrNotFound) {
		return s.problem(c, newProblem(string(ledger.CodeHoldNotFound), "account "+strconv.Quote(account)+" has no hold "+strconv.Quote(hold)))
	}
	if err != nil {
		return s.readFailed(c, err)
	}
	h = h.AsOf(s.cfg.Now())
	return c.JSON(http.StatusOK, map[string]ledger.Hold{"hold": h})
}

type holdList struct {
	Holds []ledger.Hold `json:"holds"`
	// Next is the cursor of the next page (pass it as after=), absent on
	// the last page.
	Next string `json:"next,omitempty"`
}

func (s *Server) listHolds(c echo.Context) error {
	account, err := accountParam(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	for name := range q {
		if name != "status" && name != "limit" && name != "after" {
			return &ledger.FieldError{Field: name, Reason: "is not a known parameter (status, limit, after)"}
		}
	}
	status := ledger.HoldStatus(q.Get("status"))
	switch status {
	case "", ledger.HoldOpen, ledger.HoldCaptured, ledger.HoldReleased, ledger.HoldExpired:
	default:
		return &ledger.FieldError{Field: "status", Reason: "must be open, captured, released or expired"}
	}
	limit := defaultHoldPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxHoldPage || strings.TrimLeft(v, "0123456789") != "" {
			return &ledger.FieldError{Field: "limit", Reason: "must be a whole number from 1 to " + strconv.Itoa(maxHoldPage)}
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadTimeout)
	defer cancel()
	holds, next, err := s.store.Holds(ctx, account, status, q.Get("after"), limit)
	if err != nil {
		if errors.Is(err, ledger.ErrInvalid) {
			return err
		}
		return s.readFailed(c, err)
	}
	now := s.cfg.Now()
	for i := range holds {
		holds[i] = holds[i].AsOf(now)
	}
	if holds == nil {
		holds = []ledger.Hold{}
	}
	return c.JSON(http.StatusOK, holdList{Holds: holds, Next: next})
}

// ifMatch reads a command's If-Match header: a strong ETag of an account
// version ("7"), or * for any version. Absent: no condition.
func ifMatch(c echo.Context) (int64, error) {
	h := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	switch {
	case h == "":
		return ledger.IfMatchNone, nil
	case h == "*":
		return ledger.IfMatchExists, nil
	}
	bad := &ledger.FieldError{Field: "If-Match", Reason: `must be one ETag of the account, such as "7" (from GET /v1/accounts/{id}), or *`}
	if len(h) < 3 || h[0] != '"' || h[len(h)-1] != '"' {
		return 0, bad
	}
	v, err := ledger.ParseAmount("If-Match", h[1:len(h)-1])
	if err != nil {
		return 0, bad
	}
	return v, nil
}
