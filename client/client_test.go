package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// step is one scripted answer: a status, headers and a body, or a dropped
// connection.
type step struct {
	status int
	header map[string]string
	body   string
	drop   bool // close the connection without answering
	// hang, if set, is called, then the request waits until the client
	// gives up on it.
	hang func()
}

// seen is a request the script received.
type seen struct {
	method, path, query, key, ifMatch, body string
}

// script serves steps in order (the last one repeats) and records the
// requests.
type script struct {
	mu    sync.Mutex
	steps []step
	got   []seen
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.got = append(s.got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Idempotency-Key"), r.Header.Get("If-Match"), string(body)})
	st := s.steps[min(len(s.got), len(s.steps))-1]
	s.mu.Unlock()
	if st.hang != nil {
		st.hang()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	if st.drop {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	if st.status >= 400 {
		w.Header().Set("Content-Type", "application/problem+json")
	}
	w.WriteHeader(st.status)
	io.WriteString(w, st.body)
}

func (s *script) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.got...)
}

// sleeps records the waits a client asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newScripted(t *testing.T, opts []Option, steps ...step) (*Client, *script, *sleeps) {
	t.Helper()
	s := &script{steps: steps}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	sl := &sleeps{}
	c.sleep = sl.sleep
	return c, s, sl
}

const (
	applied     = `{"command_id":"idem-1","status":"applied","account":{"id":"alice","currency":"USD","status":"active","balance":70,"available":70,"version":3}}`
	pending     = `{"command_id":"idem-1","status":"pending","deadline":"2026-11-30T13:00:00Z"}`
	unavailable = `{"type":"x","title":"Service unavailable","status":503,"code":"unavailable"}`
	unknown     = `{"type":"x","title":"Outcome unknown","status":503,"code":"outcome_unknown","command_id":"idem-1"}`
	noFunds     = `{"type":"https://github.com/ordo-dev/ordo/blob/main/docs/problems.md#insufficient_funds","title":"Insufficient funds","status":422,"detail":"balance 70, wanted 100","instance":"/v1/accounts/alice/withdrawals","code":"insufficient_funds","command_id":"idem-1","account":{"id":"alice","currency":"USD","status":"active","balance":70,"available":70,"version":3}}`
)

func TestCommandRetries(t *testing.T) {
	tests := []struct {
		name     string
		steps    []step
		requests int
		waits    int
		// minWait is the least wait asked for before the first retry.
		minWait time.Duration
	}{
		{"503 then 200", []step{{status: 503, header: map[string]string{"Retry-After": "1"}, body: unavailable}, {status: 200, body: applied}}, 2, 1, time.Second},
		{"503 outcome_unknown then 200", []step{{status: 503, header: map[string]string{"Retry-After": "2"}, body: unknown}, {status: 200, body: applied}}, 2, 1, 2 * time.Second},
		{"dropped connection then 200", []step{{drop: true}, {status: 200, body: applied}}, 2, 1, 0},
		{"202 then 200", []step{{status: 202, header: map[string]string{"Location": "/v1/commands/idem-1"}, body: pending}, {status: 200, body: applied}}, 2, 1, 0},
		{"202, 503, dropped, 202, then 200", []step{
			{status: 202, body: pending}, {status: 503, body: unavailable}, {drop: true}, {status: 202, body: pending}, {status: 200, body: applied},
		}, 5, 3, 0}, // net/http itself resends a keyed request dropped on a reused connection
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s, sl := newScripted(t, nil, tt.steps...)
			res, err := c.Withdraw(context.Background(), "alice", 30)
			if err != nil {
				t.Fatalf("got %v, want the outcome", err)
			}
			if res.Status != ledger.StatusApplied || res.Account == nil || res.Account.Balance != 70 || res.CommandID != "idem-1" {
				t.Errorf("got %+v, want applied with balance 70", res)
			}
			got := s.requests()
			if len(got) != tt.requests {
				t.Fatalf("got %d requests, want %d", len(got), tt.requests)
			}
			for i, r := range got {
				if r.method != http.MethodPost || r.path != "/v1/accounts/alice/withdrawals" || r.body != `{"amount":30}` {
					t.Errorf("request %d: got %s %s %s, want POST /v1/accounts/alice/withdrawals {\"amount\":30}", i, r.method, r.path, r.body)
				}
				if r.key == "" || r.key != got[0].key {
					t.Errorf("request %d: got Idempotency-Key %q, want %q as the first", i, r.key, got[0].key)
				}
			}
			if len(sl.d) != tt.waits {
				t.Errorf("got %d waits, want %d", len(sl.d), tt.waits)
			}
			if len(sl.d) > 0 && sl.d[0] < tt.minWait {
				t.Errorf("got a first wait of %s, want at least the Retry-After %s", sl.d[0], tt.minWait)
			}
		})
	}
}

func TestRefusalNotRetried(t *testing.T) {
	c, s, _ := newScripted(t, nil, step{status: 422, body: noFunds}, step{status: 200, body: applied})
	_, err := c.Withdraw(context.Background(), "alice", 100)
	if !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("got %v, want ErrInsufficientFunds", err)
	}
	if errors.Is(err, ErrAccountNotFound) {
		t.Errorf("got %v matching ErrAccountNotFound, want only its own code", err)
	}
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("got %T, want a *Problem", err)
	}
	if p.Status != 422 || p.Code != "insufficient_funds" || p.Title != "Insufficient funds" || p.Detail == "" ||
		p.CommandID != "idem-1" || p.Account == nil || p.Account.Balance != 70 || p.Type == "" || p.Instance == "" {
		t.Errorf("got %+v, want every member of the document", p)
	}
	if Code(err) != "insufficient_funds" {
		t.Errorf("got Code %q, want insufficient_funds", Code(err))
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("got %d requests, want 1: a refusal is final", n)
	}
}

func TestNotAProblemDocument(t *testing.T) {
	c, s, _ := newScripted(t, nil, step{status: 502, body: "<html>bad gateway</html>"})
	_, err := c.Deposit(context.Background(), "alice", 1)
	var p *Problem
	if !errors.As(err, &p) || p.Status != 502 || p.Code != "" {
		t.Fatalf("got %v, want a *Problem with status 502 and no code", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

func TestMaxAttempts(t *testing.T) {
	tests := []struct {
		name string
		step step
		want func(error) bool
	}{
		{"503", step{status: 503, body: unavailable}, func(err error) bool { return errors.Is(err, ErrUnavailable) }},
		{"network", step{drop: true}, func(err error) bool { var te *transportError; return errors.As(err, &te) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s, _ := newScripted(t, []Option{WithMaxAttempts(3)}, tt.step)
			_, err := c.Deposit(context.Background(), "alice", 1)
			if err == nil || !tt.want(err) {
				t.Fatalf("got %v, want the last attempt's error", err)
			}
			if n := len(s.requests()); n != 3 {
				t.Errorf("got %d requests, want 3", n)
			}
		})
	}
}

func TestPendingWhenContextEnds(t *testing.T) {
	c, s, _ := newScripted(t, nil, step{status: 202, header: map[string]string{"Location": "/v1/commands/idem-1"}, body: pending})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	c.sleep = func(ctx context.Context, d time.Duration) error {
		if n++; n == 3 {
			cancel()
		}
		return ctx.Err()
	}
	_, err := c.Deposit(ctx, "alice", 1, IdempotencyKey("k-1"))
	var pe *PendingError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *PendingError", err)
	}
	if pe.CommandID != "idem-1" || pe.Location != "/v1/commands/idem-1" || pe.IdempotencyKey != "k-1" || pe.Deadline == nil {
		t.Errorf("got %+v, want the command, its Location, key and deadline", pe)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want it to wrap context.Canceled", err)
	}
	if got := len(s.requests()); got != 3 {
		t.Errorf("got %d requests, want 3", got)
	}
}

func TestPendingWhenContextEndsInFlight(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, _, _ := newScripted(t, nil,
		step{status: 202, header: map[string]string{"Location": "/v1/commands/idem-1"}, body: pending},
		step{hang: cancel})
	_, err := c.Deposit(ctx, "alice", 1)
	var pe *PendingError
	if !errors.As(err, &pe) || pe.CommandID != "idem-1" || pe.Location != "/v1/commands/idem-1" {
		t.Fatalf("got %v, want a *PendingError naming the command", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want it to wrap context.Canceled", err)
	}
}

func TestCallOptions(t *testing.T) {
	tests := []struct {
		name          string
		opts          []CallOption
		key, ifMatch  string
		generatedKeys bool
	}{
		{"defaults", nil, "", "", true},
		{"key and version", []CallOption{IdempotencyKey("order-7"), IfMatch(7)}, "order-7", `"7"`, false},
		{"exists", []CallOption{IfExists()}, "", "*", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s, _ := newScripted(t, nil, step{status: 200, body: applied})
			for range 2 {
				if _, err := c.Freeze(context.Background(), "alice", tt.opts...); err != nil {
					t.Fatal(err)
				}
			}
			got := s.requests()
			for _, r := range got {
				if r.path != "/v1/accounts/alice/freeze" || r.body != "" {
					t.Errorf("got %s %q, want /v1/accounts/alice/freeze with no body", r.path, r.body)
				}
				if r.ifMatch != tt.ifMatch {
					t.Errorf("got If-Match %q, want %q", r.ifMatch, tt.ifMatch)
				}
				if !tt.generatedKeys && r.key != tt.key {
					t.Errorf("got Idempotency-Key %q, want %q", r.key, tt.key)
				}
			}
			if tt.generatedKeys && (got[0].key == "" || got[0].key == got[1].key) {
				t.Errorf("got keys %q and %q, want a new key per call", got[0].key, got[1].key)
			}
		})
	}
}

func TestRequestBodies(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		call       func(c *Client) error
		path, body string
	}{
		{"open", func(c *Client) error { _, err := c.OpenAccount(ctx, "alice", "USD", 0); return err }, "/v1/accounts", `{"id":"alice","currency":"USD"}`},
		{"open with overdraft", func(c *Client) error { _, err := c.OpenAccount(ctx, "alice", "USD", 50); return err }, "/v1/accounts", `{"id":"alice","currency":"USD","overdraft_limit":50}`},
		{"deposit", func(c *Client) error { _, err := c.Deposit(ctx, "alice", 5); return err }, "/v1/accounts/alice/deposits", `{"amount":5}`},
		{"hold", func(c *Client) error { _, err := c.CreateHold(ctx, "alice", 5, 15*time.Minute); return err }, "/v1/accounts/alice/holds", `{"amount":5,"expires_in":"15m0s"}`},
		{"hold, default expiry", func(c *Client) error { _, err := c.CreateHold(ctx, "alice", 5, 0); return err }, "/v1/accounts/alice/holds", `{"amount":5}`},
		{"capture all", func(c *Client) error { _, err := c.CaptureHold(ctx, "alice", "h1", 0); return err }, "/v1/accounts/alice/holds/h1/capture", `{}`},
		{"capture part", func(c *Client) error { _, err := c.CaptureHold(ctx, "alice", "h1", 3); return err }, "/v1/accounts/alice/holds/h1/capture", `{"amount":3}`},
		{"release", func(c *Client) error { _, err := c.ReleaseHold(ctx, "alice", "h1"); return err }, "/v1/accounts/alice/holds/h1/release", ``},
		{"overdraft 0", func(c *Client) error { _, err := c.SetOverdraftLimit(ctx, "alice", 0); return err }, "/v1/accounts/alice/overdraft-limit", `{"overdraft_limit":0}`},
		{"unfreeze", func(c *Client) error { _, err := c.Unfreeze(ctx, "alice"); return err }, "/v1/accounts/alice/unfreeze", ``},
		{"close", func(c *Client) error { _, err := c.Close(ctx, "alice"); return err }, "/v1/accounts/alice/close", ``},
		{"transfer", func(c *Client) error {
			_, err := c.Transfer(ctx, TransferRequest{From: "alice", To: "bob", Amount: 5, Currency: "USD"})
			return err
		}, "/v1/transfers", `{"from":"alice","to":"bob","amount":5,"currency":"USD"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s, _ := newScripted(t, nil, step{status: 200, body: applied})
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			r := s.requests()[0]
			if r.method != http.MethodPost || r.path != tt.path || r.body != tt.body {
				t.Errorf("got %s %s %s, want POST %s %s", r.method, r.path, r.body, tt.path, tt.body)
			}
		})
	}
}

func TestTransferFollowsPending(t *testing.T) {
	const (
		pendingTransfer = `{"command_id":"idem-1","status":"pending","transfer":{"id":"tr-1","from":"alice","to":"bob","amount":5,"currency":"USD","status":"pending","created_at":"2026-11-30T12:00:00Z"},"account":{"id":"alice","balance":65,"in_flight":5}}`
		done            = `{"command_id":"idem-1","status":"applied","transfer":{"id":"tr-1","from":"alice","to":"bob","amount":5,"currency":"USD","status":"refunded","reason":"account_closed","created_at":"2026-11-30T12:00:00Z"},"account":{"id":"alice","balance":70}}`
	)
	c, s, _ := newScripted(t, nil,
		step{status: 202, header: map[string]string{"Location": "/v1/transfers/tr-1"}, body: pendingTransfer},
		step{status: 200, header: map[string]string{"Location": "/v1/transfers/tr-1"}, body: done})
	res, err := c.Transfer(context.Background(), TransferRequest{From: "alice", To: "bob", Amount: 5, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Transfer == nil || res.Transfer.Status != ledger.TransferRefunded || res.Transfer.Reason != ledger.CodeAccountClosed {
		t.Errorf("got %+v, want the refunded transfer", res.Transfer)
	}
	if res.Account.InFlight != 0 || res.Location != "/v1/transfers/tr-1" || res.Deadline != nil {
		t.Errorf("got %+v, want the final answer only", res)
	}
	if got := s.requests(); len(got) != 2 || got[0].key != got[1].key {
		t.Errorf("got %+v, want two requests with one key", got)
	}
}

func TestReads(t *testing.T) {
	ctx := context.Background()
	t.Run("account after a 503", func(t *testing.T) {
		c, s, _ := newScripted(t, nil, step{status: 503, body: unavailable}, step{status: 200, body: `{"account":{"id":"alice","balance":5,"version":2}}`})
		acc, err := c.Account(ctx, "alice")
		if err != nil || acc.Balance != 5 || acc.Version != 2 {
			t.Fatalf("got %+v %v, want balance 5 version 2", acc, err)
		}
		if got := s.requests(); len(got) != 2 || got[1].method != http.MethodGet || got[1].path != "/v1/accounts/alice" {
			t.Errorf("got %+v, want two GET /v1/accounts/alice", got)
		}
	})
	t.Run("hold not found", func(t *testing.T) {
		c, s, _ := newScripted(t, nil, step{status: 404, body: `{"status":404,"code":"hold_not_found"}`})
		if _, err := c.Hold(ctx, "alice", "h1"); !errors.Is(err, ErrHoldNotFound) {
			t.Fatalf("got %v, want ErrHoldNotFound", err)
		}
		if got := s.requests(); len(got) != 1 || got[0].path != "/v1/accounts/alice/holds/h1" {
			t.Errorf("got %+v, want one GET", got)
		}
	})
	t.Run("holds", func(t *testing.T) {
		c, s, _ := newScripted(t, nil, step{status: 200, body: `{"holds":[{"id":"h2","amount":3,"status":"open"}],"next":"c2"}`})
		page, err := c.Holds(ctx, "alice", HoldsQuery{Status: ledger.HoldOpen, Limit: 1, After: "c1"})
		if err != nil || len(page.Holds) != 1 || page.Holds[0].ID != "h2" || page.Next != "c2" {
			t.Fatalf("got %+v %v, want one hold and the next cursor", page, err)
		}
		if r := s.requests()[0]; r.path != "/v1/accounts/alice/holds" || r.query != "after=c1&limit=1&status=open" {
			t.Errorf("got %s?%s, want the query", r.path, r.query)
		}
	})
	t.Run("transfer", func(t *testing.T) {
		c, s, _ := newScripted(t, nil, step{status: 200, body: `{"transfer":{"id":"tr-1","from":"alice","to":"bob","amount":5,"status":"completed","legs":[{"command_id":"idem-1","kind":"transfer","account_id":"alice","status":"applied"}]}}`})
		tr, err := c.TransferByID(ctx, "tr-1")
		if err != nil || tr.ID != "tr-1" || tr.Status != ledger.TransferCompleted || len(tr.Legs) != 1 || tr.Legs[0].Kind != ledger.KindTransfer {
			t.Fatalf("got %+v %v, want the transfer with its leg", tr, err)
		}
		if r := s.requests()[0]; r.path != "/v1/transfers/tr-1" {
			t.Errorf("got %s, want /v1/transfers/tr-1", r.path)
		}
	})
	t.Run("command rejected", func(t *testing.T) {
		c, s, _ := newScripted(t, nil, step{status: 200, body: `{"command_id":"idem-1","kind":"withdrawal","account_id":"alice","status":"rejected","code":"insufficient_funds"}`})
		out, err := c.Command(ctx, "idem-1")
		if err != nil || out.Status != ledger.StatusRejected || out.Code != ledger.CodeInsufficientFunds {
			t.Fatalf("got %+v %v, want the rejected outcome as data", out, err)
		}
		if r := s.requests()[0]; r.path != "/v1/commands/idem-1" {
			t.Errorf("got %s, want /v1/commands/idem-1", r.path)
		}
	})
	t.Run("command pending", func(t *testing.T) {
		c, _, _ := newScripted(t, nil, step{status: 200, body: pending})
		out, err := c.Command(ctx, "idem-1")
		if err != nil || out.Status != ledger.StatusPending || out.Deadline == nil {
			t.Fatalf("got %+v %v, want pending with its deadline", out, err)
		}
	})
}

func TestBackoff(t *testing.T) {
	c, err := New("http://127.0.0.1:1", WithBackoff(10*time.Millisecond, 80*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for n, ceil := range []time.Duration{10, 20, 40, 80, 80, 80} {
		ceil *= time.Millisecond
		for range 100 {
			if d := c.backoff(n); d < 0 || d > ceil {
				t.Fatalf("retry %d: got %s, want 0 to %s", n, d, ceil)
			}
		}
	}
	if d := c.backoff(200); d < 0 || d > 80*time.Millisecond {
		t.Errorf("retry 200: got %s, want at most the cap", d)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, h string
		want    time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "3", 3 * time.Second},
		{"date", now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second},
		{"past date", now.Add(-5 * time.Second).Format(http.TimeFormat), 0},
		{"junk", "soon", 0},
		{"negative", "-1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(tt.h, now); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts []Option
	}{
		{"no scheme", "127.0.0.1:8080", nil},
		{"no host", "http://", nil},
		{"zero attempts", "http://x", []Option{WithMaxAttempts(0)}},
		{"bad backoff", "http://x", []Option{WithBackoff(time.Second, time.Millisecond)}},
		{"nil http client", "http://x", []Option{WithHTTPClient(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.url, tt.opts...); err == nil {
				t.Error("got no error, want one")
			}
		})
	}
}
