package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// ledgerFake decides submitted commands at once with ledger.Decide, the way
// the consumer would, and answers through Deliver like the reply topic.
type ledgerFake struct {
	mu        sync.Mutex
	accounts  map[string]*ledger.Account
	outcomes  map[string]ledger.Outcome
	fps       map[string][]byte
	submitted []ledger.Command
	holds     map[string]*ledger.Hold
	transfers map[string]*ledger.Transfer
	now       time.Time // the log time of the commands it decides
	server    *Server
	silent    bool // accept but never decide (no consumer running)
}

func newFake() *ledgerFake {
	return &ledgerFake{accounts: map[string]*ledger.Account{}, outcomes: map[string]ledger.Outcome{}, fps: map[string][]byte{},
		holds: map[string]*ledger.Hold{}, transfers: map[string]*ledger.Transfer{}, now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
}

func (f *ledgerFake) Submit(_ context.Context, cmd ledger.Command, _ wire.Route) (wire.Position, error) {
	f.mu.Lock()
	f.submitted = append(f.submitted, cmd)
	if f.silent {
		f.mu.Unlock()
		return wire.Position{}, nil
	}
	// Like the consumer: a decided command ID answers with its outcome, or
	// with a rejection for a different request.
	if prior, ok := f.outcomes[cmd.ID]; ok {
		if string(f.fps[cmd.ID]) != string(cmd.Fingerprint()) {
			prior = ledger.Outcome{CommandID: cmd.ID, Status: ledger.StatusRejected, Code: ledger.CodeIdempotencyMismatch}
		}
		f.mu.Unlock()
		go f.server.Deliver(prior, cmd.Fingerprint())
		return wire.Position{}, nil
	}
	cmd.At = f.now
	d := ledger.Decide(ledger.State{Account: f.accounts[cmd.AccountID], Hold: f.holds[cmd.HoldID]}, cmd)
	if d.Account != nil {
		f.accounts[cmd.AccountID] = d.Account
	}
	if d.Hold != nil {
		f.holds[d.Hold.ID] = d.Hold
	}
	// A transfer runs its saga at once: the credit, then the settle; the
	// request is answered with the settled transfer.
	for next := d.Emit; next != nil; {
		if d.Transfer != nil {
			f.transfers[d.Transfer.ID] = d.Transfer
		}
		step := *next
		step.At = f.now
		var t *ledger.Transfer
		if step.Kind == ledger.KindTransferSettle {
			t = f.transfers[step.TransferID]
		}
		sd := ledger.Decide(ledger.State{Account: f.accounts[step.AccountID], Transfer: t}, step)
		if sd.Account != nil {
			f.accounts[step.AccountID] = sd.Account
		}
		if sd.Transfer != nil {
			f.transfers[sd.Transfer.ID] = sd.Transfer
			if sd.Transfer.Status != ledger.TransferPending {
				d.Outcome = ledger.Outcome{CommandID: cmd.ID, Kind: ledger.KindTransfer, AccountID: cmd.AccountID, Status: ledger.StatusApplied, Account: sd.Account, Transfer: sd.Transfer}
			}
		}
		next = sd.Emit
	}
	f.outcomes[cmd.ID], f.fps[cmd.ID] = d.Outcome, cmd.Fingerprint()
	f.mu.Unlock()
	go f.server.Deliver(d.Outcome, cmd.Fingerprint())
	return wire.Position{}, nil
}

func (f *ledgerFake) Ping(context.Context) error { return nil }

func (f *ledgerFake) Account(_ context.Context, id string) (ledger.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.accounts[id]; ok {
		return *a, nil
	}
	return ledger.Account{}, ledger.ErrNotFound
}

func (f *ledgerFake) Hold(_ context.Context, account, id string) (ledger.Hold, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h, ok := f.holds[id]; ok && h.AccountID == account {
		return *h, nil
	}
	return ledger.Hold{}, ledger.ErrNotFound
}

// Holds lists every hold of the account with the status, ordered by ID; it
// pages by ID too.
func (f *ledgerFake) Holds(_ context.Context, account string, status ledger.HoldStatus, after string, limit int) ([]ledger.Hold, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ledger.Hold
	for _, h := range f.holds {
		if h.AccountID == account && (status == "" || h.Status == status) && h.ID > after {
			out = append(out, *h)
		}
	}
	slices.SortFunc(out, func(a, b ledger.Hold) int { return strings.Compare(a.ID, b.ID) })
	if len(out) > limit {
		return out[:limit], out[limit-1].ID, nil
	}
	return out, "", nil
}

func (f *ledgerFake) Transfer(_ context.Context, id string) (ledger.Transfer, []ledger.TransferLeg, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.transfers[id]; ok {
		return *t, nil, nil
	}
	return ledger.Transfer{}, nil, ledger.ErrNotFound
}

func (f *ledgerFake) Outcome(_ context.Context, id string) (ledger.Outcome, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o, ok := f.outcomes[id]; ok {
		return o, f.fps[id], nil
	}
	return ledger.Outcome{}, nil, ledger.ErrNotFound
}

func newTestServer(t *testing.T, budget time.Duration) (*ledgerFake, *httptest.Server) {
	t.Helper()
	f := newFake()
	f.server = New(Config{WaitBudget: budget, Logger: slog.New(slog.DiscardHandler)}, f, f)
	ts := httptest.NewServer(f.server.Handler())
	t.Cleanup(ts.Close)
	return f, ts
}

func request(t *testing.T, ts *httptest.Server, method, path, body string, header ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc map[string]any
	_ = json.NewDecoder(res.Body).Decode(&doc)
	return res, doc
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"malformed json", "POST", "/v1/accounts", `{"id":`, 400, "body"},
		{"not an object", "POST", "/v1/accounts", `[1]`, 400, "body"},
		{"empty body", "POST", "/v1/accounts/alice/deposits", ``, 400, "body"},
		{"unknown field", "POST", "/v1/accounts", `{"id":"a","currency":"USD","color":"red"}`, 400, "color"},
		{"bad account id", "POST", "/v1/accounts", `{"id":"a b","currency":"USD"}`, 400, "id"},
		{"account id too long", "POST", "/v1/accounts", `{"id":"` + strings.Repeat("x", 65) + `","currency":"USD"}`, 400, "id"},
		{"missing id", "POST", "/v1/accounts", `{"currency":"USD"}`, 400, "id"},
		{"bad currency", "POST", "/v1/accounts", `{"id":"a","currency":"dollars"}`, 400, "currency"},
		{"id of wrong type", "POST", "/v1/accounts", `{"id":5,"currency":"USD"}`, 400, "id"},
		{"negative overdraft", "POST", "/v1/accounts", `{"id":"a","currency":"USD","overdraft_limit":-1}`, 400, "overdraft_limit"},
		{"missing amount", "POST", "/v1/accounts/alice/deposits", `{}`, 400, "amount"},
		{"zero amount", "POST", "/v1/accounts/alice/deposits", `{"amount":0}`, 400, "amount"},
		{"negative amount", "POST", "/v1/accounts/alice/withdrawals", `{"amount":-10}`, 400, "amount"},
		{"fractional amount", "POST", "/v1/accounts/alice/withdrawals", `{"amount":10.5}`, 400, "amount"},
		{"exponent amount", "POST", "/v1/accounts/alice/deposits", `{"amount":1e3}`, 400, "amount"},
		{"string amount", "POST", "/v1/accounts/alice/deposits", `{"amount":"10"}`, 400, "amount"},
		{"amount above 2^53-1", "POST", "/v1/accounts/alice/deposits", `{"amount":9007199254740992}`, 400, "amount"},
		{"two objects", "POST", "/v1/accounts/alice/deposits", `{"amount":1}{"amount":2}`, 400, "body"},
		{"bad path account", "POST", "/v1/accounts/a%20b/deposits", `{"amount":1}`, 400, "id"},
		{"oversized idempotency key", "POST", "/v1/accounts/alice/deposits", `{"amount":1}`, 400, "Idempotency-Key"},
		{"bad command id", "GET", "/v1/commands/a%20b", ``, 400, "command_id"},
		{"body too large", "POST", "/v1/accounts", `{"id":"` + strings.Repeat("x", 70000) + `"}`, 413, ""},
		{"unknown route", "GET", "/v2/things", ``, 404, ""},
		{"wrong method", "DELETE", "/v1/accounts", ``, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ts := newTestServer(t, time.Second)
			var header []string
			if tt.field == "Idempotency-Key" {
				header = []string{"Idempotency-Key", strings.Repeat("k", 256)}
			}
			res, doc := request(t, ts, tt.method, tt.path, tt.body, header...)
			if res.StatusCode != tt.status {
				t.Fatalf("got %d %v, want %d", res.StatusCode, doc, tt.status)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("got Content-Type %q, want application/problem+json", ct)
			}
			if doc["status"] != float64(tt.status) || doc["type"] == "" || doc["title"] == "" {
				t.Errorf("got %v, want a problem document with type, title and status %d", doc, tt.status)
			}
			if tt.field != "" && doc["field"] != tt.field {
				t.Errorf("got field %v, want %q", doc["field"], tt.field)
			}
			if len(f.submitted) != 0 {
				t.Errorf("an invalid request reached the commands topic: %+v", f.submitted)
			}
		})
	}
}

func TestOutcomesMapToStatuses(t *testing.T) {
	_, ts := newTestServer(t, time.Second)
	steps := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`, 201, ""},
		{"POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`, 409, "account_exists"},
		{"POST", "/v1/accounts/alice/deposits", `{"amount":100}`, 200, ""},
		{"POST", "/v1/accounts/alice/withdrawals", `{"amount":101}`, 422, "insufficient_funds"},
		{"POST", "/v1/accounts/bob/deposits", `{"amount":1}`, 404, "account_not_found"},
		{"POST", "/v1/accounts/alice/deposits", `{"amount":9007199254740991}`, 422, "balance_limit_exceeded"},
		{"GET", "/v1/accounts/bob", ``, 404, "account_not_found"},
	}
	for _, s := range steps {
		res, doc := request(t, ts, s.method, s.path, s.body)
		if res.StatusCode != s.status {
			t.Fatalf("%s %s: got %d %v, want %d", s.method, s.path, res.StatusCode, doc, s.status)
		}
		if s.code != "" && (doc["code"] != s.code || res.Header.Get("Content-Type") != "application/problem+json") {
			t.Fatalf("%s %s: got %v, want problem code %s", s.method, s.path, doc, s.code)
		}
	}
	res, doc := request(t, ts, "GET", "/v1/accounts/alice", "")
	if res.StatusCode != 200 || res.Header.Get("ETag") != `"2"` {
		t.Fatalf("got %d %v ETag %q, want 200 with ETag \"2\"", res.StatusCode, doc, res.Header.Get("ETag"))
	}
	if res, _ := request(t, ts, "GET", "/v1/accounts/alice", "", "If-None-Match", `"2"`); res.StatusCode != http.StatusNotModified {
		t.Fatalf("got %d for a matching If-None-Match, want 304", res.StatusCode)
	}
}

func TestIdempotencyKeySharesInFlightSubmission(t *testing.T) {
	f, ts := newTestServer(t, 2*time.Second)
	request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`)
	request(t, ts, "POST", "/v1/accounts/alice/deposits", `{"amount":100}`)
	var wg sync.WaitGroup
	ids := make([]any, 10)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, doc := request(t, ts, "POST", "/v1/accounts/alice/withdrawals", `{"amount":10}`, "Idempotency-Key", "k")
			if res.StatusCode != 200 {
				t.Errorf("got %d %v, want 200", res.StatusCode, doc)
			}
			ids[i] = doc["command_id"]
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("got command IDs %v, want one", ids)
		}
	}
	var withdrawals int
	for _, c := range f.submitted {
		if c.Kind == ledger.KindWithdrawal {
			withdrawals++
		}
	}
	a, _ := f.Account(context.Background(), "alice")
	if a.Balance != 90 {
		t.Fatalf("got balance %d after %d submissions, want 90: applied once", a.Balance, withdrawals)
	}
}

func TestWaitBudgetAnswers202(t *testing.T) {
	f, ts := newTestServer(t, 50*time.Millisecond)
	f.silent = true
	res, doc := request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`)
	if res.StatusCode != http.StatusAccepted || doc["status"] != "pending" {
		t.Fatalf("got %d %v, want 202 pending", res.StatusCode, doc)
	}
	if loc := res.Header.Get("Location"); loc != "/v1/commands/"+doc["command_id"].(string) {
		t.Fatalf("got Location %q, want the command's URL", loc)
	}
}

func TestUnavailableBrokerIs503(t *testing.T) {
	f, ts := newTestServer(t, time.Second)
	f.server.submit = failingSubmitter{}
	res, doc := request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`)
	if res.StatusCode != http.StatusServiceUnavailable || doc["code"] != "outcome_unknown" || doc["command_id"] == nil {
		t.Fatalf("got %d %v, want 503 outcome_unknown with the command ID", res.StatusCode, doc)
	}
}

// hangingSubmitter blocks like a producer whose broker is gone, until its
// context ends.
type hangingSubmitter struct{}

func (hangingSubmitter) Submit(ctx context.Context, _ ledger.Command, _ wire.Route) (wire.Position, error) {
	<-ctx.Done()
	return wire.Position{}, errors.Join(ctx.Err(), ledger.ErrUnavailable)
}
func (hangingSubmitter) Ping(context.Context) error { return nil }

// TestSubmitBoundedByProduceTimeout: a broker that never answers costs a
// request the produce timeout and a 503 with the command ID, not a hang.
func TestSubmitBoundedByProduceTimeout(t *testing.T) {
	f, ts := newTestServer(t, 200*time.Millisecond)
	f.server.submit = hangingSubmitter{}
	f.server.cfg.ProduceTimeout = 200 * time.Millisecond
	client := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("POST", ts.URL+"/v1/accounts", strings.NewReader(`{"id":"alice","currency":"USD"}`))
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("request hung: %v", err)
	}
	defer res.Body.Close()
	var doc map[string]any
	_ = json.NewDecoder(res.Body).Decode(&doc)
	if res.StatusCode != http.StatusServiceUnavailable || doc["code"] != "outcome_unknown" || doc["command_id"] == nil {
		t.Fatalf("got %d %v, want 503 outcome_unknown with the command ID", res.StatusCode, doc)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %s, want about the 200ms produce timeout", took)
	}
}

// slowSubmitter decides after a delay, unless its context ends first.
type slowSubmitter struct{ *ledgerFake }

func (s slowSubmitter) Submit(ctx context.Context, cmd ledger.Command, r wire.Route) (wire.Position, error) {
	select {
	case <-time.After(300 * time.Millisecond):
		return s.ledgerFake.Submit(ctx, cmd, r)
	case <-ctx.Done():
		return wire.Position{}, errors.Join(ctx.Err(), ledger.ErrUnavailable)
	}
}

// TestLeaderHangUpDoesNotFailFollowers: when the first of two requests with
// one Idempotency-Key hangs up, the second still gets the outcome.
func TestLeaderHangUpDoesNotFailFollowers(t *testing.T) {
	f, ts := newTestServer(t, 2*time.Second)
	request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`)
	request(t, ts, "POST", "/v1/accounts/alice/deposits", `{"amount":100}`)
	f.server.submit = slowSubmitter{f}
	leaderCtx, hangUp := context.WithCancel(context.Background())
	leaderDone := make(chan struct{})
	go func() {
		defer close(leaderDone)
		req, _ := http.NewRequestWithContext(leaderCtx, "POST", ts.URL+"/v1/accounts/alice/withdrawals", strings.NewReader(`{"amount":10}`))
		req.Header.Set("Idempotency-Key", "k")
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond) // the leader is submitting
	followerDone := make(chan struct{})
	var (
		res *http.Response
		doc map[string]any
	)
	go func() {
		defer close(followerDone)
		res, doc = request(t, ts, "POST", "/v1/accounts/alice/withdrawals", `{"amount":10}`, "Idempotency-Key", "k")
	}()
	time.Sleep(50 * time.Millisecond)
	hangUp()
	<-leaderDone
	<-followerDone
	if res.StatusCode != http.StatusOK || doc["status"] != "applied" {
		t.Fatalf("follower got %d %v, want 200 applied", res.StatusCode, doc)
	}
}

type failingSubmitter struct{}

func (failingSubmitter) Submit(context.Context, ledger.Command, wire.Route) (wire.Position, error) {
	return wire.Position{}, errors.Join(errors.New("no broker"), ledger.ErrUnavailable)
}
func (failingSubmitter) Ping(context.Context) error { return ledger.ErrUnavailable }

// errorCounter counts records at error level.
type errorCounter struct{ n *atomic.Int64 }

func (h errorCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h errorCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h errorCounter) WithGroup(string) slog.Handler            { return h }
func (h errorCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.n.Add(1)
	}
	return nil
}

// TestClientHangUpIsNotAnError: a client that hangs up while waiting for an
// outcome is not logged as a failure.
func TestClientHangUpIsNotAnError(t *testing.T) {
	var errs atomic.Int64
	f := newFake()
	f.silent = true
	f.server = New(Config{WaitBudget: 5 * time.Second, Logger: slog.New(errorCounter{&errs})}, f, f)
	ts := httptest.NewServer(f.server.Handler())
	defer ts.Close()
	ctx, hangUp := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer hangUp()
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/accounts", strings.NewReader(`{"id":"alice","currency":"USD"}`))
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("got %d, want the client to give up first", res.StatusCode)
	}
	time.Sleep(300 * time.Millisecond) // let the handler notice and return
	if n := errs.Load(); n != 0 {
		t.Fatalf("got %d error logs for a client hang-up, want 0", n)
	}
}
