package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestWithAPIKey: the key goes with every request as a bearer token, and
// the API's refusals are ErrUnauthorized and ErrForbidden, not retried.
func TestWithAPIKey(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/problem+json")
		switch r.Header.Get("Authorization") {
		case "Bearer ordo_0123456789abcdef_s3cret":
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"type":"x","title":"Forbidden","status":403,"code":"forbidden"}`))
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="ordo"`)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"type":"x","title":"Unauthorized","status":401,"code":"unauthorized"}`))
		}
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()

	keyed, err := New(srv.URL, WithAPIKey("ordo_0123456789abcdef_s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyed.Deposit(ctx, "alice", 1); !errors.Is(err, ErrForbidden) {
		t.Errorf("Deposit with a key: got %v, want ErrForbidden", err)
	}
	if _, err := keyed.Account(ctx, "alice"); !errors.Is(err, ErrForbidden) {
		t.Errorf("Account with a key: got %v, want ErrForbidden", err)
	}
	anonymous, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anonymous.Account(ctx, "alice"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Account without a key: got %v, want ErrUnauthorized", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"Bearer ordo_0123456789abcdef_s3cret", "Bearer ordo_0123456789abcdef_s3cret", ""}
	if len(got) != len(want) {
		t.Fatalf("got %d requests %q, want %d (no retries)", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: Authorization %q, want %q", i, got[i], want[i])
		}
	}
}
