package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ordo-dev/ordo/ledger"
)

// decodeBody parses a JSON object strictly: unknown fields, trailing data
// and wrong types are errors naming the field.
func decodeBody(r io.Reader, dst any) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &ledger.FieldError{Field: "body", Reason: "must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var (
			syntax *json.SyntaxError
			typ    *json.UnmarshalTypeError
		)
		switch {
		case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
			return &ledger.FieldError{Field: "body", Reason: "malformed JSON"}
		case errors.As(err, &typ):
			if typ.Field == "" {
				return &ledger.FieldError{Field: "body", Reason: "must be a JSON object"}
			}
			return &ledger.FieldError{Field: typ.Field, Reason: fmt.Sprintf("must be a JSON %s", jsonKind(typ.Type.Kind().String()))}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &ledger.FieldError{Field: name, Reason: "is not a known field"}
		default:
			return &ledger.FieldError{Field: "body", Reason: "malformed JSON"}
		}
	}
	if dec.More() {
		return &ledger.FieldError{Field: "body", Reason: "must hold exactly one JSON object"}
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int64", "int", "float64":
		return "number"
	default:
		return "value of the documented type"
	}
}

// amountField parses a raw JSON amount literal.
func amountField(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 {
		return 0, &ledger.FieldError{Field: "amount", Reason: "is required"}
	}
	return ledger.ParseAmount("amount", string(raw))
}
