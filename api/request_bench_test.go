package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// BenchmarkDeposit measures the API's own work for one keyed deposit, from
// the request to the response, against a fake that decides and delivers the
// outcome at once (no broker, no database): routing, body decoding and
// validation, the in-flight table, the wait and the response.
func BenchmarkDeposit(b *testing.B) {
	f := newFake()
	f.server = New(Config{WaitBudget: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)}, f, f)
	h := f.server.Handler()
	f.accounts["acct-004217"] = &ledger.Account{ID: "acct-004217", Currency: "USD", Version: 1}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req := httptest.NewRequest(http.MethodPost, "/v1/accounts/acct-004217/deposits", strings.NewReader(`{"amount":10}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", i))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
