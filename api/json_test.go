package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/ordo-dev/ordo/ledger"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the serializer alone.
type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w discardWriter) WriteHeader(int)             {}

// BenchmarkSerializer measures the response bodies every command answers
// with: an applied command's account, and a problem document.
func BenchmarkSerializer(b *testing.B) {
	e := echo.New()
	c := e.NewContext(httptest.NewRequest(http.MethodPost, "/v1/accounts/acct-004217/withdrawals", nil), discardWriter{http.Header{}})
	applied := commandResponse{CommandID: "idem-00112233445566778899aabbccddeeff", Status: ledger.StatusApplied,
		Account: &ledger.Account{ID: "acct-004217", Currency: "USD", Balance: 998750, Available: 998750, Version: 17}}
	problem := outcomeProblem(ledger.Outcome{CommandID: "c1", Kind: ledger.KindWithdrawal, AccountID: "acct-004217",
		Status: ledger.StatusRejected, Code: ledger.CodeInsufficientFunds, Detail: "balance 5 is less than 10"})
	for _, bm := range []struct {
		name string
		v    any
	}{{"applied", applied}, {"problem", problem}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := (jsonSerializer{}).Serialize(c, bm.v, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSerializer: bodies end in a newline (as curl users expect), indent
// when asked, and keep the field names and omissions of the types.
func TestSerializer(t *testing.T) {
	tests := []struct {
		name, indent string
		v            any
		want         string
	}{
		{"pending", "", commandResponse{CommandID: "c1", Status: ledger.StatusPending}, `{"command_id":"c1","status":"pending"}` + "\n"},
		{"indented", "  ", map[string]int{"a": 1}, "{\n  \"a\": 1\n}\n"},
		{"problem", "", &Problem{Type: "t", Title: "T", Status: 400, Code: "x"}, `{"type":"t","title":"T","status":400,"code":"x"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
			if err := (jsonSerializer{}).Serialize(c, tt.v, tt.indent); err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
