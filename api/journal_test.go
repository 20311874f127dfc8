package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// TestJournalFieldsOnEveryCommand: every command route takes reference and
// metadata, and deposit, withdrawal and capture an external counterparty;
// the submitted command carries them, metadata in canonical form.
func TestJournalFieldsOnEveryCommand(t *testing.T) {
	f, ts := newTestServer(t, 2*time.Second)
	const journal = `"reference":"inv-7","metadata":{"order":"42","channel":"web"}`
	const meta = ledger.Metadata(`{"channel":"web","order":"42"}`)
	var holdID string
	for _, tt := range []struct {
		name, path, body string
		counterparty     string
	}{
		{"open", "/v1/accounts", `{"id":"alice","currency":"USD",` + journal + `}`, ""},
		{"open bob", "/v1/accounts", `{"id":"bob","currency":"USD",` + journal + `}`, ""},
		{"deposit", "/v1/accounts/alice/deposits", `{"amount":100,"counterparty":"bank:acme",` + journal + `}`, "bank:acme"},
		{"deposit, default counterparty", "/v1/accounts/alice/deposits", `{"amount":100,` + journal + `}`, ""},
		{"withdrawal", "/v1/accounts/alice/withdrawals", `{"amount":10,"counterparty":"bank:acme",` + journal + `}`, "bank:acme"},
		{"hold", "/v1/accounts/alice/holds", `{"amount":10,` + journal + `}`, ""},
		{"capture", "/v1/accounts/alice/holds/{hold}/capture", `{"amount":5,"counterparty":"card:visa",` + journal + `}`, "card:visa"},
		{"hold again", "/v1/accounts/alice/holds", `{"amount":10,` + journal + `}`, ""},
		{"release", "/v1/accounts/alice/holds/{hold}/release", `{` + journal + `}`, ""},
		{"overdraft limit", "/v1/accounts/alice/overdraft-limit", `{"overdraft_limit":5,` + journal + `}`, ""},
		{"freeze", "/v1/accounts/alice/freeze", `{` + journal + `}`, ""},
		{"unfreeze", "/v1/accounts/alice/unfreeze", `{` + journal + `}`, ""},
		{"transfer", "/v1/transfers", `{"from":"alice","to":"bob","amount":5,"currency":"USD",` + journal + `}`, "bob"},
		{"close", "/v1/accounts/bob/close", `{` + journal + `}`, ""},
	} {
		path := strings.Replace(tt.path, "{hold}", holdID, 1)
		res, doc := request(t, ts, "POST", path, tt.body)
		if res.StatusCode >= 300 && !(tt.name == "close" && doc["code"] == "account_not_empty") {
			t.Fatalf("%s: got %d %v, want success", tt.name, res.StatusCode, doc)
		}
		if h, ok := doc["hold"].(map[string]any); ok {
			holdID, _ = h["id"].(string)
		}
		f.mu.Lock()
		cmd := f.submitted[len(f.submitted)-1]
		f.mu.Unlock()
		if cmd.Reference != "inv-7" || cmd.Metadata != meta || cmd.Counterparty != tt.counterparty {
			t.Errorf("%s: got reference %q, metadata %s, counterparty %q; want inv-7, %s, %q",
				tt.name, cmd.Reference, cmd.Metadata, cmd.Counterparty, meta, tt.counterparty)
		}
	}
}

// TestJournalFieldsValidated: bad journal fields are refused with 400 on
// the field, before anything is submitted.
func TestJournalFieldsValidated(t *testing.T) {
	f, ts := newTestServer(t, time.Second)
	dep := "/v1/accounts/alice/deposits"
	for _, tt := range []struct{ name, path, body, field string }{
		{"reference too long", dep, `{"amount":1,"reference":"` + strings.Repeat("r", 129) + `"}`, "reference"},
		{"reference with a newline", dep, `{"amount":1,"reference":"a\nb"}`, "reference"},
		{"reference with a control character", dep, `{"amount":1,"reference":"a\u0007b"}`, "reference"},
		{"reference a number", dep, `{"amount":1,"reference":7}`, "reference"},
		{"reference null", dep, `{"amount":1,"reference":null}`, "reference"},
		{"metadata an array", dep, `{"amount":1,"metadata":["a"]}`, "metadata"},
		{"metadata null", dep, `{"amount":1,"metadata":null}`, "metadata"},
		{"metadata nested", dep, `{"amount":1,"metadata":{"a":{"b":"c"}}}`, "metadata"},
		{"metadata a number", dep, `{"amount":1,"metadata":{"a":1}}`, "metadata"},
		{"metadata duplicate key", dep, `{"amount":1,"metadata":{"a":"1","a":"2"}}`, "metadata"},
		{"metadata bad key", dep, `{"amount":1,"metadata":{"a/b":"1"}}`, "metadata"},
		{"metadata value too long", dep, `{"amount":1,"metadata":{"a":"` + strings.Repeat("v", 257) + `"}}`, "metadata"},
		{"metadata too many keys", dep, `{"amount":1,"metadata":{` + manyKeys(17) + `}}`, "metadata"},
		{"counterparty upper case", dep, `{"amount":1,"counterparty":"Bank"}`, "counterparty"},
		{"counterparty empty", dep, `{"amount":1,"counterparty":""}`, "counterparty"},
		{"counterparty too long", "/v1/accounts/alice/withdrawals", `{"amount":1,"counterparty":"` + strings.Repeat("b", 65) + `"}`, "counterparty"},
		{"counterparty on a hold", "/v1/accounts/alice/holds", `{"amount":1,"counterparty":"bank"}`, "counterparty"},
		{"counterparty on a release", "/v1/accounts/alice/holds/h1/release", `{"counterparty":"bank"}`, "counterparty"},
		{"counterparty on a capture", "/v1/accounts/alice/holds/h1/capture", `{"counterparty":"bank acme"}`, "counterparty"},
		{"counterparty on an account", "/v1/accounts", `{"id":"a","currency":"USD","counterparty":"bank"}`, "counterparty"},
		{"counterparty on a transfer", "/v1/transfers", `{"from":"a","to":"b","amount":1,"currency":"USD","counterparty":"bank"}`, "counterparty"},
		{"bad metadata on a freeze", "/v1/accounts/alice/freeze", `{"metadata":"x"}`, "metadata"},
		{"bad reference on a transfer", "/v1/transfers", `{"from":"a","to":"b","amount":1,"currency":"USD","reference":"\u0000"}`, "reference"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, doc := request(t, ts, "POST", tt.path, tt.body)
			if res.StatusCode != http.StatusBadRequest || doc["field"] != tt.field || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %s %v, want a 400 problem on %s", res.StatusCode, res.Header.Get("Content-Type"), doc, tt.field)
			}
		})
	}
	if len(f.submitted) != 0 {
		t.Fatalf("refused requests reached the commands topic: %+v", f.submitted)
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + string(rune('a'+i)) + `":"v"`)
	}
	return b.String()
}

// TestJournalFieldsInIdempotency: a retry with the same Idempotency-Key
// and the same journal fields (metadata in another key order, the default
// counterparty named) is the same request; another reference, metadata or
// counterparty is a different request and is refused.
func TestJournalFieldsInIdempotency(t *testing.T) {
	f, ts := newTestServer(t, 2*time.Second)
	request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`)
	first := `{"amount":10,"reference":"inv-7","metadata":{"a":"1","b":"2"}}`
	if res, doc := request(t, ts, "POST", "/v1/accounts/alice/deposits", first, "Idempotency-Key", "k"); res.StatusCode != http.StatusOK {
		t.Fatalf("first: got %d %v, want 200", res.StatusCode, doc)
	}
	for _, tt := range []struct {
		name, body string
		same       bool
	}{
		{"the same", first, true},
		{"metadata reordered", `{"metadata":{"b":"2","a":"1"},"reference":"inv-7","amount":10}`, true},
		{"default counterparty named", `{"amount":10,"reference":"inv-7","metadata":{"a":"1","b":"2"},"counterparty":"external"}`, true},
		{"another reference", `{"amount":10,"reference":"inv-8","metadata":{"a":"1","b":"2"}}`, false},
		{"no reference", `{"amount":10,"metadata":{"a":"1","b":"2"}}`, false},
		{"other metadata", `{"amount":10,"reference":"inv-7","metadata":{"a":"1","b":"3"}}`, false},
		{"no metadata", `{"amount":10,"reference":"inv-7"}`, false},
		{"another counterparty", `{"amount":10,"reference":"inv-7","metadata":{"a":"1","b":"2"},"counterparty":"bank:acme"}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, doc := request(t, ts, "POST", "/v1/accounts/alice/deposits", tt.body, "Idempotency-Key", "k")
			if tt.same && res.StatusCode != http.StatusOK {
				t.Fatalf("got %d %v, want 200 with the first outcome", res.StatusCode, doc)
			}
			if !tt.same && (res.StatusCode != http.StatusUnprocessableEntity || doc["code"] != string(ledger.CodeIdempotencyMismatch)) {
				t.Fatalf("got %d %v, want 422 %s", res.StatusCode, doc, ledger.CodeIdempotencyMismatch)
			}
		})
	}
	if got := f.accounts["alice"].Balance; got != 10 {
		t.Fatalf("got balance %d, want 10: the deposit applied once", got)
	}
}
