package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"

	"github.com/ordo-dev/ordo/apikey"
)

// oapiChecker sends requests to a running API and validates each request
// and response against the OpenAPI document the server serves.
type oapiChecker struct {
	t      *testing.T
	base   string
	v      validator.Validator
	routes map[string]bool // "METHOD /template" exercised
	// documented is the document's operations: the validator answers a
	// HEAD with the path's GET, so a missing HEAD is caught here.
	documented []string
}

func newOAPIChecker(t *testing.T, base string) *oapiChecker {
	t.Helper()
	res, err := httpClient.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: got %d, %v, want 200", res.StatusCode, err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatalf("parse the served document: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	c := &oapiChecker{t: t, base: base, v: v, routes: map[string]bool{}}
	c.documented = c.documentedRoutes()
	c.call("GET", "/openapi.json", nil, "", nil, http.StatusOK)
	return c
}

// exchange is one request and its answer.
type exchange struct {
	status int
	header http.Header
	body   []byte
}

// call sends method on the route template filled with args (one per
// {param}, in order), checks the status, and validates the response
// against the document; it validates the request too, which must be valid
// unless wantStatus is 400 and the document itself forbids the request
// (invalidRequest).
func (c *oapiChecker) call(method, tmpl string, args []string, body string, header map[string]string, wantStatus int) exchange {
	c.t.Helper()
	return c.send(method, tmpl, args, body, header, wantStatus, false)
}

// callInvalid is call for a request the document itself forbids: the
// validator must refuse the request, and the server answer 400.
func (c *oapiChecker) callInvalid(method, tmpl string, args []string, body string, header map[string]string) exchange {
	c.t.Helper()
	return c.send(method, tmpl, args, body, header, http.StatusBadRequest, true)
}

// callNoKey is call without an API key: the validator must refuse the
// request (its security requirement), and the server answer 401.
func (c *oapiChecker) callNoKey(method, tmpl string, args []string, body string) exchange {
	c.t.Helper()
	return c.send(method, tmpl, args, body, noKey, http.StatusUnauthorized, true)
}

func (c *oapiChecker) send(method, tmpl string, args []string, body string, header map[string]string, wantStatus int, invalid bool) exchange {
	c.t.Helper()
	path := tmpl
	for _, a := range args {
		i, j := strings.Index(path, "{"), strings.Index(path, "}")
		if i < 0 || j < i {
			c.t.Fatalf("%s: more args than parameters", tmpl)
		}
		path = path[:i] + a + path[j+1:]
	}
	newReq := func() *http.Request {
		req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
		if err != nil {
			c.t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		// The key the transport would add, set here so that the validator
		// sees it too; an Authorization of "" sends none.
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if req.Header.Get("Authorization") == "" {
			req.Header.Del("Authorization")
		}
		return req
	}
	req := newReq()
	if v, ok := header["Authorization"]; ok && v == "" {
		req.Header["Authorization"] = []string{""} // testKeyTransport: send no key
	}
	res, err := httpClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	name := method + " " + path
	if res.StatusCode != wantStatus {
		c.t.Errorf("%s: got %d %s, want %d", name, res.StatusCode, raw, wantStatus)
	}
	route := method + " " + strings.SplitN(tmpl, "?", 2)[0]
	c.routes[route] = true
	if !slices.Contains(c.documented, route) {
		c.t.Errorf("%s: route %s is not in the document", name, route)
	}

	ok, errs := c.v.ValidateHttpRequest(newReq())
	switch {
	case invalid && ok:
		c.t.Errorf("%s: the document allows this request, want it refused as the server refuses it", name)
	case !invalid && !ok:
		c.t.Errorf("%s: request does not match the document:%s", name, describeOAPI(errs))
	}
	res.Body = io.NopCloser(bytes.NewReader(raw))
	if ok, errs := c.v.ValidateHttpResponse(newReq(), res); !ok {
		c.t.Errorf("%s: %d response %s does not match the document:%s", name, res.StatusCode, raw, describeOAPI(errs))
	}
	return exchange{status: res.StatusCode, header: res.Header, body: raw}
}

func describeOAPI(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n\t%s: %s", e.Message, e.Reason)
		for _, se := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n\t\t%s at %s", se.Reason, se.KeywordLocation)
		}
	}
	return b.String()
}

// documentedRoutes lists the document's operations as "METHOD /template".
func (c *oapiChecker) documentedRoutes() []string {
	c.t.Helper()
	res, err := httpClient.Get(c.base + "/openapi.json")
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		c.t.Fatal(err)
	}
	var routes []string
	for path, item := range doc.Paths {
		for method := range item {
			if method != "parameters" && method != "summary" && method != "description" {
				routes = append(routes, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(routes)
	return routes
}

// TestOpenAPI exercises every route of the real API, successes and
// refusals, and validates each request and response (status, headers, body,
// problem documents) against the OpenAPI document the server serves.
func TestOpenAPI(t *testing.T) {
	e := newEnv(t, 2)
	_, stop := e.startConsumer()
	defer stop()
	base := e.startAPI()
	c := newOAPIChecker(t, base)

	const (
		accounts = "/v1/accounts"
		account  = "/v1/accounts/{id}"
		holds    = "/v1/accounts/{id}/holds"
		hold     = "/v1/accounts/{id}/holds/{hold_id}"
	)
	c.call("POST", accounts, nil, `{"id":"oa-a","currency":"USD"}`, nil, http.StatusCreated)
	c.call("POST", accounts, nil, `{"id":"oa-b","currency":"USD","overdraft_limit":0}`, map[string]string{"Idempotency-Key": "open-b"}, http.StatusCreated)
	c.call("POST", accounts, nil, `{"id":"oa-c","currency":"EUR"}`, nil, http.StatusCreated)
	c.call("POST", accounts, nil, `{"id":"oa-a","currency":"USD"}`, nil, http.StatusConflict) // account_exists

	dep := c.call("POST", account+"/deposits", []string{"oa-a"}, `{"amount":100}`, map[string]string{"Idempotency-Key": "dep-1"}, http.StatusOK)
	c.call("POST", account+"/deposits", []string{"oa-missing"}, `{"amount":100}`, nil, http.StatusNotFound)
	c.callInvalid("POST", account+"/deposits", []string{"oa-a"}, `{"amount":0}`, nil)
	c.call("POST", account+"/withdrawals", []string{"oa-a"}, `{"amount":10}`, nil, http.StatusOK)
	c.call("POST", account+"/withdrawals", []string{"oa-a"}, `{"amount":1000}`, nil, http.StatusUnprocessableEntity)    // insufficient_funds
	c.call("POST", account+"/withdrawals", []string{"oa-a"}, `{"amount":1}`, map[string]string{"If-Match": `"1"`}, 412) // precondition_failed

	got := c.call("GET", account, []string{"oa-a"}, "", nil, http.StatusOK)
	etag := got.header.Get("ETag")
	if etag != `"3"` {
		t.Errorf(`got ETag %s, want "3"`, etag)
	}
	c.call("HEAD", account, []string{"oa-a"}, "", nil, http.StatusOK)
	c.call("GET", account, []string{"oa-a"}, "", map[string]string{"If-None-Match": etag}, http.StatusNotModified)
	c.call("GET", account, []string{"oa-missing"}, "", nil, http.StatusNotFound)

	h := c.call("POST", holds, []string{"oa-a"}, `{"amount":30,"expires_in":"15m"}`, nil, http.StatusCreated)
	holdID := h.header.Get("Location")[strings.LastIndex(h.header.Get("Location"), "/")+1:]
	c.call("GET", holds, []string{"oa-a"}, "", nil, http.StatusOK)
	c.call("GET", holds+"?status=open&limit=1", []string{"oa-a"}, "", nil, http.StatusOK)
	c.call("HEAD", holds, []string{"oa-a"}, "", nil, http.StatusOK)
	c.callInvalid("GET", holds+"?limit=0", []string{"oa-a"}, "", nil)
	c.call("GET", hold, []string{"oa-a", holdID}, "", nil, http.StatusOK)
	c.call("HEAD", hold, []string{"oa-a", holdID}, "", nil, http.StatusOK)
	c.call("GET", hold, []string{"oa-a", "no-such-hold"}, "", nil, http.StatusNotFound)
	c.call("POST", hold+"/capture", []string{"oa-a", holdID}, `{"amount":50}`, nil, http.StatusUnprocessableEntity) // capture_exceeds_hold
	c.call("POST", hold+"/capture", []string{"oa-a", holdID}, `{"amount":10}`, nil, http.StatusOK)
	c.call("POST", hold+"/capture", []string{"oa-a", holdID}, "", nil, http.StatusConflict) // hold_not_open, with the hold
	h2 := c.call("POST", holds, []string{"oa-a"}, `{"amount":5}`, nil, http.StatusCreated)
	hold2 := h2.header.Get("Location")[strings.LastIndex(h2.header.Get("Location"), "/")+1:]
	c.call("POST", hold+"/release", []string{"oa-a", hold2}, "", nil, http.StatusOK)
	c.call("POST", hold+"/release", []string{"oa-a", "no-such-hold"}, "", nil, http.StatusNotFound)

	c.call("POST", account+"/overdraft-limit", []string{"oa-a"}, `{"overdraft_limit":50}`, nil, http.StatusOK)
	c.call("POST", account+"/freeze", []string{"oa-a"}, "", nil, http.StatusOK)
	c.call("POST", account+"/withdrawals", []string{"oa-a"}, `{"amount":1}`, nil, http.StatusConflict) // account_frozen
	c.call("POST", account+"/unfreeze", []string{"oa-a"}, `{}`, nil, http.StatusOK)

	tr := c.call("POST", "/v1/transfers", nil, `{"from":"oa-a","to":"oa-b","amount":20,"currency":"USD"}`, map[string]string{"Idempotency-Key": "tr-1"}, http.StatusOK)
	transferID := tr.header.Get("Location")[strings.LastIndex(tr.header.Get("Location"), "/")+1:]
	c.call("POST", "/v1/transfers", nil, `{"from":"oa-a","to":"oa-c","amount":1,"currency":"USD"}`, nil, http.StatusOK)                  // refunded: currency_mismatch
	c.call("POST", "/v1/transfers", nil, `{"from":"oa-a","to":"oa-b","amount":1,"currency":"EUR"}`, nil, http.StatusUnprocessableEntity) // currency_mismatch
	c.call("POST", "/v1/transfers", nil, `{"from":"oa-a","to":"oa-a","amount":1,"currency":"USD"}`, nil, http.StatusBadRequest)          // to itself
	c.call("GET", "/v1/transfers/{id}", []string{transferID}, "", nil, http.StatusOK)
	c.call("HEAD", "/v1/transfers/{id}", []string{transferID}, "", nil, http.StatusOK)
	c.call("GET", "/v1/transfers/{id}", []string{"no-such-transfer"}, "", nil, http.StatusNotFound)

	var depDoc struct {
		CommandID string `json:"command_id"`
	}
	if err := json.Unmarshal(dep.body, &depDoc); err != nil || depDoc.CommandID == "" {
		t.Fatalf("deposit answer %s: no command_id (%v)", dep.body, err)
	}
	c.call("GET", "/v1/commands/{id}", []string{depDoc.CommandID}, "", nil, http.StatusOK)
	c.call("HEAD", "/v1/commands/{id}", []string{depDoc.CommandID}, "", nil, http.StatusOK)
	c.call("GET", "/v1/commands/{id}", []string{"no-such-command"}, "", nil, http.StatusNotFound)

	c.call("POST", account+"/close", []string{"oa-b"}, "", nil, http.StatusConflict) // account_not_empty
	c.call("POST", account+"/close", []string{"oa-c"}, "", nil, http.StatusOK)
	c.call("POST", account+"/deposits", []string{"oa-c"}, `{"amount":1}`, nil, http.StatusConflict) // account_closed

	exerciseHistory(c, e)

	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		c.call("GET", p, nil, "", nil, http.StatusOK)
		c.call("HEAD", p, nil, "", nil, http.StatusOK)
	}

	// Access control: 401 without a key or with a bad one, 403 beyond the
	// key's scope or accounts; the probes and the document need no key.
	for _, p := range []string{"/healthz", "/readyz", "/openapi.json"} {
		c.call("GET", p, nil, "", noKey, http.StatusOK)
	}
	c.callNoKey("GET", account, []string{"oa-a"}, "")
	c.callNoKey("POST", account+"/deposits", []string{"oa-a"}, `{"amount":1}`)
	c.callNoKey("GET", "/metrics", nil, "")
	c.call("GET", account, []string{"oa-a"}, "", withKey(apikey.Prefix+"0123456789abcdef_wrong"), http.StatusUnauthorized)
	read := e.createKey("openapi read", "read", "")
	shop := e.createKey("openapi shop", "write", "shop-a:")
	c.call("POST", account+"/deposits", []string{"oa-a"}, `{"amount":1}`, withKey(read), http.StatusForbidden)
	c.call("GET", "/metrics", nil, "", withKey(read), http.StatusForbidden)
	c.call("GET", account, []string{"oa-a"}, "", withKey(shop), http.StatusForbidden)
	c.call("POST", "/v1/transfers", nil, `{"from":"shop-a:x","to":"oa-b","amount":1,"currency":"USD"}`, withKey(shop), http.StatusForbidden)
	c.call("GET", "/v1/commands/{id}", []string{depDoc.CommandID}, "", withKey(shop), http.StatusNotFound)
	c.call("GET", "/v1/transfers/{id}", []string{transferID}, "", withKey(shop), http.StatusNotFound)

	for _, r := range c.documented {
		if !c.routes[r] {
			t.Errorf("route %s is documented but this test does not exercise it", r)
		}
	}
}

// exerciseHistory sends the history reads (after TestOpenAPI's commands on
// oa-a), their successes and their 400 and 404 problems.
func exerciseHistory(c *oapiChecker, e *env) {
	c.t.Helper()
	const (
		account = "/v1/accounts/{id}"
		entries = "/v1/accounts/{id}/entries"
		cp      = "/v1/counterparties/{name}"
	)
	first := c.call("GET", entries+"?limit=2", []string{"oa-a"}, "", nil, http.StatusOK)
	var page struct {
		Next string `json:"next"`
	}
	if err := json.Unmarshal(first.body, &page); err != nil || page.Next == "" {
		c.t.Fatalf("entries: got %s, want a next cursor (%v)", first.body, err)
	}
	c.call("GET", entries+"?limit=2&order=asc&after="+page.Next, []string{"oa-a"}, "", nil, http.StatusOK)
	c.call("GET", entries+"?order=desc&limit=1&before="+page.Next, []string{"oa-a"}, "", nil, http.StatusOK)
	c.call("HEAD", entries, []string{"oa-a"}, "", nil, http.StatusOK)
	c.call("GET", entries, []string{"oa-missing"}, "", nil, http.StatusNotFound)
	c.call("GET", entries+"?after="+page.Next, []string{"oa-b"}, "", nil, http.StatusBadRequest) // another account's cursor
	c.call("GET", entries+"?after=garbage", []string{"oa-a"}, "", nil, http.StatusBadRequest)
	c.callInvalid("GET", entries+"?limit=501", []string{"oa-a"}, "", nil)
	c.callInvalid("GET", entries+"?order=up", []string{"oa-a"}, "", nil)

	c.call("GET", account+"?version=2", []string{"oa-a"}, "", nil, http.StatusOK)
	c.call("HEAD", account+"?version=2", []string{"oa-a"}, "", nil, http.StatusOK)
	c.call("GET", account+"?as_of="+time.Now().UTC().Format(time.RFC3339Nano), []string{"oa-a"}, "", nil, http.StatusOK)
	c.call("GET", account+"?version=999", []string{"oa-a"}, "", nil, http.StatusNotFound)                // version_not_found
	c.call("GET", account+"?as_of=2000-01-01T00:00:00Z", []string{"oa-a"}, "", nil, http.StatusNotFound) // account_not_yet_open
	c.call("GET", account+"?version=1", []string{"oa-missing"}, "", nil, http.StatusNotFound)
	c.call("GET", account+"?version=1&as_of=2000-01-01T00:00:00Z", []string{"oa-a"}, "", nil, http.StatusBadRequest) // both
	c.callInvalid("GET", account+"?version=0", []string{"oa-a"}, "", nil)
	c.callInvalid("GET", account+"?as_of=yesterday", []string{"oa-a"}, "", nil)

	c.call("GET", "/v1/accounts", nil, "", nil, http.StatusOK)
	c.call("GET", "/v1/accounts?prefix=oa-&limit=1&after=oa-a", nil, "", nil, http.StatusOK)
	c.call("HEAD", "/v1/accounts", nil, "", nil, http.StatusOK)
	c.callInvalid("GET", "/v1/accounts?prefix=a%20b", nil, "", nil)
	c.callInvalid("GET", "/v1/accounts?limit=0", nil, "", nil)

	// The deposits above came from the default external counterparty.
	c.call("GET", cp, []string{"external"}, "", nil, http.StatusOK)
	c.call("HEAD", cp, []string{"external"}, "", nil, http.StatusOK)
	c.call("GET", cp, []string{"bank:nobody"}, "", nil, http.StatusNotFound)
	c.callInvalid("GET", cp, []string{strings.Repeat("x", 129)}, "", nil)
}
