package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/apikey"
)

// createKey makes an API key with `ordo apikey create` and returns it.
func (e *env) createKey(name, scope, accounts string) string {
	e.t.Helper()
	var out bytes.Buffer
	if err := createAPIKey(context.Background(), e.opts.DatabaseURL, name, scope, accounts, &out, io.Discard); err != nil {
		e.t.Fatalf("ordo apikey create: %v", err)
	}
	return strings.TrimSpace(out.String())
}

// TestAPIKeyCLIRoundTrip: create prints the key once and alone, list shows
// it without its secret, the API accepts it within its scope and accounts,
// and revoke ends it.
func TestAPIKeyCLIRoundTrip(t *testing.T) {
	e := newEnv(t, 2)
	e.startConsumer()
	e.waitClaimed()
	base := e.startAPI()
	ctx := context.Background()

	var out, info bytes.Buffer
	if err := createAPIKey(ctx, e.opts.DatabaseURL, "shop a backend", "write", "shop-a:", &out, &info); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out.String())
	t.Logf("ordo apikey create:\n%s%s", info.String(), out.String())
	id, secret, err := apikey.Parse(token)
	if err != nil || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("create printed %q: want the key alone on one line (%v)", out.String(), err)
	}
	if !strings.Contains(info.String(), id) || !strings.Contains(info.String(), `accounts starting with "shop-a:"`) || strings.Contains(info.String(), secret) {
		t.Errorf("create explained %q: want the ID and the prefix, not the secret", info.String())
	}

	var list bytes.Buffer
	if err := listAPIKeys(ctx, e.opts.DatabaseURL, &list); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list.String(), id) || !strings.Contains(list.String(), "shop a backend") || !strings.Contains(list.String(), "shop-a:*") || strings.Contains(list.String(), secret) || strings.Contains(list.String(), "argon2") {
		t.Errorf("list printed\n%s\nwant the key's ID, name and prefix, no secret or hash", list.String())
	}

	if r := post(t, base+"/v1/accounts", `{"id":"shop-a:alice","currency":"USD"}`, withKey(token)); r.Status != http.StatusCreated {
		t.Fatalf("open shop-a:alice with the key: got %d %s, want 201", r.Status, r.Raw)
	}
	if r := post(t, base+"/v1/accounts", `{"id":"shop-b:bob","currency":"USD"}`, withKey(token)); r.Status != http.StatusForbidden || r.Code != "forbidden" {
		t.Fatalf("open shop-b:bob with the key: got %d %s, want 403 forbidden", r.Status, r.Raw)
	}
	if r := do(t, "GET", base+"/v1/accounts/shop-a:alice", "", noKey); r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("without a key: got %d %v %s, want 401 with WWW-Authenticate", r.Status, r.Header, r.Raw)
	} else {
		t.Logf("without a key: %d WWW-Authenticate: %s\n%s", r.Status, r.Header.Get("WWW-Authenticate"), r.Raw)
	}
	if r := post(t, base+"/v1/accounts", `{"id":"shop-b:carol","currency":"USD"}`, withKey(token)); r.Status == http.StatusForbidden {
		t.Logf("beyond the prefix: %d\n%s", r.Status, r.Raw)
	}

	var rev bytes.Buffer
	if err := revokeAPIKey(ctx, e.opts.DatabaseURL, id, &rev); err != nil {
		t.Fatal(err)
	}
	list.Reset()
	if err := listAPIKeys(ctx, e.opts.DatabaseURL, &list); err != nil {
		t.Fatal(err)
	}
	t.Logf("ordo apikey revoke:\n%sordo apikey list:\n%s", rev.String(), list.String())
	for _, line := range strings.Split(list.String(), "\n") {
		if strings.HasPrefix(line, id) && strings.HasSuffix(strings.TrimSpace(line), "-") {
			t.Errorf("after revoke, list shows %q: want a revocation time", line)
		}
	}

	for _, tt := range []struct{ name, scope, accounts string }{
		{"", "read", ""}, {"x", "root", ""}, {"x", "read", "bad prefix!"},
	} {
		if err := createAPIKey(ctx, e.opts.DatabaseURL, tt.name, tt.scope, tt.accounts, io.Discard, io.Discard); err == nil {
			t.Errorf("create %+v: got nil, want an error", tt)
		}
	}
	if err := revokeAPIKey(ctx, e.opts.DatabaseURL, "0123456789abcdef", io.Discard); err == nil {
		t.Error("revoke an unknown key: got nil, want an error")
	}
}

// TestRevocationBoundAcrossInstances: a key revoked through the CLI is
// refused by every API instance sharing the database within the key cache
// TTL, though each had it cached.
func TestRevocationBoundAcrossInstances(t *testing.T) {
	e := newEnv(t, 2)
	ttl := e.opts.AuthCacheTTL
	a, b := e.startAPI(), e.startAPI()
	token := e.createKey("to revoke", "read", "")
	id, _, _ := apikey.Parse(token)
	for _, base := range []string{a, b} {
		if r := do(t, "GET", base+"/v1/accounts/nobody", "", withKey(token)); r.Status != http.StatusNotFound {
			t.Fatalf("before revocation: got %d %s, want 404 (authenticated)", r.Status, r.Raw)
		}
	}
	if err := revokeAPIKey(context.Background(), e.opts.DatabaseURL, id, io.Discard); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	bound := ttl + apiReadTimeout + time.Second // the TTL, one read, and this poll's granularity
	for _, base := range []string{a, b} {
		waitFor(t, bound, func() bool {
			return do(t, "GET", base+"/v1/accounts/nobody", "", withKey(token)).Status == http.StatusUnauthorized
		})
	}
	t.Logf("both instances refused the revoked key %v after revocation (TTL %v)", time.Since(revoked).Round(10*time.Millisecond), ttl)
}

// TestOpsNeedNoKeyMainMetricsDo: the ops listener serves /metrics and the
// probes without a key; the API's own /metrics needs an admin key.
func TestOpsNeedNoKeyMainMetricsDo(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.OpsAddr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	a, err := NewAPI(ctx, e.opts, e.log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	ops, base := "http://"+a.OpsAddr(), "http://"+a.Addr()
	waitFor(t, 10*time.Second, func() bool { return do(t, "GET", ops+"/livez", "", noKey).Status == http.StatusOK })
	for _, p := range []string{"/livez", "/readyz", "/metrics"} {
		if r := do(t, "GET", ops+p, "", noKey); r.Status != http.StatusOK {
			t.Errorf("ops %s without a key: got %d %s, want 200", p, r.Status, r.Raw)
		}
	}
	if r := do(t, "GET", ops+"/metrics", "", noKey); !strings.Contains(string(r.Raw), "ordo_http_request_duration_seconds") || !strings.Contains(string(r.Raw), "go_goroutines") {
		t.Errorf("ops /metrics: want the API's metrics and the Go collector's")
	}
	if r := do(t, "GET", base+"/metrics", "", noKey); r.Status != http.StatusUnauthorized {
		t.Errorf("API /metrics without a key: got %d, want 401", r.Status)
	}
	if r := do(t, "GET", base+"/metrics", "", withKey(e.createKey("w", "write", ""))); r.Status != http.StatusForbidden {
		t.Errorf("API /metrics with a write key: got %d, want 403", r.Status)
	}
	if r := do(t, "GET", base+"/metrics", "", nil); r.Status != http.StatusOK {
		t.Errorf("API /metrics with the admin key: got %d, want 200", r.Status)
	}
}

// TestAuthOffWarns: --auth=false serves without keys and says so loudly.
func TestAuthOffWarns(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.Auth = false
	var logs bytes.Buffer
	e.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	base := e.startAPI()
	if r := do(t, "GET", base+"/v1/accounts/nobody", "", noKey); r.Status != http.StatusNotFound {
		t.Fatalf("without a key, auth off: got %d %s, want 404", r.Status, r.Raw)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "AUTHENTICATION IS OFF") {
		t.Errorf("logs %q: want a warning that authentication is off", logs.String())
	}
}

// TestAuthFlags: ordo api requires keys unless told otherwise; ordo dev
// listens on this machine only and has no --auth.
func TestAuthFlags(t *testing.T) {
	api := apiCmd()
	if f := api.Flags().Lookup("auth"); f == nil || f.DefValue != "true" {
		t.Errorf("ordo api --auth: got %v, want a flag defaulting to true", f)
	}
	dev := devCmd()
	if f := dev.Flags().Lookup("http-addr"); f == nil || f.DefValue != "127.0.0.1:8080" {
		t.Errorf("ordo dev --http-addr: got %v, want 127.0.0.1:8080", f)
	}
	if f := dev.Flags().Lookup("ops-addr"); f == nil || !strings.HasPrefix(f.DefValue, "127.0.0.1:") {
		t.Errorf("ordo dev --ops-addr: got %v, want on 127.0.0.1", f)
	}
	if dev.Flags().Lookup("auth") != nil {
		t.Error("ordo dev has --auth: want it always open")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://ordo:s3cret@db:5432/ordo?sslmode=verify-full": "postgres://ordo:xxxxx@db:5432/ordo?sslmode=verify-full",
		"postgres://ordo@db/ordo":                                 "postgres://ordo@db/ordo",
		"postgres://db/ordo?user=ordo&password=s3cret":            "postgres://db/ordo?password=xxxxx&user=ordo",
		"postgres://ordo:s3c%ret@db/ordo":                         "postgres://xxxxx@db/ordo",
		"host=db user=ordo password=s3cret dbname=ordo":           "host=db user=ordo password=xxxxx dbname=ordo",
		"host=db password = 's3 cret' dbname=ordo":                "host=db password = xxxxx dbname=ordo",
	} {
		got := redactURL(in)
		if got != want || strings.Contains(got, "s3") {
			t.Errorf("redactURL(%q): got %q, want %q", in, got, want)
		}
	}
}
