package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/singleflight"

	"github.com/ordo-dev/ordo/apikey"
	"github.com/ordo-dev/ordo/ledger"
)

// KeyStore reads API keys: the key with an ID, revoked or not, or an error
// wrapping ledger.ErrNotFound.
type KeyStore interface {
	APIKey(ctx context.Context, id string) (apikey.Key, error)
}

// Access control, in two steps:
//
//   - the authenticate middleware checks the bearer key of every request but
//     the public routes, and its scope against the method (read: GET and
//     HEAD; write: commands; admin: everything, /metrics included);
//   - the handlers check the accounts a request names against the key's
//     account prefix with authorizeAccount (accountParam does it for every
//     {id} path parameter), and hide what a key may not read as not found.
//
// A route added later calls one of the three checks below: authorizeAccount
// for an account it acts on or reads, authorizePrefix for a listing by
// account-ID prefix (the listing is narrowed to the key's prefix), and
// authorizeAllAccounts for data that spans tenants (such as
// counterparties), which only a key without an account prefix may read.

// principalKey is where the middleware leaves the request's principal in
// the echo context.
const principalKey = "ordo.principal"

// principal is who a request acts for.
type principal struct {
	keyID  string // "" when authentication is off
	scope  apikey.Scope
	prefix string // the accounts the key covers; "" is every account
}

// openPrincipal acts for requests when authentication is off.
var openPrincipal = &principal{scope: apikey.ScopeAdmin}

// publicRoutes are served without a key: probes and the API description.
var publicRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/openapi.json": true}

// forbiddenError is a request its key may not make: 403.
type forbiddenError struct{ detail string }

func (e *forbiddenError) Error() string { return "forbidden: " + e.detail }

// errNoPrincipal is a handler reached without the middleware: refused, so
// that a route wired wrongly fails closed.
var errNoPrincipal = &forbiddenError{detail: "no API key was checked for this request"}

func principalOf(c echo.Context) (*principal, error) {
	p, ok := c.Get(principalKey).(*principal)
	if !ok || p == nil {
		return nil, errNoPrincipal
	}
	return p, nil
}

// authorizeAccount allows a request to act on, or read, the account with
// the ID: the key's account prefix must cover it. Else a *forbiddenError.
func authorizeAccount(c echo.Context, id string) error {
	p, err := principalOf(c)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(id, p.prefix) {
		return &forbiddenError{detail: "this API key is limited to the accounts starting with " + strconv.Quote(p.prefix) + ", which " + strconv.Quote(id) + " does not"}
	}
	return nil
}

// covers reports whether the request's key covers an account, for reads
// that answer "not found" rather than 403 (so that existence does not
// leak).
func covers(c echo.Context, id string) bool { return authorizeAccount(c, id) == nil }

// authorizePrefix narrows a listing by account-ID prefix to the request's
// key: it returns the prefix to list (the longer of requested and the
// key's prefix when one extends the other), or a *forbiddenError when they
// share no account.
func authorizePrefix(c echo.Context, requested string) (string, error) {
	p, err := principalOf(c)
	if err != nil {
		return "", err
	}
	switch {
	case strings.HasPrefix(requested, p.prefix):
		return requested, nil
	case strings.HasPrefix(p.prefix, requested):
		return p.prefix, nil
	}
	return "", &forbiddenError{detail: "this API key is limited to the accounts starting with " + strconv.Quote(p.prefix) + ", none of which starts with " + strconv.Quote(requested)}
}

// authorizeAllAccounts allows a read that spans every tenant: only a key
// without an account prefix may make it.
func authorizeAllAccounts(c echo.Context) error {
	p, err := principalOf(c)
	if err != nil {
		return err
	}
	if p.prefix != "" {
		return &forbiddenError{detail: "this API key is limited to the accounts starting with " + strconv.Quote(p.prefix) + "; this route needs a key without an account limit"}
	}
	return nil
}

// neededScope is the scope a request needs: admin for /metrics, read for
// the other GETs and HEADs, write for the rest.
func neededScope(c echo.Context) apikey.Scope {
	switch {
	case c.Path() == "/metrics":
		return apikey.ScopeAdmin
	case c.Request().Method == http.MethodGet || c.Request().Method == http.MethodHead:
		return apikey.ScopeRead
	}
	return apikey.ScopeWrite
}

// authenticate is the middleware that checks every request's key (when
// authentication is on) and leaves its principal for the handlers.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if publicRoutes[c.Path()] {
			return next(c)
		}
		if s.keys == nil {
			c.Set(principalKey, openPrincipal)
			return next(c)
		}
		token, ok := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			return s.unauthorized(c, `Bearer realm="ordo"`, "this request needs an API key: Authorization: Bearer ordo_<id>_<secret>")
		}
		k, err := s.keys.check(c.Request().Context(), token)
		switch {
		case errors.Is(err, errBadKey):
			return s.unauthorized(c, `Bearer realm="ordo", error="invalid_token"`, "the API key is not valid: unknown, revoked or mistyped")
		case err != nil:
			if ctxErr := c.Request().Context().Err(); ctxErr != nil {
				return ctxErr
			}
			s.log.Warn("read API key", "err", err)
			return s.unavailable(c, "the API key could not be checked now")
		}
		if need := neededScope(c); !k.Scope.Allows(need) {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="ordo", error="insufficient_scope", scope="`+string(need)+`"`)
			return s.problem(c, newProblem(codeForbidden, "this API key has scope "+string(k.Scope)+"; this request needs "+string(need)))
		}
		c.Set(principalKey, &principal{keyID: k.ID, scope: k.Scope, prefix: k.AccountPrefix})
		return next(c)
	}
}

func (s *Server) unauthorized(c echo.Context, challenge, detail string) error {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
	return s.problem(c, newProblem(codeUnauthorized, detail))
}

// bearer reads the token of an Authorization: Bearer header (RFC 6750; the
// scheme is case-insensitive).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// errBadKey is a token that is not a valid key: malformed, unknown,
// revoked, or with the wrong secret.
var errBadKey = errors.New("invalid API key")

// keyCache checks keys against the store and remembers the ones it
// verified for ttl, so that a key's requests cost a SHA-256 and a map
// lookup instead of an argon2id hash and a database read each. After ttl a
// key is read again (not hashed again): revocation takes effect within
// ttl (plus the read) on every instance.
type keyCache struct {
	store   KeyStore
	ttl     time.Duration
	timeout time.Duration // bounds each read of the store
	now     func() time.Time
	// slow bounds the argon2id verifications running at once (each takes
	// 19 MiB and tens of milliseconds), so that a flood of wrong secrets
	// costs bounded memory and CPU.
	slow chan struct{}

	flights singleflight.Group

	mu   sync.Mutex
	keys map[string]*cachedKey
}

// cachedKey is a key whose secret was verified, with that secret's digest.
type cachedKey struct {
	key       apikey.Key
	digest    apikey.Digest
	checkedAt time.Time
}

// maxSlowChecks is how many argon2id verifications run at once.
const maxSlowChecks = 2

func newKeyCache(store KeyStore, ttl, timeout time.Duration, now func() time.Time) *keyCache {
	return &keyCache{store: store, ttl: ttl, timeout: timeout, now: now, slow: make(chan struct{}, maxSlowChecks), keys: map[string]*cachedKey{}}
}

// fresh returns the cached key with the ID when it was checked within ttl:
// ok says whether there is one; the key is valid only if match.
func (kc *keyCache) fresh(id, secret string) (k apikey.Key, ok, match bool) {
	kc.mu.Lock()
	e := kc.keys[id]
	kc.mu.Unlock()
	if e == nil || kc.now().Sub(e.checkedAt) >= kc.ttl {
		return apikey.Key{}, false, false
	}
	return e.key, true, e.digest.Matches(secret)
}

// check returns the valid key a token names, errBadKey, or an error of
// the store.
func (kc *keyCache) check(ctx context.Context, token string) (apikey.Key, error) {
	id, secret, err := apikey.Parse(token)
	if err != nil {
		return apikey.Key{}, errBadKey
	}
	if k, ok, match := kc.fresh(id, secret); ok {
		if !match {
			// A verified key has one secret: another one is wrong,
			// without spending a slow hash on it.
			return apikey.Key{}, errBadKey
		}
		return k, nil
	}
	// Concurrent requests with one token (a client's burst on a cold
	// instance) share one read and one verification. The shared work
	// belongs to none of them, so one hanging up does not fail the others.
	d := apikey.DigestOf(secret)
	v, err, _ := kc.flights.Do(id+"\x00"+string(d[:]), func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kc.timeout+maxSlowWait)
		defer cancel()
		return kc.load(lctx, id, secret)
	})
	if err != nil {
		return apikey.Key{}, err
	}
	return v.(apikey.Key), nil
}

// maxSlowWait bounds how long a check waits for a turn at the slow hash.
const maxSlowWait = 5 * time.Second

// load reads a key and verifies the secret, hashing only if the cache has
// not seen this secret for this hash before.
func (kc *keyCache) load(ctx context.Context, id, secret string) (apikey.Key, error) {
	readCtx, cancel := context.WithTimeout(ctx, kc.timeout)
	k, err := kc.store.APIKey(readCtx, id)
	cancel()
	if errors.Is(err, ledger.ErrNotFound) {
		kc.forget(id)
		return apikey.Key{}, errBadKey
	}
	if err != nil {
		return apikey.Key{}, err
	}
	if k.RevokedAt != nil {
		kc.forget(id)
		return apikey.Key{}, errBadKey
	}
	// Known before: its secret was verified against this same hash, so the
	// digest suffices.
	kc.mu.Lock()
	e := kc.keys[id]
	kc.mu.Unlock()
	if e != nil && e.key.Hash == k.Hash && e.digest.Matches(secret) {
		kc.remember(k, e.digest)
		return k, nil
	}
	select {
	case kc.slow <- struct{}{}:
	case <-ctx.Done():
		return apikey.Key{}, ctx.Err()
	}
	defer func() { <-kc.slow }()
	// Another request may have verified it while this one waited.
	if fk, ok, match := kc.fresh(id, secret); ok && match && fk.Hash == k.Hash {
		return fk, nil
	}
	if !apikey.Verify(k.Hash, secret) {
		return apikey.Key{}, errBadKey
	}
	kc.remember(k, apikey.DigestOf(secret))
	return k, nil
}

func (kc *keyCache) remember(k apikey.Key, d apikey.Digest) {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	kc.keys[k.ID] = &cachedKey{key: k, digest: d, checkedAt: kc.now()}
}

func (kc *keyCache) forget(id string) {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	delete(kc.keys, id)
}
