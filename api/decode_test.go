package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/internal/strictjson"
	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// TestBodyRules: issue 11 items 15 and 18. Duplicate and differently cased
// names, nulls and fractions are refused with 400 and a message that says
// what is wrong; IDs that path normalisation would remove are refused.
func TestBodyRules(t *testing.T) {
	tests := []struct {
		name, path, body string
		field            string // "" for an accepted request
		detail           string // part of the problem's detail
	}{
		{"duplicate amount", "/v1/accounts/alice/deposits", `{"amount":1,"amount":1000}`, "amount", "more than once"},
		{"duplicate amount, same value", "/v1/accounts/alice/deposits", `{"amount":1,"amount":1}`, "amount", "more than once"},
		{"duplicate id", "/v1/accounts", `{"id":"a","currency":"USD","id":"b"}`, "id", "more than once"},
		{"name in another case", "/v1/accounts/alice/deposits", `{"Amount":7}`, "Amount", "not a known field"},
		{"currency in another case", "/v1/accounts", `{"id":"a","CURRENCY":"USD"}`, "CURRENCY", "not a known field"},
		{"null amount", "/v1/accounts/alice/deposits", `{"amount":null}`, "amount", "not null"},
		{"null overdraft limit", "/v1/accounts", `{"id":"a","currency":"USD","overdraft_limit":null}`, "overdraft_limit", "not null"},
		{"null id", "/v1/accounts", `{"id":null,"currency":"USD"}`, "id", "not null"},
		{"fractional overdraft limit", "/v1/accounts", `{"id":"a","currency":"USD","overdraft_limit":1.5}`, "overdraft_limit", "integer"},
		{"fractional amount", "/v1/accounts/alice/deposits", `{"amount":1.5}`, "amount", "positive integer"},
		{"string overdraft limit", "/v1/accounts", `{"id":"a","currency":"USD","overdraft_limit":"5"}`, "overdraft_limit", "not a string"},
		{"invalid UTF-8", "/v1/accounts", "{\"id\":\"a\xff\",\"currency\":\"USD\"}", "body", "not one valid JSON object"},
		{"truncated JSON", "/v1/accounts", `{"id":"a","currency":`, "body", "ends early"},
		{"account id .", "/v1/accounts", `{"id":".","currency":"USD"}`, "id", "not only dots"},
		{"account id ..", "/v1/accounts", `{"id":"..","currency":"USD"}`, "id", "not only dots"},
		{"account id ...", "/v1/accounts", `{"id":"...","currency":"USD"}`, "id", "not only dots"},
		{"path account ...", "/v1/accounts/.../deposits", `{"amount":1}`, "id", "not only dots"},
		{"zero overdraft limit", "/v1/accounts", `{"id":"a","currency":"USD","overdraft_limit":0}`, "", ""},
		{"no overdraft limit", "/v1/accounts", `{"id":"a","currency":"USD"}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ts := newTestServer(t, time.Second)
			res, doc := request(t, ts, "POST", tt.path, tt.body)
			if tt.field == "" {
				if res.StatusCode != 201 {
					t.Fatalf("got %d %v, want 201", res.StatusCode, doc)
				}
				return
			}
			if res.StatusCode != 400 || doc["field"] != tt.field {
				t.Fatalf("got %d %v, want 400 on field %q", res.StatusCode, doc, tt.field)
			}
			if detail, _ := doc["detail"].(string); !strings.Contains(detail, tt.detail) {
				t.Errorf("got detail %q, want it to say %q", detail, tt.detail)
			}
			if len(f.submitted) != 0 {
				t.Errorf("a refused request reached the commands topic: %+v", f.submitted)
			}
		})
	}
}

// TestBodyAndEnvelopeAgree: issue 11 items 6 and 15. The HTTP body and the
// Kafka envelope read a member under one set of rules: each value is
// accepted by both or refused by both, on the same field.
func TestBodyAndEnvelopeAgree(t *testing.T) {
	tests := []struct {
		name, members string // the members after the kind's fixed ones
	}{
		{"plain", `"amount":5`},
		{"largest", `"amount":9007199254740991`},
		{"too large", `"amount":9007199254740992`},
		{"zero", `"amount":0`},
		{"negative", `"amount":-5`},
		{"fraction", `"amount":1.5`},
		{"integral fraction", `"amount":1.0`},
		{"exponent", `"amount":1e2`},
		{"leading zero", `"amount":05`},
		{"string", `"amount":"5"`},
		{"null", `"amount":null`},
		{"boolean", `"amount":true`},
		{"object", `"amount":{}`},
		{"duplicate", `"amount":5,"amount":5`},
		{"other case", `"Amount":5`},
		{"unknown", `"amount":5,"memo":"x"`},
		{"currency", `"amount":5,"currency":"USD"`},
		{"missing", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, httpErr := bodyAmount(tt.members)
			sep := ","
			if tt.members == "" {
				sep = ""
			}
			_, wireErr := wire.DecodeCommand("c1", []byte(`{"v":1,"kind":"deposit","account_id":"a"`+sep+tt.members+`}`))
			var hf, wf *ledger.FieldError
			errors.As(httpErr, &hf)
			errors.As(wireErr, &wf)
			switch {
			case (httpErr == nil) != (wireErr == nil):
				t.Fatalf("got HTTP %v and envelope %v, want both to accept or both to refuse", httpErr, wireErr)
			case hf != nil && wf != nil && hf.Field != wf.Field && !(hf.Field == "body" && wf.Field == "envelope"):
				t.Fatalf("got HTTP field %q and envelope field %q, want the same", hf.Field, wf.Field)
			}
		})
	}
}

// bodyAmount reads a deposit body as the handler does.
func bodyAmount(members string) (int64, error) {
	var req amountRequest
	if err := decodeBody(strings.NewReader("{"+members+"}"), &req); err != nil {
		return 0, err
	}
	return strictjson.Amount("amount", req.Amount)
}
