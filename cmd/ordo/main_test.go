package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-dev/ordo/apikey"
	"github.com/ordo-dev/ordo/internal/testinfra"
)

// The system tests share one Postgres and one broker; each test gets its
// own database, topics and consumer group.
var (
	pg      *testinfra.Postgres
	kafka   *testinfra.Kafka
	ordoBin string // the ordo binary, for tests that kill processes
	testSeq atomic.Int64
	verbose = os.Getenv("ORDO_TEST_LOG") != ""
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var err error
	if pg, err = testinfra.StartPostgres(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "system tests need Postgres:", err)
		return 1
	}
	defer pg.Close()
	if kafka, err = testinfra.StartKafka(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "system tests need a Kafka broker:", err)
		return 1
	}
	defer kafka.Close()
	dir, err := os.MkdirTemp("", "ordo-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Requests carry the test admin key unless they set Authorization
	// themselves: the API runs with authentication on, as in production.
	plainTransport = http.DefaultTransport
	http.DefaultTransport = testKeyTransport{plainTransport}
	ordoBin = filepath.Join(dir, "ordo")
	if out, err := exec.Command("go", "build", "-o", ordoBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ordo: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// env is one test's isolated slice of the system.
type env struct {
	t    *testing.T
	opts Options
	pool *pgxpool.Pool // for audits
	log  *slog.Logger
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	n := testSeq.Add(1)
	o := defaultOptions()
	o.Brokers = kafka.Brokers
	o.DatabaseURL = pg.NewDatabase(t)
	o.Partitions = partitions
	o.ReplyPartitions = 4
	o.CreateTopics = true
	o.CommandsTopic = fmt.Sprintf("t%d.commands", n)
	o.RepliesTopic = fmt.Sprintf("t%d.replies", n)
	o.EventsTopic = fmt.Sprintf("t%d.events", n)
	o.Group = fmt.Sprintf("t%d.group", n)
	o.HTTPAddr = "127.0.0.1:0"
	o.SessionTimeout = 6 * time.Second
	o.Heartbeat = 500 * time.Millisecond
	o.WaitBudget = 5 * time.Second
	o.DBMaxConns = 8
	log := testLogger(t)
	ctx := context.Background()
	if err := migrate(ctx, o.DatabaseURL, log); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, o.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `INSERT INTO api_keys (id, name, scope, secret_hash) VALUES ($1, 'tests', 'admin', $2)`, testAdminKeyID, testAdminKeyHash()); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, opts: o, pool: pool, log: log}
}

// The API key every test database holds (admin, every account), sent by
// testKeyTransport with requests that carry no Authorization header.
const (
	testAdminKeyID = "7e57000000000001"
	testAdminKey   = apikey.Prefix + testAdminKeyID + "_tests-only-admin-secret-never-used-elsewhere"
)

// testAdminKeyHash is the test key's hash, computed once.
var testAdminKeyHash = sync.OnceValue(func() string {
	_, secret, err := apikey.Parse(testAdminKey)
	if err != nil {
		panic(err)
	}
	h, err := apikey.Hash(secret)
	if err != nil {
		panic(err)
	}
	return h
})

// plainTransport is http.DefaultTransport as it was: without the test key,
// for tests of authentication.
var plainTransport http.RoundTripper

// testKeyTransport adds the test admin key to requests without an
// Authorization header. TestMain installs it as http.DefaultTransport, so
// every client that does not bring its own transport (httpClient, do,
// post, http.Get, client.New) sends it. A request whose Authorization is
// set to "" goes without one: do(t, "GET", url, "", noKey).
type testKeyTransport struct{ next http.RoundTripper }

func (t testKeyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if v, set := r.Header["Authorization"]; !set || len(v) == 0 || v[0] == "" {
		r = r.Clone(r.Context())
		if set {
			r.Header.Del("Authorization")
		} else {
			r.Header.Set("Authorization", "Bearer "+testAdminKey)
		}
	}
	return t.next.RoundTrip(r)
}

// noKey is the header of a request sent without an API key.
var noKey = map[string]string{"Authorization": ""}

// withKey is the header of a request sent with the API key token.
func withKey(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// testLogger logs warnings (everything from info with ORDO_TEST_LOG set).
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("test", t.Name())
}

// startAPI runs an API instance until the test ends; it returns its URL.
func (e *env) startAPI() string {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := NewAPI(ctx, e.opts, e.log)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done; a.Close() })
	return "http://" + a.Addr()
}

// startConsumer runs an in-process consumer; stop leaves the group.
func (e *env) startConsumer() (c *Consumer, stop func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := NewConsumer(ctx, e.opts, e.log)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	var stopped atomic.Bool
	stop = func() {
		if stopped.CompareAndSwap(false, true) {
			cancel()
			c.Close()
			<-done
		}
	}
	e.t.Cleanup(stop)
	return c, stop
}

// startConsumerProcess runs `ordo consumer` as a child process.
func (e *env) startConsumerProcess() *exec.Cmd {
	e.t.Helper()
	cmd := exec.Command(ordoBin, "consumer",
		"--brokers", strings.Join(e.opts.Brokers, ","),
		"--database-url", e.opts.DatabaseURL,
		"--commands-topic", e.opts.CommandsTopic, "--replies-topic", e.opts.RepliesTopic, "--events-topic", e.opts.EventsTopic,
		"--partitions", fmt.Sprint(e.opts.Partitions), "--reply-partitions", fmt.Sprint(e.opts.ReplyPartitions),
		"--group", e.opts.Group, "--session-timeout", e.opts.SessionTimeout.String(),
		"--heartbeat-interval", e.opts.Heartbeat.String(), "--ops-addr", "127.0.0.1:0", "--create-topics", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return cmd
}

// waitClaimed waits until every partition has been claimed at least once.
func (e *env) waitClaimed() {
	e.t.Helper()
	waitFor(e.t, 60*time.Second, func() bool {
		var n int
		err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM consumer_partitions WHERE topic = $1`, e.opts.CommandsTopic).Scan(&n)
		return err == nil && n == e.opts.Partitions
	})
}

// concurrently runs fn(0), ..., fn(n-1) at once and waits for all of them.
func concurrently(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// response is a decoded JSON answer: a command response or a problem.
type response struct {
	Status    int
	CommandID string          `json:"command_id"`
	State     string          `json:"status"`
	Code      string          `json:"code"`
	Field     string          `json:"field"`
	Account   *accountPayload `json:"account"`
	Header    http.Header
	Raw       []byte
}

// status collides with the problem document's numeric "status"; decode the
// state separately.
type accountPayload struct {
	ID        string `json:"id"`
	Balance   int64  `json:"balance"`
	Available int64  `json:"available"`
	Version   int64  `json:"version"`
}

func do(t testing.TB, method, url, body string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	var doc map[string]json.RawMessage
	if json.Unmarshal(raw, &doc) == nil {
		_ = json.Unmarshal(doc["command_id"], &r.CommandID)
		_ = json.Unmarshal(doc["code"], &r.Code)
		_ = json.Unmarshal(doc["field"], &r.Field)
		if s, ok := doc["status"]; ok && len(s) > 0 && s[0] == '"' {
			_ = json.Unmarshal(s, &r.State)
		}
		if a, ok := doc["account"]; ok {
			r.Account = new(accountPayload)
			_ = json.Unmarshal(a, r.Account)
		}
	}
	return r
}

func post(t testing.TB, url, body string, header map[string]string) response {
	t.Helper()
	return do(t, http.MethodPost, url, body, header)
}

func openAccount(t *testing.T, base, id string, deposit int64) {
	t.Helper()
	if r := post(t, base+"/v1/accounts", fmt.Sprintf(`{"id":%q,"currency":"USD"}`, id), nil); r.Status != http.StatusCreated {
		t.Fatalf("open %s: got %d %s, want 201", id, r.Status, r.Raw)
	}
	if deposit > 0 {
		if r := post(t, base+"/v1/accounts/"+id+"/deposits", fmt.Sprintf(`{"amount":%d}`, deposit), nil); r.Status != http.StatusOK {
			t.Fatalf("deposit to %s: got %d %s, want 200", id, r.Status, r.Raw)
		}
	}
}

// decided sends a keyed command until it is decided: a 202 or a transport
// error is retried with the same Idempotency-Key, bounded by deadline.
func decided(t testing.TB, url, body, key string, deadline time.Time) response {
	t.Helper()
	for {
		r, err := tryPost(url, body, key)
		if err == nil && r.Status != http.StatusAccepted && r.Status != http.StatusServiceUnavailable {
			return r
		}
		if time.Now().After(deadline) {
			t.Errorf("command %s not decided before the deadline (last: %v %d %s)", key, err, r.Status, r.Raw)
			return r
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tryPost(url, body, key string) (response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Idempotency-Key", key)
	res, err := httpClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	var doc struct {
		CommandID string          `json:"command_id"`
		Code      string          `json:"code"`
		Account   *accountPayload `json:"account"`
	}
	_ = json.Unmarshal(raw, &doc)
	r.CommandID, r.Code, r.Account = doc.CommandID, doc.Code, doc.Account
	return r, nil
}
