package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

func TestTransferEndpoints(t *testing.T) {
	_, ts := newTestServer(t, 2*time.Second)
	request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`)
	request(t, ts, "POST", "/v1/accounts/alice/deposits", `{"amount":100}`)
	request(t, ts, "POST", "/v1/accounts", `{"id":"bob","currency":"USD"}`)

	res, doc := request(t, ts, "POST", "/v1/transfers", `{"from":"alice","to":"bob","amount":30,"currency":"USD"}`, "Idempotency-Key", "t-1")
	tr, _ := doc["transfer"].(map[string]any)
	if res.StatusCode != http.StatusOK || tr == nil || tr["status"] != "completed" || doc["account"].(map[string]any)["balance"] != 70.0 {
		t.Fatalf("got %d %v, want 200 completed with alice at 70", res.StatusCode, doc)
	}
	if loc := res.Header.Get("Location"); loc != "/v1/transfers/"+tr["id"].(string) {
		t.Fatalf("got Location %q, want the transfer's", loc)
	}
	res, doc = request(t, ts, "POST", "/v1/transfers", `{"from":"alice","to":"nobody","amount":10,"currency":"USD"}`)
	tr, _ = doc["transfer"].(map[string]any)
	if res.StatusCode != http.StatusOK || tr == nil || tr["status"] != "refunded" || tr["reason"] != "account_not_found" || doc["account"].(map[string]any)["balance"] != 70.0 {
		t.Fatalf("got %d %v, want 200 refunded (account_not_found) with alice back at 70", res.StatusCode, doc)
	}
	if res, doc := request(t, ts, "GET", "/v1/transfers/"+tr["id"].(string), ""); res.StatusCode != http.StatusOK || doc["transfer"].(map[string]any)["status"] != "refunded" {
		t.Fatalf("GET: got %d %v, want 200 refunded", res.StatusCode, doc)
	}
	for _, tt := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"to itself", `{"from":"alice","to":"alice","amount":1,"currency":"USD"}`, 400, "invalid_request"},
		{"no currency", `{"from":"alice","to":"bob","amount":1}`, 400, "invalid_request"},
		{"too much", `{"from":"alice","to":"bob","amount":71,"currency":"USD"}`, 422, "insufficient_funds"},
		{"another currency", `{"from":"alice","to":"bob","amount":1,"currency":"EUR"}`, 422, "currency_mismatch"},
		{"missing source", `{"from":"ghost","to":"bob","amount":1,"currency":"USD"}`, 404, "account_not_found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, doc := request(t, ts, "POST", "/v1/transfers", tt.body)
			if res.StatusCode != tt.status || doc["code"] != tt.code {
				t.Fatalf("got %d %v, want %d %s", res.StatusCode, doc, tt.status, tt.code)
			}
		})
	}
	if res, doc := request(t, ts, "GET", "/v1/transfers/xfer-none", ""); res.StatusCode != http.StatusNotFound || doc["code"] != "transfer_not_found" {
		t.Fatalf("got %d %v, want 404 transfer_not_found", res.StatusCode, doc)
	}
}

// TestTransferAcceptedPointsToTheTransfer: a transfer not decided within
// the wait budget is answered 202 with the transfer's URL, known before
// its debit is decided.
func TestTransferAcceptedPointsToTheTransfer(t *testing.T) {
	f, ts := newTestServer(t, 50*time.Millisecond)
	f.silent = true
	res, doc := request(t, ts, "POST", "/v1/transfers", `{"from":"alice","to":"bob","amount":5,"currency":"USD"}`, "Idempotency-Key", "t-9")
	id, _ := doc["command_id"].(string)
	if want := "/v1/transfers/" + ledger.TransferIDFor(id); res.StatusCode != http.StatusAccepted || res.Header.Get("Location") != want || doc["deadline"] == nil {
		t.Fatalf("got %d %v Location %q, want 202 with a deadline and Location %s", res.StatusCode, doc, res.Header.Get("Location"), want)
	}
}
