package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/ordo-dev/ordo/internal/strictjson"
	"github.com/ordo-dev/ordo/ledger"
)

type transferRequest struct {
	From     jsontext.Value `json:"from"`
	To       jsontext.Value `json:"to"`
	Amount   jsontext.Value `json:"amount"`
	Currency jsontext.Value `json:"currency"`
	// The transfer's reference and metadata go with its debit, its
	// credit and any refund.
	journalFields `json:",inline"`
}

// createTransfer starts a transfer: a command on the source account, whose
// Idempotency-Key and If-Match are the source's. The answer waits for the
// transfer's end (completed or refunded), as long as the wait budget allows.
func (s *Server) createTransfer(c echo.Context) error {
	var req transferRequest
	if err := decodeBody(c.Request().Body, &req); err != nil {
		return err
	}
	cmd := ledger.Command{Kind: ledger.KindTransfer}
	var err error
	if cmd.AccountID, err = strictjson.String("from", req.From); err != nil {
		return err
	}
	if err := ledger.ValidateAccountID("from", cmd.AccountID); err != nil {
		return err
	}
	if cmd.Counterparty, err = strictjson.String("to", req.To); err != nil {
		return err
	}
	if err := ledger.ValidateAccountID("to", cmd.Counterparty); err != nil {
		return err
	}
	if err := authorizeAccount(c, cmd.AccountID); err != nil {
		return err
	}
	if err := authorizeAccount(c, cmd.Counterparty); err != nil {
		return err
	}
	if cmd.Counterparty == cmd.AccountID {
		return &ledger.FieldError{Field: "to", Reason: "must be another account than from"}
	}
	if cmd.Amount, err = strictjson.Amount("amount", req.Amount); err != nil {
		return err
	}
	if cmd.Currency, err = strictjson.String("currency", req.Currency); err != nil {
		return err
	}
	if err := ledger.ValidateCurrency("currency", cmd.Currency); err != nil {
		return err
	}
	if err := req.read(&cmd); err != nil {
		return err
	}
	return s.execute(c, cmd)
}

// transferDoc is a transfer with its legs, as GET /v1/transfers/{id} shows it.
type transferDoc struct {
	ledger.Transfer
	Legs []ledger.TransferLeg `json:"legs"`
}

func (s *Server) getTransfer(c echo.Context) error {
	id := c.Param("id")
	if err := ledger.ValidateCommandID("id", id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadTimeout)
	defer cancel()
	t, legs, err := s.store.Transfer(ctx, id)
	if err == nil && !covers(c, t.From) && !covers(c, t.To) {
		err = ledger.ErrNotFound // as if absent: existence does not leak
	}
	if errors.Is(err, ledger.ErrNotFound) {
		return s.problem(c, newProblem(codeTransferNotFound, "no transfer "+strconv.Quote(id)+" (yet): a transfer exists once its debit is decided"))
	}
	if err != nil {
		return s.readFailed(c, err)
	}
	if legs == nil {
		legs = []ledger.TransferLeg{}
	}
	return c.JSON(http.StatusOK, map[string]transferDoc{"transfer": {Transfer: t, Legs: legs}})
}

// answerTransfer renders a transfer's outcome: 200 once it is final, 202
// with its URL while the money is on its way.
func (s *Server) answerTransfer(c echo.Context, out ledger.Outcome) error {
	t := out.Transfer
	if t.Status == ledger.TransferPending {
		c.Response().Header().Set(echo.HeaderLocation, "/v1/transfers/"+t.ID)
		return c.JSON(http.StatusAccepted, commandResponse{CommandID: out.CommandID, Status: ledger.StatusPending, Transfer: t, Account: out.Account})
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/transfers/"+t.ID)
	return c.JSON(http.StatusOK, commandResponse{CommandID: out.CommandID, Status: out.Status, Transfer: t, Account: out.Account})
}
