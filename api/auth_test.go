package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/apikey"
	"github.com/ordo-dev/ordo/ledger"
)

// keyFake is an in-memory KeyStore that counts its reads.
type keyFake struct {
	mu    sync.Mutex
	keys  map[string]apikey.Key
	reads int
}

func (k *keyFake) APIKey(_ context.Context, id string) (apikey.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads++
	if key, ok := k.keys[id]; ok {
		return key, nil
	}
	return apikey.Key{}, ledger.ErrNotFound
}

// add creates a key and returns its token.
func (k *keyFake) add(t testing.TB, scope apikey.Scope, prefix string) string {
	t.Helper()
	token, id, hash, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[id] = apikey.Key{ID: id, Name: string(scope) + prefix, Scope: scope, AccountPrefix: prefix, Hash: hash}
	return token
}

func (k *keyFake) revoke(token string) {
	id, _, _ := apikey.Parse(token)
	k.mu.Lock()
	defer k.mu.Unlock()
	key := k.keys[id]
	now := time.Now()
	key.RevokedAt = &now
	k.keys[id] = key
}

func (k *keyFake) readCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reads
}

// newAuthServer serves the fake ledger with authentication on.
func newAuthServer(t *testing.T, budget time.Duration, now func() time.Time) (*ledgerFake, *keyFake, *httptest.Server) {
	t.Helper()
	f, keys := newFake(), &keyFake{keys: map[string]apikey.Key{}}
	f.server = New(Config{WaitBudget: budget, Logger: slog.New(slog.DiscardHandler), Keys: keys, Now: now}, f, f)
	ts := httptest.NewServer(f.server.Handler())
	t.Cleanup(ts.Close)
	return f, keys, ts
}

func bearerHeader(token string) []string {
	if token == "" {
		return nil
	}
	return []string{"Authorization", "Bearer " + token}
}

// TestAuthStatuses: 401 with a challenge and a problem document without a
// valid key, 403 when the scope does not allow the request, and the public
// routes open to all.
func TestAuthStatuses(t *testing.T) {
	_, keys, ts := newAuthServer(t, time.Second, nil)
	read, write, admin := keys.add(t, apikey.ScopeRead, ""), keys.add(t, apikey.ScopeWrite, ""), keys.add(t, apikey.ScopeAdmin, "")
	revoked := keys.add(t, apikey.ScopeAdmin, "")
	keys.revoke(revoked)
	id, _, _ := apikey.Parse(admin)
	wrongSecret := apikey.Prefix + id + "_" + strings.Repeat("A", 43)
	unknown := apikey.Prefix + "0123456789abcdef_" + strings.Repeat("A", 43)

	if res, _ := request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`, bearerHeader(admin)...); res.StatusCode != http.StatusCreated {
		t.Fatalf("open with the admin key: got %d, want 201", res.StatusCode)
	}
	tests := []struct {
		name, method, path, body string
		header                   []string
		want                     int
		challenge                string // the WWW-Authenticate header wanted, if any
	}{
		{"no key", "GET", "/v1/accounts/alice", "", nil, 401, `Bearer realm="ordo"`},
		{"no key, command", "POST", "/v1/accounts/alice/deposits", `{"amount":1}`, nil, 401, `Bearer realm="ordo"`},
		{"basic auth", "GET", "/v1/accounts/alice", "", []string{"Authorization", "Basic YTpi"}, 401, `Bearer realm="ordo"`},
		{"malformed", "GET", "/v1/accounts/alice", "", bearerHeader("ordo_nope"), 401, `Bearer realm="ordo", error="invalid_token"`},
		{"unknown", "GET", "/v1/accounts/alice", "", bearerHeader(unknown), 401, `Bearer realm="ordo", error="invalid_token"`},
		{"wrong secret", "GET", "/v1/accounts/alice", "", bearerHeader(wrongSecret), 401, `Bearer realm="ordo", error="invalid_token"`},
		{"revoked", "GET", "/v1/accounts/alice", "", bearerHeader(revoked), 401, `Bearer realm="ordo", error="invalid_token"`},
		{"no key, unknown route", "GET", "/v1/nothing", "", nil, 401, `Bearer realm="ordo"`},
		{"read reads", "GET", "/v1/accounts/alice", "", bearerHeader(read), 200, ""},
		{"read reads, lowercase scheme", "GET", "/v1/accounts/alice", "", []string{"Authorization", "bearer " + read}, 200, ""},
		{"read heads", "HEAD", "/v1/accounts/alice", "", bearerHeader(read), 200, ""},
		{"read may not command", "POST", "/v1/accounts/alice/deposits", `{"amount":1}`, bearerHeader(read), 403, `Bearer realm="ordo", error="insufficient_scope", scope="write"`},
		{"read may not open", "POST", "/v1/accounts", `{"id":"bob","currency":"USD"}`, bearerHeader(read), 403, `Bearer realm="ordo", error="insufficient_scope", scope="write"`},
		{"write commands", "POST", "/v1/accounts/alice/deposits", `{"amount":1}`, bearerHeader(write), 200, ""},
		{"write reads", "GET", "/v1/accounts/alice", "", bearerHeader(write), 200, ""},
		{"write may not read metrics", "GET", "/metrics", "", bearerHeader(write), 403, `Bearer realm="ordo", error="insufficient_scope", scope="admin"`},
		{"no key, metrics", "GET", "/metrics", "", nil, 401, `Bearer realm="ordo"`},
		{"admin reads metrics", "GET", "/metrics", "", bearerHeader(admin), 200, ""},
		{"admin commands", "POST", "/v1/accounts/alice/withdrawals", `{"amount":1}`, bearerHeader(admin), 200, ""},
		{"healthz is public", "GET", "/healthz", "", nil, 200, ""},
		{"readyz is public", "GET", "/readyz", "", nil, 200, ""},
		{"openapi is public", "GET", "/openapi.json", "", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, doc := request(t, ts, tt.method, tt.path, tt.body, tt.header...)
			if res.StatusCode != tt.want {
				t.Fatalf("got %d %v, want %d", res.StatusCode, doc, tt.want)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate: got %q, want %q", got, tt.challenge)
			}
			if tt.want >= 400 && tt.method != "HEAD" {
				code := map[int]string{401: "unauthorized", 403: "forbidden"}[tt.want]
				if res.Header.Get("Content-Type") != "application/problem+json" || doc["code"] != code || doc["status"] != float64(tt.want) {
					t.Errorf("got %s %v, want a %s problem", res.Header.Get("Content-Type"), doc, code)
				}
			}
		})
	}
}

// TestTenantIsolation: a key limited to shop-a: reads and moves only
// shop-a: money, on every route; what it may not read is not found, as if
// absent.
func TestTenantIsolation(t *testing.T) {
	f, keys, ts := newAuthServer(t, 200*time.Millisecond, nil)
	admin, shopA := keys.add(t, apikey.ScopeAdmin, ""), keys.add(t, apikey.ScopeWrite, "shop-a:")
	shopARead := keys.add(t, apikey.ScopeRead, "shop-a:")
	must := func(method, path, body string, want int, token string, header ...string) map[string]any {
		t.Helper()
		res, doc := request(t, ts, method, path, body, append(bearerHeader(token), header...)...)
		if res.StatusCode != want {
			t.Fatalf("%s %s: got %d %v, want %d", method, path, res.StatusCode, doc, want)
		}
		return doc
	}
	for _, id := range []string{"shop-a:alice", "shop-a:bob", "shop-b:carol", "shop-b:dave"} {
		must("POST", "/v1/accounts", `{"id":"`+id+`","currency":"USD"}`, 201, admin)
		must("POST", "/v1/accounts/"+id+"/deposits", `{"amount":100}`, 200, admin)
	}
	carolDeposit := must("POST", "/v1/accounts/shop-b:carol/deposits", `{"amount":1}`, 200, admin)["command_id"].(string)
	carolHold := must("POST", "/v1/accounts/shop-b:carol/holds", `{"amount":5}`, 201, admin)["hold"].(map[string]any)["id"].(string)
	bToB := must("POST", "/v1/transfers", `{"from":"shop-b:carol","to":"shop-b:dave","amount":1,"currency":"USD"}`, 200, admin)["transfer"].(map[string]any)["id"].(string)
	bToA := must("POST", "/v1/transfers", `{"from":"shop-b:carol","to":"shop-a:alice","amount":1,"currency":"USD"}`, 200, admin)["transfer"].(map[string]any)["id"].(string)
	// A command of shop-b that stays pending on this instance.
	f.mu.Lock()
	f.silent = true
	f.mu.Unlock()
	carolPending := must("POST", "/v1/accounts/shop-b:carol/deposits", `{"amount":1}`, 202, admin)["command_id"].(string)
	f.mu.Lock()
	f.silent = false
	submitted := len(f.submitted)
	f.mu.Unlock()

	forbidden := []struct{ method, path, body string }{
		{"POST", "/v1/accounts", `{"id":"shop-b:eve","currency":"USD"}`},
		{"GET", "/v1/accounts/shop-b:carol", ""},
		{"HEAD", "/v1/accounts/shop-b:carol", ""},
		{"POST", "/v1/accounts/shop-b:carol/deposits", `{"amount":1}`},
		{"POST", "/v1/accounts/shop-b:carol/withdrawals", `{"amount":1}`},
		{"POST", "/v1/accounts/shop-b:carol/holds", `{"amount":1}`},
		{"GET", "/v1/accounts/shop-b:carol/holds", ""},
		{"GET", "/v1/accounts/shop-b:carol/holds/" + carolHold, ""},
		{"POST", "/v1/accounts/shop-b:carol/holds/" + carolHold + "/capture", ""},
		{"POST", "/v1/accounts/shop-b:carol/holds/" + carolHold + "/release", ""},
		{"POST", "/v1/accounts/shop-b:carol/overdraft-limit", `{"overdraft_limit":1000}`},
		{"POST", "/v1/accounts/shop-b:carol/freeze", ""},
		{"POST", "/v1/accounts/shop-b:carol/unfreeze", ""},
		{"POST", "/v1/accounts/shop-b:carol/close", ""},
		{"POST", "/v1/accounts/shop-a/deposits", `{"amount":1}`}, // not "shop-a:"
		{"POST", "/v1/transfers", `{"from":"shop-a:alice","to":"shop-b:carol","amount":1,"currency":"USD"}`},
		{"POST", "/v1/transfers", `{"from":"shop-b:carol","to":"shop-a:alice","amount":1,"currency":"USD"}`},
		{"POST", "/v1/transfers", `{"from":"shop-b:carol","to":"shop-b:dave","amount":1,"currency":"USD"}`},
	}
	for _, r := range forbidden {
		t.Run("403 "+r.method+" "+r.path+" "+r.body, func(t *testing.T) {
			res, doc := request(t, ts, r.method, r.path, r.body, bearerHeader(shopA)...)
			if res.StatusCode != http.StatusForbidden || (r.method != "HEAD" && doc["code"] != "forbidden") {
				t.Fatalf("got %d %v, want 403 forbidden", res.StatusCode, doc)
			}
		})
	}
	f.mu.Lock()
	if len(f.submitted) != submitted {
		t.Errorf("got %d commands submitted by forbidden requests, want none", len(f.submitted)-submitted)
	}
	f.mu.Unlock()

	// Reads by ID of another tenant's data: the same 404 as for nothing.
	for _, token := range []string{shopA, shopARead} {
		absent := must("GET", "/v1/commands/no-such-command", "", 404, token)
		for _, id := range []string{carolDeposit, carolPending} {
			if doc := must("GET", "/v1/commands/"+id, "", 404, token); doc["detail"] != absent["detail"] || doc["code"] != absent["code"] {
				t.Errorf("GET /v1/commands/%s: got %v, want the document of an absent command %v", id, doc, absent)
			}
		}
		absentT := must("GET", "/v1/transfers/no-such-transfer", "", 404, token)
		if doc := must("GET", "/v1/transfers/"+bToB, "", 404, token); doc["code"] != absentT["code"] {
			t.Errorf("GET another tenant's transfer: got %v, want %v", doc, absentT)
		}
		must("GET", "/v1/transfers/"+bToA, "", 200, token) // to is shop-a's
	}
	must("GET", "/v1/commands/"+carolDeposit, "", 200, admin)
	must("GET", "/v1/commands/"+carolPending, "", 200, admin)
	must("GET", "/v1/transfers/"+bToB, "", 200, admin)

	// Its own tenant: everything works.
	own := must("POST", "/v1/accounts/shop-a:alice/deposits", `{"amount":1}`, 200, shopA)["command_id"].(string)
	must("GET", "/v1/commands/"+own, "", 200, shopA)
	must("GET", "/v1/commands/"+own, "", 200, shopARead)
	must("POST", "/v1/accounts", `{"id":"shop-a:eve","currency":"USD"}`, 201, shopA)
	hold := must("POST", "/v1/accounts/shop-a:alice/holds", `{"amount":1}`, 201, shopA)["hold"].(map[string]any)["id"].(string)
	must("GET", "/v1/accounts/shop-a:alice/holds/"+hold, "", 200, shopARead)
	must("GET", "/v1/accounts/shop-a:alice/holds", "", 200, shopARead)
	must("POST", "/v1/accounts/shop-a:alice/holds/"+hold+"/capture", "", 200, shopA)
	tr := must("POST", "/v1/transfers", `{"from":"shop-a:alice","to":"shop-a:bob","amount":1,"currency":"USD"}`, 200, shopA)["transfer"].(map[string]any)["id"].(string)
	must("GET", "/v1/transfers/"+tr, "", 200, shopARead)
	must("GET", "/v1/accounts/shop-a:bob", "", 200, shopARead)
}

// TestKeyCache: a verified key is served from memory for the TTL, read
// again (not hashed again) after it, and refused once revoked; a wrong
// secret for a cached key is refused without a read.
func TestKeyCache(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	keys := &keyFake{keys: map[string]apikey.Key{}}
	token := keys.add(t, apikey.ScopeRead, "")
	kc := newKeyCache(keys, 5*time.Second, time.Second, clock)
	ctx := context.Background()
	check := func(tok string, wantOK bool, wantReads int) {
		t.Helper()
		_, err := kc.check(ctx, tok)
		if (err == nil) != wantOK {
			t.Fatalf("check: got %v, want ok %v", err, wantOK)
		}
		if got := keys.readCount(); got != wantReads {
			t.Fatalf("got %d reads of the store, want %d", got, wantReads)
		}
	}
	check(token, true, 1)
	check(token, true, 1) // from memory
	advance(4 * time.Second)
	check(token, true, 1)
	check(token[:len(token)-1]+"x", false, 1) // cached: no read, refused
	advance(time.Second)
	check(token, true, 2) // read again
	keys.revoke(token)
	advance(4 * time.Second)
	check(token, true, 2) // within the TTL: still trusted
	advance(time.Second)
	check(token, false, 3)
	check(token, false, 4) // forgotten: read each time
}

// TestKeyCacheSharesColdChecks: a burst of requests with one key on a cold
// instance costs one read and one verification, and all are let in.
func TestKeyCacheSharesColdChecks(t *testing.T) {
	keys := &keyFake{keys: map[string]apikey.Key{}}
	token := keys.add(t, apikey.ScopeRead, "")
	kc := newKeyCache(keys, time.Minute, time.Second, time.Now)
	errs := make(chan error, 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); _, err := kc.check(context.Background(), token); errs <- err }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("check: got %v, want the key", err)
		}
	}
	// Stragglers that missed the shared flight find the key cached.
	if n := keys.readCount(); n > 3 {
		t.Errorf("got %d reads of the store for one cold key, want 1 (a few at most with stragglers)", n)
	}
}

func TestAuthorizePrefix(t *testing.T) {
	e := newFake()
	e.server = New(Config{Logger: slog.New(slog.DiscardHandler)}, e, e)
	c := e.server.echo.NewContext(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder())
	c.Set(principalKey, &principal{scope: apikey.ScopeRead, prefix: "shop-a:"})
	for requested, want := range map[string]string{"": "shop-a:", "shop": "shop-a:", "shop-a:": "shop-a:", "shop-a:x": "shop-a:x", "shop-b:": "403"} {
		got, err := authorizePrefix(c, requested)
		if err != nil {
			got = "403"
		}
		if got != want {
			t.Errorf("authorizePrefix(%q): got %q, want %q", requested, got, want)
		}
	}
	if err := authorizeAllAccounts(c); err == nil {
		t.Error("authorizeAllAccounts with a prefixed key: got nil, want forbidden")
	}
	c.Set(principalKey, &principal{scope: apikey.ScopeRead})
	if err := authorizeAllAccounts(c); err != nil {
		t.Errorf("authorizeAllAccounts without a prefix: got %v", err)
	}
	c.Set(principalKey, nil)
	if err := authorizeAccount(c, "x"); err == nil {
		t.Error("authorizeAccount without a principal: got nil, want refused")
	}
}

// BenchmarkKeyCheck is the per-request cost of authentication: cached (a
// SHA-256 and a map lookup) and uncached (a read of the fake store and an
// argon2id verification).
func BenchmarkKeyCheck(b *testing.B) {
	keys := &keyFake{keys: map[string]apikey.Key{}}
	token := keys.add(b, apikey.ScopeRead, "")
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		kc := newKeyCache(keys, time.Hour, time.Second, time.Now)
		if _, err := kc.check(ctx, token); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := kc.check(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			kc := newKeyCache(keys, time.Hour, time.Second, time.Now)
			if _, err := kc.check(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}
