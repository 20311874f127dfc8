package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lockTables takes ACCESS EXCLUSIVE locks on the tables in a transaction of
// its own, as a migration or a stuck maintenance job would: every reader and
// writer of them waits. release rolls the transaction back.
func (e *env) lockTables(tables string) (release func()) {
	e.t.Helper()
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+tables+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		_ = tx.Rollback(ctx)
		e.t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(ctx) }) }
	e.t.Cleanup(release)
	return release
}

// logEndTotal is the number of records produced to the commands topic so far.
func (e *env) logEndTotal() int64 {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), e.opts.CommandsTopic)
	if err != nil {
		e.t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// timed sends a request with its own client timeout and says how long the
// answer took.
func timed(method, url, body string, header map[string]string, timeout time.Duration) (response, time.Duration, error) {
	start := time.Now()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return response{}, 0, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return response{}, time.Since(start), err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	var doc struct {
		CommandID string `json:"command_id"`
		Code      string `json:"code"`
		Status    any    `json:"status"`
	}
	_ = json.Unmarshal(raw, &doc)
	r.CommandID, r.Code = doc.CommandID, doc.Code
	if s, ok := doc.Status.(string); ok {
		r.State = s
	}
	return r, time.Since(start), nil
}

// TestReplyAnswersOnlyItsOwnRequestEndToEnd is issue 11's sequence on one
// instance: a keyed withdrawal of 20 is submitted while its partition is
// stalled and its client gives up; a second request with the same key and
// amount 25 is submitted; the consumer applies the first and refuses the
// second. The second must be answered 422 idempotency_key_reused, not with
// the first's 200.
func TestReplyAnswersOnlyItsOwnRequestEndToEnd(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.WaitBudget = 20 * time.Second
	e.opts.DrainTimeout = e.opts.RequestBound()
	a := e.startAPI()
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 100)

	release := e.lockTables("commands, accounts") // the partition is slow
	before := e.logEndTotal()
	key := map[string]string{"Idempotency-Key": "order-7"}
	if r, _, err := timed("POST", a+"/v1/accounts/alice/withdrawals", `{"amount":20}`, key, time.Second); err == nil {
		t.Fatalf("first request: got %d %s, want its client to give up waiting", r.Status, r.Raw)
	}
	waitFor(t, 10*time.Second, func() bool { return e.logEndTotal() == before+1 })
	second := make(chan response, 1)
	go func() {
		r, took, err := timed("POST", a+"/v1/accounts/alice/withdrawals", `{"amount":25}`, key, 60*time.Second)
		if err != nil {
			t.Errorf("second request: %v", err)
		}
		if took >= e.opts.WaitBudget {
			t.Errorf("second request answered after %s, its whole wait budget: not from its reply", took)
		}
		second <- r
	}()
	waitFor(t, 10*time.Second, func() bool { return e.logEndTotal() == before+2 })
	release()

	r := <-second
	if r.Status != http.StatusUnprocessableEntity || r.Code != "idempotency_key_reused" {
		t.Fatalf("second request (amount 25): got %d %s, want 422 idempotency_key_reused", r.Status, r.Raw)
	}
	if g := do(t, http.MethodGet, a+"/v1/accounts/alice", "", nil); g.Account == nil || g.Account.Balance != 80 {
		t.Fatalf("got %d %s, want balance 80: the first withdrawal applied once", g.Status, g.Raw)
	}
}

// TestStalledPostgresBoundsRequests: with the ledger's tables locked, a
// command is answered 202 within produce timeout + wait budget + read
// timeout, and reads answer 503 with Retry-After within the read timeout
// (the bounds checked carry generous slack: they test liveness, not speed).
// Once the lock is gone, the command applies.
func TestStalledPostgresBoundsRequests(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.WaitBudget = 2 * time.Second
	a := e.startAPI()
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 100)
	release := e.lockTables("commands, accounts")
	slack := 5 * time.Second

	r, took, err := timed("POST", a+"/v1/accounts/alice/deposits", `{"amount":5}`, map[string]string{"Idempotency-Key": "stalled"}, 60*time.Second)
	if err != nil {
		t.Fatalf("POST: %v after %s", err, took)
	}
	if bound := e.opts.RequestBound() + slack; took > bound {
		t.Errorf("POST answered after %s, want within %s", took, bound)
	}
	if r.Status != http.StatusAccepted || r.State != "pending" {
		t.Fatalf("POST: got %d %s, want 202 pending", r.Status, r.Raw)
	}
	for _, path := range []string{"/v1/accounts/alice", "/v1/commands/" + r.CommandID} {
		g, took, err := timed("GET", a+path, "", nil, 60*time.Second)
		if err != nil {
			t.Fatalf("GET %s: %v after %s", path, err, took)
		}
		if bound := apiReadTimeout + slack; took > bound {
			t.Errorf("GET %s answered after %s, want within %s", path, took, bound)
		}
		if g.Status != http.StatusServiceUnavailable || g.Code != "unavailable" || g.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s: got %d %s Retry-After %q, want 503 unavailable with Retry-After", path, g.Status, g.Raw, g.Header.Get("Retry-After"))
		}
	}

	release()
	waitFor(t, 60*time.Second, func() bool {
		g := do(t, http.MethodGet, a+"/v1/commands/"+r.CommandID, "", nil)
		return g.Status == http.StatusOK && g.State == "applied"
	})
}

// TestTinyWaitBudgetAnswers202: the README's example. With a 1us wait
// budget the broker still gets the produce timeout to acknowledge, so the
// answer is 202 with the command's URL, and the command applies.
func TestTinyWaitBudgetAnswers202(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.WaitBudget = time.Microsecond
	a := e.startAPI()
	r := post(t, a+"/v1/accounts", `{"id":"alice","currency":"USD"}`, map[string]string{"Idempotency-Key": "order-8"})
	if r.Status != http.StatusAccepted || r.State != "pending" || r.Header.Get("Location") != "/v1/commands/"+r.CommandID {
		t.Fatalf("got %d %s, want 202 pending with the command's Location", r.Status, r.Raw)
	}
	e.startConsumer()
	waitFor(t, 60*time.Second, func() bool {
		g := do(t, http.MethodGet, a+r.Header.Get("Location"), "", nil)
		return g.Status == http.StatusOK && g.State == "applied"
	})
}

// TestShutdownUnderLoadAnswersInFlight: an API is shut down (its Run
// context ends, as on SIGTERM) in the middle of a bounded load of keyed
// deposits; see loadThroughShutdown for what every request must get.
func TestShutdownUnderLoadAnswersInFlight(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.WaitBudget = 20 * time.Second
	e.opts.DrainTimeout = e.opts.RequestBound() + 5*time.Second
	accounts := e.shutdownSetup()

	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	api, err := NewAPI(ctx, e.opts, e.log)
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- api.Run(ctx) }()
	defer api.Close()
	e.loadThroughShutdown("http://"+api.Addr(), accounts, func() {
		sigterm()
		select {
		case err := <-runDone:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(e.opts.DrainTimeout + 10*time.Second):
			t.Fatal("Run did not return after the drain timeout")
		}
	})
}

// TestSIGTERMUnderLoadAnswersInFlight: the same against an `ordo api`
// process sent SIGTERM, which must then exit 0.
func TestSIGTERMUnderLoadAnswersInFlight(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.WaitBudget = 20 * time.Second
	e.opts.DrainTimeout = e.opts.RequestBound() + 5*time.Second
	accounts := e.shutdownSetup()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(ordoBin, "api",
		"--brokers", strings.Join(e.opts.Brokers, ","), "--database-url", e.opts.DatabaseURL,
		"--commands-topic", e.opts.CommandsTopic, "--replies-topic", e.opts.RepliesTopic, "--events-topic", e.opts.EventsTopic,
		"--partitions", fmt.Sprint(e.opts.Partitions), "--reply-partitions", fmt.Sprint(e.opts.ReplyPartitions),
		"--http-addr", addr, "--wait-budget", e.opts.WaitBudget.String(), "--drain-timeout", e.opts.DrainTimeout.String(),
		"--create-topics", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	url := "http://" + addr
	waitFor(t, 30*time.Second, func() bool {
		res, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	e.loadThroughShutdown(url, accounts, func() {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("ordo api after SIGTERM: %v, want exit 0", err)
			}
		case <-time.After(e.opts.DrainTimeout + 10*time.Second):
			t.Fatal("ordo api did not exit after the drain timeout")
		}
	})
}

// shutdownSetup starts a consumer and opens the accounts the load uses,
// through an API instance of its own.
func (e *env) shutdownSetup() []string {
	e.t.Helper()
	base := e.startAPI()
	e.startConsumer()
	e.waitClaimed()
	accounts := []string{"a0", "a1", "a2", "a3"}
	for _, id := range accounts {
		openAccount(e.t, base, id, 0)
	}
	return accounts
}

// loadThroughShutdown sends a bounded load of keyed deposits to the API at
// url and calls shutdown, which returns once the API has stopped, in the
// middle of it. Every request must end with its outcome, answered from its
// reply (before its wait budget ran out, after which only a fallback read
// would answer), or with a definite refusal before acceptance: 503
// unavailable from the draining server, or a refused connection. A refused
// command was never submitted, and the balances are exactly the deposits
// answered 200.
func (e *env) loadThroughShutdown(url string, accounts []string, shutdown func()) {
	t := e.t
	t.Helper()
	type result struct {
		key, account string
		r            response
		err          error
		sent, took   time.Duration
	}
	const workers, perWorker = 8, 50
	var (
		mu       sync.Mutex
		results  []result
		answered int
		started  = time.Now()
		stopAt   time.Duration // when the shutdown began
	)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				res := result{key: fmt.Sprintf("w%d-%d", w, i), account: accounts[w%len(accounts)], sent: time.Since(started)}
				req, _ := http.NewRequest("POST", url+"/v1/accounts/"+res.account+"/deposits", strings.NewReader(`{"amount":1}`))
				req.Header.Set("Idempotency-Key", res.key)
				req.Header.Set("Authorization", "Bearer "+testAdminKey) // its own transport: no default key
				hr, err := client.Do(req)
				res.took = time.Since(started) - res.sent
				if err != nil {
					res.err = err
				} else {
					raw, _ := io.ReadAll(hr.Body)
					hr.Body.Close()
					res.r = response{Status: hr.StatusCode, Raw: raw}
					var doc struct {
						CommandID string `json:"command_id"`
						Code      string `json:"code"`
					}
					_ = json.Unmarshal(raw, &doc)
					res.r.CommandID, res.r.Code = doc.CommandID, doc.Code
				}
				mu.Lock()
				results = append(results, res)
				if res.err == nil && res.r.Status == http.StatusOK {
					answered++
				}
				mu.Unlock()
				if res.err != nil || res.r.Status != http.StatusOK {
					return // refused (or failed): this worker is done
				}
			}
		}()
	}
	waitFor(t, 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return answered >= workers*5
	})
	mu.Lock()
	stopAt = time.Since(started)
	mu.Unlock()
	shutdown()
	wg.Wait()

	var inFlight, refused, connRefused int
	applied := map[string]int64{}
	for _, res := range results {
		switch {
		case res.err != nil && errors.Is(res.err, syscall.ECONNREFUSED):
			connRefused++
		case res.err != nil:
			t.Errorf("%s: ended without an outcome: %v", res.key, res.err)
		case res.r.Status == http.StatusOK && res.r.CommandID != "":
			applied[res.account]++
			if res.r.CommandID != keyedID(res.account, res.key) {
				t.Errorf("%s: got command ID %s, want %s", res.key, res.r.CommandID, keyedID(res.account, res.key))
			}
			if res.sent < stopAt && res.sent+res.took > stopAt {
				inFlight++
				if res.took >= e.opts.WaitBudget {
					t.Errorf("%s: answered after %s, its whole wait budget: not from its reply", res.key, res.took)
				}
			}
		case res.r.Status == http.StatusServiceUnavailable && res.r.Code == "unavailable" && res.r.CommandID == "":
			refused++
			var n int
			id := keyedID(res.account, res.key)
			if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM commands WHERE command_id = $1`, id).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s: refused, but its command is stored (%d, %v)", res.key, n, err)
			}
		default:
			t.Errorf("%s: ended without an outcome: %d %s", res.key, res.r.Status, res.r.Raw)
		}
	}
	t.Logf("%d requests: %d in flight at shutdown got their outcomes; refused: %d with 503, %d connections", len(results), inFlight, refused, connRefused)
	if inFlight == 0 {
		t.Fatal("no request was in flight at shutdown: the test proved nothing")
	}
	for _, id := range accounts {
		if got, _ := e.balance(id); got != applied[id] {
			t.Errorf("%s: got balance %d, want %d (the deposits answered 200)", id, got, applied[id])
		}
	}
}

// keyedID is the command ID the API derives from an account and an
// Idempotency-Key (api.keyedCommandID).
func keyedID(account, key string) string {
	sum := sha256.Sum256([]byte(account + "\x00" + key))
	return "idem-" + hex.EncodeToString(sum[:16])
}
