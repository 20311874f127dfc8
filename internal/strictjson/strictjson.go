// Package strictjson decodes the JSON objects Ordo accepts, HTTP request
// bodies (api) and command envelopes (wire), under one set of rules, so
// the two ways in cannot disagree on an edge case:
//
//   - the input is exactly one JSON object, in valid UTF-8, with nothing
//     after it;
//   - member names match exactly: "Amount" is not "amount", and a name the
//     target does not declare is refused;
//   - a name that appears twice is refused, whatever its values (no
//     first-wins or last-wins for a proxy and Ordo to disagree on);
//   - null is never a value: a member is either absent or holds a value of
//     its type;
//   - numbers are integers in minor units written as plain digits: no sign,
//     fraction, exponent or leading zero (ledger.ParseAmount,
//     ledger.ParseLimit).
//
// Every failure is a *ledger.FieldError naming the member (or the whole
// input), so it wraps ledger.ErrInvalid. The JSON library is
// github.com/go-json-experiment/json, the prototype of encoding/json/v2,
// whose defaults already refuse duplicate names and invalid UTF-8 and match
// names case-sensitively.
package strictjson

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/ordo-dev/ordo/ledger"
)

var options = json.RejectUnknownMembers(true)

// Unmarshal decodes the JSON object data into dst, a pointer to a struct
// whose fields are jsontext.Value: each is left empty when its member is
// absent and holds the member's raw value otherwise, to be read with
// String, Amount and Limit. whole names the input in errors ("body").
func Unmarshal(whole string, data []byte, dst any) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return &ledger.FieldError{Field: whole, Reason: "must be a JSON object"}
	}
	err := json.Unmarshal(data, dst, options)
	if err == nil {
		return nil
	}
	var (
		syn *jsontext.SyntacticError
		sem *json.SemanticError
	)
	switch {
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return &ledger.FieldError{Field: member(syn.JSONPointer, whole), Reason: "appears more than once"}
	case errors.As(err, &sem) && errors.Is(sem.Err, json.ErrUnknownName):
		return &ledger.FieldError{Field: member(sem.JSONPointer, whole), Reason: "is not a known field (names are case-sensitive)"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ledger.FieldError{Field: whole, Reason: "is not valid JSON: it ends early"}
	case errors.As(err, &syn):
		return &ledger.FieldError{Field: whole, Reason: "is not one valid JSON object (error at byte " + strconv.FormatInt(syn.ByteOffset, 10) + ")"}
	default:
		return &ledger.FieldError{Field: whole, Reason: "is not one valid JSON object"}
	}
}

// member is the top-level member name a JSON pointer such as "/amount"
// points into, or whole if it points at the input itself.
func member(p jsontext.Pointer, whole string) string {
	for name := range p.Tokens() {
		return name
	}
	return whole
}

// String reads a required string member.
func String(field string, v jsontext.Value) (string, error) {
	if err := want(field, v, '"', "string"); err != nil {
		return "", err
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), nil // valid JSON: no escapes, nothing to undo
	}
	b, err := jsontext.AppendUnquote(nil, v)
	if err != nil {
		return "", &ledger.FieldError{Field: field, Reason: "must be a JSON string"}
	}
	return string(b), nil
}

// Amount reads a required amount member: a positive integer in minor units
// no larger than ledger.MaxAmount.
func Amount(field string, v jsontext.Value) (int64, error) {
	if err := want(field, v, '0', "number"); err != nil {
		return 0, err
	}
	return ledger.ParseAmount(field, string(v))
}

// Limit reads an optional limit member: absent is 0; present, an integer
// in minor units from 0 to ledger.MaxAmount.
func Limit(field string, v jsontext.Value) (int64, error) {
	if len(v) == 0 {
		return 0, nil
	}
	if err := want(field, v, '0', "number"); err != nil {
		return 0, err
	}
	return ledger.ParseLimit(field, string(v))
}

// StringMap reads a required member that is a flat JSON object of strings,
// such as metadata: every value a string, never null, a number or a nested
// value. Its names are checked for duplicates like the input's own
// (Unmarshal); what they may be is the caller's to check.
func StringMap(field string, v jsontext.Value) (map[string]string, error) {
	if err := want(field, v, '{', "object"); err != nil {
		return nil, err
	}
	var raw map[string]jsontext.Value
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, &ledger.FieldError{Field: field, Reason: "must be a JSON object of strings"}
	}
	out := make(map[string]string, len(raw))
	for name, value := range raw {
		if value.Kind() != '"' {
			return nil, &ledger.FieldError{Field: field, Reason: "member " + strconv.Quote(name) + " must be a JSON string, not " + kindName(value.Kind())}
		}
		s, err := String(field, value)
		if err != nil {
			return nil, err
		}
		out[name] = s
	}
	return out, nil
}

// Absent refuses a member that must not be there; why completes "is not a
// field of ...".
func Absent(field string, v jsontext.Value, of string) error {
	if len(v) == 0 {
		return nil
	}
	return &ledger.FieldError{Field: field, Reason: "is not a field of " + of}
}

// want checks that a member is present and of the JSON kind k.
func want(field string, v jsontext.Value, k jsontext.Kind, name string) error {
	switch {
	case len(v) == 0:
		return &ledger.FieldError{Field: field, Reason: "is required"}
	case v.Kind() != k:
		return &ledger.FieldError{Field: field, Reason: "must be a JSON " + name + ", not " + kindName(v.Kind())}
	}
	return nil
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	default:
		return strings.ToLower(k.String())
	}
}
