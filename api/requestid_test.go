package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestRequestID(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&logs, nil))}
	e := echo.New()
	e.Use(requestID)
	e.GET("/", func(c echo.Context) error {
		s.logFor(c).Info("about the request")
		return c.NoContent(http.StatusNoContent)
	})
	serve := func(header string) string {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			req.Header.Set(echo.HeaderXRequestID, header)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec.Header().Get(echo.HeaderXRequestID)
	}
	first, second := serve(""), serve("")
	if first == "" || first == second {
		t.Fatalf("made IDs %q and %q, want two different ones", first, second)
	}
	if got := serve("gw-1234:abc_DEF.9"); got != "gw-1234:abc_DEF.9" {
		t.Fatalf("a gateway's plausible ID became %q", got)
	}
	for _, bad := range []string{"has space", "new\nline", strings.Repeat("x", 129), `{"json":1}`} {
		if got := serve(bad); got == bad || got == "" {
			t.Errorf("implausible ID %q answered as %q, want a new one", bad, got)
		}
	}
	if !strings.Contains(logs.String(), `"request_id":"`+first+`"`) || !strings.Contains(logs.String(), `"request_id":"gw-1234:abc_DEF.9"`) {
		t.Fatalf("log lines lack the request IDs:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "has space") {
		t.Fatal("an implausible client ID was logged")
	}
}
