package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// noHolds is a store part for fakes that hold no holds.
type noHolds struct{}

func (noHolds) Hold(context.Context, string, string) (ledger.Hold, error) {
	return ledger.Hold{}, ledger.ErrNotFound
}
func (noHolds) Holds(context.Context, string, ledger.HoldStatus, string, int) ([]ledger.Hold, string, error) {
	return nil, "", nil
}
func (noHolds) Transfer(context.Context, string) (ledger.Transfer, []ledger.TransferLeg, error) {
	return ledger.Transfer{}, nil, ledger.ErrNotFound
}

func TestHoldEndpoints(t *testing.T) {
	_, ts := newTestServer(t, 2*time.Second)
	request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`)
	request(t, ts, "POST", "/v1/accounts/alice/deposits", `{"amount":100}`)

	res, doc := request(t, ts, "POST", "/v1/accounts/alice/holds", `{"amount":30,"expires_in":"15m"}`, "Idempotency-Key", "h-1")
	hold, _ := doc["hold"].(map[string]any)
	account, _ := doc["account"].(map[string]any)
	if res.StatusCode != http.StatusCreated || hold == nil || account == nil {
		t.Fatalf("got %d %v, want 201 with a hold and the account", res.StatusCode, doc)
	}
	id, _ := hold["id"].(string)
	if loc := res.Header.Get("Location"); loc != "/v1/accounts/alice/holds/"+id {
		t.Fatalf("got Location %q, want /v1/accounts/alice/holds/%s", loc, id)
	}
	if hold["status"] != "open" || hold["amount"] != 30.0 || hold["expires_at"] != "2026-11-30T12:15:00Z" ||
		account["held"] != 30.0 || account["available"] != 70.0 || account["balance"] != 100.0 {
		t.Fatalf("got hold %v account %v, want open 30 until 12:15, held 30, available 70", hold, account)
	}
	// A retry with the same key names the same hold.
	if _, again := request(t, ts, "POST", "/v1/accounts/alice/holds", `{"amount":30,"expires_in":"15m"}`, "Idempotency-Key", "h-1"); again["hold"].(map[string]any)["id"] != id {
		t.Fatalf("got %v for the retry, want the same hold %s", again, id)
	}

	if res, doc := request(t, ts, "GET", "/v1/accounts/alice/holds/"+id, ""); res.StatusCode != http.StatusOK || doc["hold"].(map[string]any)["status"] != "open" {
		t.Fatalf("GET hold: got %d %v, want 200 open", res.StatusCode, doc)
	}
	if res, doc := request(t, ts, "POST", "/v1/accounts/alice/holds/"+id+"/capture", `{"amount":31}`); res.StatusCode != http.StatusUnprocessableEntity || doc["code"] != "capture_exceeds_hold" {
		t.Fatalf("over-capture: got %d %v, want 422 capture_exceeds_hold", res.StatusCode, doc)
	}
	if res, doc := request(t, ts, "POST", "/v1/accounts/alice/holds/"+id+"/capture", `{"amount":20}`); res.StatusCode != http.StatusOK || doc["hold"].(map[string]any)["captured"] != 20.0 || doc["account"].(map[string]any)["balance"] != 80.0 {
		t.Fatalf("capture: got %d %v, want 200, captured 20, balance 80", res.StatusCode, doc)
	}
	res, doc = request(t, ts, "POST", "/v1/accounts/alice/holds/"+id+"/release", ``)
	if res.StatusCode != http.StatusConflict || doc["code"] != "hold_not_open" || doc["hold"].(map[string]any)["status"] != "captured" {
		t.Fatalf("release after capture: got %d %v, want 409 hold_not_open with the captured hold", res.StatusCode, doc)
	}
	if res, doc := request(t, ts, "POST", "/v1/accounts/alice/holds/hold-nope/release", ``); res.StatusCode != http.StatusNotFound || doc["code"] != "hold_not_found" {
		t.Fatalf("unknown hold: got %d %v, want 404 hold_not_found", res.StatusCode, doc)
	}
	if res, doc := request(t, ts, "GET", "/v1/accounts/alice/holds?status=captured", ""); res.StatusCode != http.StatusOK || len(doc["holds"].([]any)) != 1 {
		t.Fatalf("list: got %d %v, want one captured hold", res.StatusCode, doc)
	}
}

func TestHoldRequestsValidated(t *testing.T) {
	_, ts := newTestServer(t, time.Second)
	for _, tt := range []struct{ name, method, path, body, field string }{
		{"no amount", "POST", "/v1/accounts/alice/holds", `{}`, "amount"},
		{"expiry not a duration", "POST", "/v1/accounts/alice/holds", `{"amount":1,"expires_in":"soon"}`, "expires_in"},
		{"expiry too short", "POST", "/v1/accounts/alice/holds", `{"amount":1,"expires_in":"999ms"}`, "expires_in"},
		{"expiry too long", "POST", "/v1/accounts/alice/holds", `{"amount":1,"expires_in":"721h"}`, "expires_in"},
		{"expiry a number", "POST", "/v1/accounts/alice/holds", `{"amount":1,"expires_in":60}`, "expires_in"},
		{"capture zero", "POST", "/v1/accounts/alice/holds/h1/capture", `{"amount":0}`, "amount"},
		{"release with a body", "POST", "/v1/accounts/alice/holds/h1/release", `{"amount":1}`, "amount"},
		{"bad hold id", "POST", "/v1/accounts/alice/holds/h%20x/release", ``, "hold_id"},
		{"overdraft missing", "POST", "/v1/accounts/alice/overdraft-limit", `{}`, "overdraft_limit"},
		{"overdraft negative", "POST", "/v1/accounts/alice/overdraft-limit", `{"overdraft_limit":-1}`, "overdraft_limit"},
		{"freeze with a body", "POST", "/v1/accounts/alice/freeze", `{"why":"fraud"}`, "why"},
		{"list bad status", "GET", "/v1/accounts/alice/holds?status=closed", ``, "status"},
		{"list bad limit", "GET", "/v1/accounts/alice/holds?limit=0", ``, "limit"},
		{"list limit too big", "GET", "/v1/accounts/alice/holds?limit=201", ``, "limit"},
		{"list unknown parameter", "GET", "/v1/accounts/alice/holds?sort=asc", ``, "sort"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, doc := request(t, ts, tt.method, tt.path, tt.body)
			if res.StatusCode != http.StatusBadRequest || doc["field"] != tt.field {
				t.Fatalf("got %d %v, want 400 on %s", res.StatusCode, doc, tt.field)
			}
		})
	}
}

func TestIfMatch(t *testing.T) {
	f, ts := newTestServer(t, 2*time.Second)
	request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`)
	request(t, ts, "POST", "/v1/accounts/alice/deposits", `{"amount":100}`) // version 2
	for _, tt := range []struct {
		name, header string
		status       int
		code         any
	}{
		{"malformed", `7`, 400, "invalid_request"},
		{"weak", `W/"2"`, 400, "invalid_request"},
		{"list", `"1", "2"`, 400, "invalid_request"},
		{"zero", `"0"`, 400, "invalid_request"},
		{"stale", `"1"`, 412, "precondition_failed"},
		{"current", `"2"`, 200, nil},
		{"any", `*`, 200, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, doc := request(t, ts, "POST", "/v1/accounts/alice/withdrawals", `{"amount":1}`, "If-Match", tt.header)
			if res.StatusCode != tt.status || doc["code"] != tt.code {
				t.Fatalf("got %d %v, want %d %v", res.StatusCode, doc, tt.status, tt.code)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := f.submitted[len(f.submitted)-1].IfMatch; got != ledger.IfMatchExists {
		t.Fatalf("got IfMatch %d submitted for *, want %d", got, ledger.IfMatchExists)
	}
	if a := f.accounts["alice"]; a.Balance != 98 {
		t.Fatalf("got balance %d, want 98: only the two matching withdrawals applied", a.Balance)
	}
}

func TestLifecycleEndpoints(t *testing.T) {
	_, ts := newTestServer(t, 2*time.Second)
	request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`)
	steps := []struct {
		path, body string
		status     int
		code       any
		state      any
	}{
		{"/v1/accounts/alice/overdraft-limit", `{"overdraft_limit":50}`, 200, nil, "active"},
		{"/v1/accounts/alice/withdrawals", `{"amount":20}`, 200, nil, "active"},
		{"/v1/accounts/alice/overdraft-limit", `{"overdraft_limit":19}`, 422, "overdraft_in_use", "active"},
		{"/v1/accounts/alice/freeze", ``, 200, nil, "frozen"},
		{"/v1/accounts/alice/withdrawals", `{"amount":1}`, 409, "account_frozen", "frozen"},
		{"/v1/accounts/alice/deposits", `{"amount":20}`, 200, nil, "frozen"},
		{"/v1/accounts/alice/unfreeze", `{}`, 200, nil, "active"},
		{"/v1/accounts/alice/deposits", `{"amount":1}`, 200, nil, "active"},
		{"/v1/accounts/alice/close", ``, 409, "account_not_empty", "active"},
		{"/v1/accounts/alice/withdrawals", `{"amount":1}`, 200, nil, "active"},
		{"/v1/accounts/alice/close", ``, 200, nil, "closed"},
		{"/v1/accounts/alice/deposits", `{"amount":1}`, 409, "account_closed", "closed"},
	}
	for i, st := range steps {
		res, doc := request(t, ts, "POST", st.path, st.body)
		acc, _ := doc["account"].(map[string]any)
		if res.StatusCode != st.status || doc["code"] != st.code || acc == nil || acc["status"] != st.state {
			t.Fatalf("step %d %s: got %d %v, want %d %v with the account %v", i, st.path, res.StatusCode, doc, st.status, st.code, st.state)
		}
	}
}
