package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// fuzzRoute is a command route: its path (with {id} and {hold_id} filled
// in), the kind it submits, and the body that asks for a command again.
type fuzzRoute struct {
	kind ledger.Kind
	path func(account, hold string) string
	// body is the canonical request body for cmd.
	body func(cmd ledger.Command) string
}

func accountPath(suffix string) func(string, string) string {
	return func(account, _ string) string { return "/v1/accounts/" + url.PathEscape(account) + suffix }
}

func holdPath(suffix string) func(string, string) string {
	return func(account, hold string) string {
		return "/v1/accounts/" + url.PathEscape(account) + "/holds/" + url.PathEscape(hold) + suffix
	}
}

func fixedPath(p string) func(string, string) string { return func(string, string) string { return p } }

func quote(s string) string { return strconv.Quote(s) }

func amountBody(cmd ledger.Command) string {
	return `{"amount":` + strconv.FormatInt(cmd.Amount, 10) + `}`
}

// fuzzRoutes are every route that submits a command.
var fuzzRoutes = []fuzzRoute{
	{ledger.KindOpenAccount, fixedPath("/v1/accounts"), func(c ledger.Command) string {
		return `{"id":` + quote(c.AccountID) + `,"currency":` + quote(c.Currency) + `,"overdraft_limit":` + strconv.FormatInt(c.OverdraftLimit, 10) + `}`
	}},
	{ledger.KindDeposit, accountPath("/deposits"), amountBody},
	{ledger.KindWithdrawal, accountPath("/withdrawals"), amountBody},
	{ledger.KindHold, accountPath("/holds"), func(c ledger.Command) string {
		if c.HoldFor == 0 {
			return amountBody(c)
		}
		return `{"amount":` + strconv.FormatInt(c.Amount, 10) + `,"expires_in":` + quote(c.HoldFor.String()) + `}`
	}},
	{ledger.KindCapture, holdPath("/capture"), func(c ledger.Command) string {
		if c.Amount == 0 {
			return ``
		}
		return amountBody(c)
	}},
	{ledger.KindRelease, holdPath("/release"), func(ledger.Command) string { return `{}` }},
	{ledger.KindSetOverdraftLimit, accountPath("/overdraft-limit"), func(c ledger.Command) string {
		return `{"overdraft_limit":` + strconv.FormatInt(c.OverdraftLimit, 10) + `}`
	}},
	{ledger.KindFreeze, accountPath("/freeze"), func(ledger.Command) string { return `` }},
	{ledger.KindUnfreeze, accountPath("/unfreeze"), func(ledger.Command) string { return `{}` }},
	{ledger.KindClose, accountPath("/close"), func(ledger.Command) string { return `` }},
	{ledger.KindTransfer, fixedPath("/v1/transfers"), func(c ledger.Command) string {
		return `{"from":` + quote(c.AccountID) + `,"to":` + quote(c.Counterparty) + `,"amount":` + strconv.FormatInt(c.Amount, 10) + `,"currency":` + quote(c.Currency) + `}`
	}},
}

// echoLog records each submitted command and answers it at once as
// applied, so that a request ends as soon as it is submitted.
type echoLog struct {
	mu     sync.Mutex
	server *Server
	cmds   []ledger.Command
}

func (l *echoLog) Submit(_ context.Context, cmd ledger.Command, _ wire.Route) (wire.Position, error) {
	l.mu.Lock()
	l.cmds = append(l.cmds, cmd)
	l.mu.Unlock()
	l.server.Deliver(ledger.Outcome{CommandID: cmd.ID, Kind: cmd.Kind, AccountID: cmd.AccountID, Status: ledger.StatusApplied}, cmd.Fingerprint())
	return wire.Position{}, nil
}

func (l *echoLog) Ping(context.Context) error { return nil }

func (l *echoLog) take() []ledger.Command {
	l.mu.Lock()
	defer l.mu.Unlock()
	cmds := l.cmds
	l.cmds = nil
	return cmds
}

// FuzzCommandBody sends arbitrary bodies, path parameters and headers to
// every command route. The server must never fail (5xx, which includes a
// recovered panic). A request it takes submits one command of the route's
// kind, for the path's account, that ledger validation accepts, that the
// envelope carries unchanged, and that the route's canonical body asks for
// again. A request it refuses is a problem+json document whose code is one
// of the problem table, with that code's status, a 4xx, and submits
// nothing.
//
// Seeds: the f.Add calls below and testdata/fuzz/FuzzCommandBody.
func FuzzCommandBody(f *testing.F) {
	seeds := []struct {
		route                 uint8
		account, hold         string
		body, key, ifMatchHdr string
	}{
		{0, "", "", `{"id":"alice","currency":"USD"}`, "", ""},
		{0, "", "", `{"id":"alice","currency":"USD","overdraft_limit":500}`, "k1", ""},
		{0, "", "", `{"id":"..","currency":"USD"}`, "", ""},
		{1, "alice", "", `{"amount":100}`, "k1", ""},
		{1, "alice", "", `{"amount":9007199254740991}`, "", `"3"`},
		{1, "alice", "", `{"amount":9007199254740992}`, "", ""},
		{2, "alice", "", `{"amount":1.0}`, "", ""},
		{2, "alice", "", `{"amount":25}`, "", "*"},
		{3, "alice", "", `{"amount":30,"expires_in":"15m"}`, "", ""},
		{3, "alice", "", `{"amount":30,"expires_in":"0.5s"}`, "", ""},
		{4, "alice", "hold-1", ``, "", ""},
		{4, "alice", "hold-1", `{"amount":20}`, "k", `"7"`},
		{5, "alice", "hold-1", `{}`, "", ""},
		{5, "alice", "hold-1", `{"amount":1}`, "", ""},
		{6, "alice", "", `{"overdraft_limit":0}`, "", ""},
		{6, "alice", "", `{}`, "", ""},
		{7, "alice", "", ``, "", ""},
		{8, "alice", "", ` { } `, "", ""},
		{9, "a.b:c_d-e", "", ``, strings.Repeat("k", 256), ""},
		{10, "", "", `{"from":"alice","to":"bob","amount":5,"currency":"USD"}`, "k", ""},
		{10, "", "", `{"from":"alice","to":"alice","amount":5,"currency":"USD"}`, "", ""},
		{10, "", "", `{"from":"alice","to":"bob","amount":5,"currency":"USD","currency":"EUR"}`, "", ""},
		{1, "alice", "", `{"amount":1}{"amount":2}`, "", ""},
		{1, "alice", "", `{"amount":"\u0031"}`, "", ""},
		{1, "al ice", "", `{"amount":1}`, "", ""},
		{1, "alice", "", `{"amount":1}`, "", `"0"`},
		{1, "alice", "", "\xff", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.route, s.account, s.hold, []byte(s.body), s.key, s.ifMatchHdr)
	}

	log := &echoLog{}
	srv := New(Config{Logger: slog.New(slog.DiscardHandler), WaitBudget: 10 * time.Second}, emptyStore{}, log)
	log.server = srv
	h := srv.Handler()

	f.Fuzz(func(t *testing.T, routeN uint8, account, hold string, body []byte, key, ifMatchHdr string) {
		route := fuzzRoutes[int(routeN)%len(fuzzRoutes)]
		path := route.path(account, hold)
		headers := http.Header{}
		if key != "" {
			headers.Set(HeaderIdempotencyKey, key)
		}
		if ifMatchHdr != "" {
			headers.Set("If-Match", ifMatchHdr)
		}
		log.take()
		rec := serve(t, h, path, body, headers)
		cmds := log.take()

		if rec.Code >= 500 {
			t.Fatalf("POST %s %q: got status %d: %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 300 {
			checkProblem(t, rec)
			if len(cmds) != 0 {
				t.Fatalf("POST %s %q: refused with %d but submitted %+v", path, body, rec.Code, cmds)
			}
			return
		}
		if len(cmds) != 1 {
			t.Fatalf("POST %s %q: got status %d and %d commands submitted, want 1", path, body, rec.Code, len(cmds))
		}
		cmd := cmds[0]
		if err := cmd.Validate(); err != nil {
			t.Fatalf("POST %s %q: submitted %+v, which ledger validation refuses: %v", path, body, cmd, err)
		}
		if cmd.Kind != route.kind {
			t.Fatalf("POST %s: submitted a %s command, want %s", path, cmd.Kind, route.kind)
		}
		if route.kind != ledger.KindOpenAccount && route.kind != ledger.KindTransfer && cmd.AccountID != account {
			t.Fatalf("POST %s: submitted a command for account %q, want %q", path, cmd.AccountID, account)
		}
		if (route.kind == ledger.KindCapture || route.kind == ledger.KindRelease) && cmd.HoldID != hold {
			t.Fatalf("POST %s: submitted a command for hold %q, want %q", path, cmd.HoldID, hold)
		}
		// The envelope carries it unchanged.
		enc, err := wire.EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("encode %+v: %v", cmd, err)
		}
		dec, err := wire.DecodeCommand(cmd.ID, enc)
		if err != nil {
			t.Fatalf("decode %s: %v", enc, err)
		}
		if !bytes.Equal(dec.Fingerprint(), cmd.Fingerprint()) || dec.IfMatch != cmd.IfMatch || !dec.Deadline.Equal(cmd.Deadline) {
			t.Fatalf("the envelope changed the command: got %+v, want %+v", dec, cmd)
		}
		// The canonical body for the command asks for it again.
		canon := route.body(cmd)
		rec = serve(t, h, route.path(cmd.AccountID, cmd.HoldID), []byte(canon), headers)
		again := log.take()
		if rec.Code >= 300 || len(again) != 1 {
			t.Fatalf("canonical body %s: got status %d and %d commands, want 2xx and 1: %s", canon, rec.Code, len(again), rec.Body)
		}
		if !bytes.Equal(again[0].Fingerprint(), cmd.Fingerprint()) || again[0].IfMatch != cmd.IfMatch {
			t.Fatalf("canonical body %s: got command %+v, want %+v", canon, again[0], cmd)
		}
		if key != "" && again[0].ID != cmd.ID {
			t.Fatalf("canonical body %s with key %q: got command ID %s, want %s", canon, key, again[0].ID, cmd.ID)
		}
	})
}

// serve runs one POST through the handler in process.
func serve(t *testing.T, h http.Handler, path string, body []byte, headers http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://ordo"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("request for %q: %v", path, err)
	}
	req.Header = headers.Clone()
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkProblem checks a refusal: problem+json with a known code, whose
// status is the code's and a client error.
func checkProblem(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("got status %d with Content-Type %q, want application/problem+json", rec.Code, ct)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("got a problem that is not JSON: %v: %s", err, rec.Body)
	}
	kind, known := problems[p.Code]
	switch {
	case !known:
		t.Fatalf("got problem code %q, not in the problem table", p.Code)
	case kind.status != rec.Code || p.Status != rec.Code:
		t.Fatalf("got status %d (document says %d) for code %s, want %d", rec.Code, p.Status, p.Code, kind.status)
	case rec.Code < 400 || rec.Code >= 500:
		t.Fatalf("got status %d for code %s, want a 4xx", rec.Code, p.Code)
	case p.Type != ProblemTypeBase+p.Code:
		t.Fatalf("got type %q for code %s", p.Type, p.Code)
	}
}
