package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memService is a minimal in-memory implementation of the HTTP contract.
// With doubleApply it applies every keyed retry again: the bug the audit
// must catch.
type memService struct {
	mu          sync.Mutex
	balances    map[string]int64
	seen        map[string]int64 // idempotency key -> the balance it answered
	doubleApply bool
	accepted    int  // answer the first n load commands 202, applying them
	currentOnce bool // answer a retry with the current balance, not the first answer's
	retries     int  // keyed load commands seen before

	// what the service was sent: account creations and opening deposits
	// (set-up), GETs by account, and accounts sent a load command
	setupRequests int
	gets          map[string]int
	commanded     map[string]bool
}

func newMem() *memService {
	return &memService{balances: map[string]int64{}, seen: map[string]int64{}, gets: map[string]int{}, commanded: map[string]bool{}}
}

// preload gives accounts prefix-0..prefix-(n-1) the balance opening, as
// docs/bench/growth-accounts.sql loads them.
func (m *memService) preload(prefix string, n int, opening int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range n {
		m.balances[fmt.Sprintf("%s-%d", prefix, i)] = opening
	}
}

func (m *memService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/") // v1 accounts {id} {kind}
	write := func(status int, balance int64) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"account":{"balance":%d}}`, balance)
	}
	switch {
	case r.Method == http.MethodPost && len(parts) == 2:
		m.setupRequests++
		var body struct{ ID string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if _, ok := m.balances[body.ID]; ok {
			write(http.StatusConflict, 0)
			return
		}
		m.balances[body.ID] = 0
		write(http.StatusCreated, 0)
	case r.Method == http.MethodGet && len(parts) == 3:
		m.gets[parts[2]]++
		b, ok := m.balances[parts[2]]
		if !ok {
			http.NotFound(w, r)
			return
		}
		write(http.StatusOK, b)
	case r.Method == http.MethodPost && len(parts) == 4:
		var body struct{ Amount int64 }
		_ = json.NewDecoder(r.Body).Decode(&body)
		key := r.Header.Get("Idempotency-Key")
		if strings.HasPrefix(key, "setup-") {
			m.setupRequests++
		} else {
			m.commanded[parts[2]] = true
		}
		first, dup := m.seen[key]
		if dup && !strings.HasPrefix(key, "setup-") {
			m.retries++
		}
		if dup && key != "" && !m.doubleApply {
			if m.currentOnce {
				first = m.balances[parts[2]]
			}
			write(http.StatusOK, first)
			return
		}
		if parts[3] == "withdrawals" {
			body.Amount = -body.Amount
		}
		m.balances[parts[2]] += body.Amount
		m.seen[key] = m.balances[parts[2]]
		if m.accepted > 0 && !strings.HasPrefix(key, "setup-") {
			m.accepted--
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, `{"status":"pending"}`)
			return
		}
		write(http.StatusOK, m.balances[parts[2]])
	default:
		http.NotFound(w, r)
	}
}

func run(t *testing.T, svc http.Handler, cfg Config) *Result {
	t.Helper()
	ts := httptest.NewServer(svc)
	t.Cleanup(ts.Close)
	cfg.URL = ts.URL
	if cfg.Duration == 0 {
		cfg.Duration = 300 * time.Millisecond
	}
	cfg.Workload.Accounts = 20
	cfg.Workload.WithdrawPercent = 50
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestRunAuditsClean(t *testing.T) {
	for _, dist := range []Distribution{Uniform, Hot, Zipf} {
		t.Run(string(dist), func(t *testing.T) {
			res := run(t, newMem(), Config{Clients: 4, Workload: Workload{Dist: dist, HotAccounts: 3}})
			if !res.Audit.OK || res.Applied == 0 || res.Requests != res.Applied {
				t.Fatalf("got audit %+v, %d applied of %d", res.Audit, res.Applied, res.Requests)
			}
			if res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 || len(res.Timeline) == 0 {
				t.Fatalf("got latency %+v and %d timeline points", res.Latency, len(res.Timeline))
			}
		})
	}
}

// TestAuditCatchesDoubleApply: a service that answers 202 and applies again
// on the retry leaves balances that do not match what the clients saw.
func TestAuditCatchesDoubleApply(t *testing.T) {
	svc := newMem()
	svc.doubleApply = true
	svc.accepted = 5
	res := run(t, svc, Config{Clients: 2})
	if res.Audit.OK || res.Audit.Mismatches == 0 || res.Resolved != 5 {
		t.Fatalf("got audit %+v with %d resolved, want mismatches found after resolving 5", res.Audit, res.Resolved)
	}
}

func TestAcceptedAreResolved(t *testing.T) {
	svc := newMem()
	svc.accepted = 5
	res := run(t, svc, Config{Clients: 2})
	if !res.Audit.OK || res.Resolved != 5 || res.Codes["202"] != 5 {
		t.Fatalf("got audit %+v, %d resolved, codes %v; want 5 accepted then resolved, audit clean", res.Audit, res.Resolved, res.Codes)
	}
}

// TestAfterSetup: the hook runs once, after every account has its opening
// balance and before any load command; its error ends the run.
func TestAfterSetup(t *testing.T) {
	svc := newMem()
	calls := 0
	res := run(t, svc, Config{Clients: 2, AfterSetup: func(context.Context) error {
		calls++
		svc.mu.Lock()
		defer svc.mu.Unlock()
		for key := range svc.seen {
			if !strings.HasPrefix(key, "setup-") {
				t.Errorf("load command %s sent before AfterSetup", key)
			}
		}
		if len(svc.balances) != 20 {
			t.Errorf("AfterSetup saw %d accounts, want all 20", len(svc.balances))
		}
		for id, b := range svc.balances {
			if b == 0 {
				t.Errorf("account %s has no opening balance yet", id)
			}
		}
		return nil
	}})
	if calls != 1 || res.Requests == 0 {
		t.Fatalf("AfterSetup called %d times, %d requests; want once, then load", calls, res.Requests)
	}

	ts := httptest.NewServer(newMem())
	t.Cleanup(ts.Close)
	_, err := Run(context.Background(), Config{URL: ts.URL, Duration: time.Second, Workload: Workload{Accounts: 2},
		AfterSetup: func(context.Context) error { return errors.New("analyze failed") }})
	if err == nil || !strings.Contains(err.Error(), "analyze failed") {
		t.Fatalf("got %v, want the hook's error", err)
	}
}

func TestOpenLoopRate(t *testing.T) {
	res := run(t, newMem(), Config{Clients: 8, Rate: 200, Duration: time.Second})
	if res.Mode != "open" || res.Requests < 150 || res.Requests > 200 || !res.Audit.OK {
		t.Fatalf("got %s loop with %d requests (audit %+v), want open with ~200", res.Mode, res.Requests, res.Audit)
	}
}

func TestPickerDistributions(t *testing.T) {
	tests := []struct {
		w       Workload
		maxSeen int // every account index drawn must be below this
		spread  int // at least this many distinct accounts
	}{
		{Workload{Accounts: 100, Dist: Uniform, WithdrawPercent: 50}, 100, 90},
		{Workload{Accounts: 100, Dist: Hot, HotAccounts: 4, WithdrawPercent: 50}, 4, 4},
		{Workload{Accounts: 100, Dist: Zipf, WithdrawPercent: 50}, 100, 10},
	}
	for _, tt := range tests {
		t.Run(string(tt.w.Dist), func(t *testing.T) {
			if err := tt.w.setDefaults(); err != nil {
				t.Fatal(err)
			}
			p := newPicker(&tt.w, 1)
			seen := map[int]int{}
			withdrawals := 0
			for i := 0; i < 5000; i++ {
				c := p.next()
				if c.account < 0 || c.account >= tt.maxSeen || c.amount < 1 || c.amount > tt.w.MaxAmount {
					t.Fatalf("got %+v", c)
				}
				seen[c.account]++
				if c.withdraw {
					withdrawals++
				}
			}
			if len(seen) < tt.spread {
				t.Errorf("got %d distinct accounts, want at least %d", len(seen), tt.spread)
			}
			if withdrawals < 2200 || withdrawals > 2800 {
				t.Errorf("got %d withdrawals of 5000, want about half", withdrawals)
			}
			if tt.w.Dist == Zipf && seen[0] < 5000/10 {
				t.Errorf("zipf: account 0 drawn %d times, want it hot", seen[0])
			}
		})
	}
}

func TestWriteTableAndPlot(t *testing.T) {
	res := run(t, newMem(), Config{Name: "mem", Clients: 2})
	var table, plot strings.Builder
	WriteTable(&table, res)
	if err := WritePlot(&plot, "t", res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mem", "decided/s", "p999 ms", "audit", "clean", strconv.Itoa(int(res.Requests)), "replays", fmt.Sprintf("windows (5s) mem, decided/s: %.0f", res.Windows[0])} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if !strings.Contains(plot.String(), "<svg") || !strings.Contains(plot.String(), "polyline") {
		t.Errorf("plot has no chart")
	}
}

// TestReplays: a share of the requests re-send an earlier command with its
// key; the audit counts its effect once and requires the first answer.
func TestReplays(t *testing.T) {
	for _, tc := range []struct {
		name           string
		svc            func(*memService)
		ok             bool
		replayMismatch bool
		balanceOff     bool
	}{
		{"idempotent service", func(*memService) {}, true, false, false},
		{"retry answered with the current balance", func(m *memService) { m.currentOnce = true }, false, true, false},
		{"retry applied again", func(m *memService) { m.doubleApply = true }, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := newMem()
			tc.svc(svc)
			res := run(t, svc, Config{Clients: 4, ReplayPercent: 20})
			svc.mu.Lock()
			retries := svc.retries
			svc.mu.Unlock()
			if res.Replays == 0 || int64(retries) != res.Replays {
				t.Fatalf("got %d replays reported, %d retries seen by the service; want the same, above 0", res.Replays, retries)
			}
			if share := float64(res.Replays) / float64(res.Requests); share < 0.1 || share > 0.3 {
				t.Errorf("got %d replays of %d requests, want about 20%%", res.Replays, res.Requests)
			}
			if res.Requests != res.Applied+res.Replays {
				t.Errorf("got %d requests, %d applied, %d replays: want requests = applied + replays", res.Requests, res.Applied, res.Replays)
			}
			if res.Audit.OK != tc.ok || (res.Audit.ReplayMismatches > 0) != tc.replayMismatch || (res.Audit.Mismatches > 0) != tc.balanceOff {
				t.Fatalf("got audit %+v, want ok %v, replay mismatches %v, balance mismatches %v", res.Audit, tc.ok, tc.replayMismatch, tc.balanceOff)
			}
		})
	}
}

// TestReplayOfUnknownOutcomeResolved: a replay answered 202 is resolved
// after the run and compared with its original's answer, its effect not
// counted again.
func TestReplayOfUnknownOutcomeResolved(t *testing.T) {
	svc := newMem()
	replaysPending := 3
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		svc.mu.Lock()
		_, dup := svc.seen[key]
		pending := dup && !strings.HasPrefix(key, "setup-") && replaysPending > 0
		if pending {
			replaysPending--
		}
		svc.mu.Unlock()
		if pending {
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, `{"status":"pending"}`)
			return
		}
		svc.ServeHTTP(w, r)
	})
	res := run(t, h, Config{Clients: 2, ReplayPercent: 30})
	if !res.Audit.OK || res.Resolved != 3 || res.Codes["202"] != 3 {
		t.Fatalf("got audit %+v, %d resolved, codes %v; want 3 replays answered 202, resolved, audit clean", res.Audit, res.Resolved, res.Codes)
	}
}

func TestWindows(t *testing.T) {
	pts := func(decided ...int64) []Point {
		var p []Point
		for i, d := range decided {
			p = append(p, Point{Second: i, Decided: d})
		}
		return p
	}
	for _, tc := range []struct {
		name     string
		timeline []Point
		want     []float64
	}{
		{"none", nil, nil},
		{"whole windows", pts(10, 10, 10, 10, 10, 20, 20, 20, 20, 20), []float64{10, 20}},
		{"last window shorter", pts(1, 2, 3, 4, 5, 6, 8), []float64{3, 7}},
		{"cold start", pts(0, 0, 0, 0, 50, 100, 100, 100, 100, 100, 100), []float64{10, 100, 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := windows(tc.timeline, 5); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRunWindows: the run's windows come from the decided commands of its
// timeline, replays excluded.
func TestRunWindows(t *testing.T) {
	res := run(t, newMem(), Config{Clients: 2, Duration: 1200 * time.Millisecond, ReplayPercent: 10})
	var decided int64
	for _, p := range res.Timeline {
		decided += p.Decided
	}
	if decided != res.Applied+res.Rejected || len(res.Windows) != 1 || res.Windows[0] != float64(decided)/float64(len(res.Timeline)) {
		t.Fatalf("got windows %v from %d decided over %d s (%d applied, %d rejected)", res.Windows, decided, len(res.Timeline), res.Applied, res.Rejected)
	}
}

// TestResultJSON: what ordo bench --compare reads back from a generator
// process is what it wrote.
func TestResultJSON(t *testing.T) {
	res := run(t, newMem(), Config{Name: "mem", Clients: 2, ReplayPercent: 10})
	res.Round = 2
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got Result
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	res.net, res.touched = nil, nil
	if !reflect.DeepEqual(&got, res) {
		t.Fatalf("got %+v\nwant %+v", got, *res)
	}
}

func TestTransportChoice(t *testing.T) {
	for _, tc := range []struct {
		transport string
		want      string
	}{
		{"", "*http.Transport"},
		{TransportStd, "*http.Transport"},
		{TransportLean, "*bench.connTransport"},
	} {
		cfg := Config{URL: "http://127.0.0.1:1", Clients: 200, Transport: tc.transport}
		if err := cfg.setDefaults(); err != nil {
			t.Fatal(err)
		}
		tr := newClient(cfg).http.Transport
		if got := fmt.Sprintf("%T", tr); got != tc.want {
			t.Errorf("transport %q: got %s, want %s", tc.transport, got, tc.want)
		}
		if std, ok := tr.(*http.Transport); ok && std.MaxIdleConnsPerHost < cfg.Clients {
			t.Errorf("transport %q: %d idle connections per host, want at least the %d clients", tc.transport, std.MaxIdleConnsPerHost, cfg.Clients)
		}
	}
	cfg := Config{URL: "http://127.0.0.1:1", Transport: "h3"}
	if err := cfg.setDefaults(); err == nil {
		t.Error("transport h3: got no error")
	}
}

// TestStdTransportReusesConnections: with net/http's Transport, the
// clients keep their connections (its default idle pool, 2 per host,
// would open new ones all the time).
func TestStdTransportReusesConnections(t *testing.T) {
	var conns atomic.Int64
	ts := httptest.NewUnstartedServer(newMem())
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	res, err := Run(context.Background(), Config{URL: ts.URL, Clients: 16, Duration: 300 * time.Millisecond, Workload: Workload{Accounts: 20}})
	if err != nil {
		t.Fatal(err)
	}
	// Set-up and audit each have at most 20 requests at once, the load 16.
	if n := conns.Load(); n > 20+16 || res.Requests < 100 {
		t.Fatalf("got %d connections for %d requests, want at most 36", n, res.Requests)
	}
}

// runPreloaded runs a Preloaded load of accounts accounts, opening each,
// against svc, whose accounts the caller preloaded.
func runPreloaded(t *testing.T, svc http.Handler, accounts int, opening int64, cfg Config) *Result {
	t.Helper()
	res, err := tryPreloaded(t, svc, accounts, opening, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// tryPreloaded is runPreloaded returning Run's error.
func tryPreloaded(t *testing.T, svc http.Handler, accounts int, opening int64, cfg Config) (*Result, error) {
	t.Helper()
	ts := httptest.NewServer(svc)
	t.Cleanup(ts.Close)
	cfg.URL, cfg.Preloaded = ts.URL, true
	if cfg.Duration == 0 {
		cfg.Duration = 300 * time.Millisecond
	}
	cfg.Workload.Accounts, cfg.Workload.Opening, cfg.Workload.WithdrawPercent = accounts, opening, 50
	return Run(context.Background(), cfg)
}

// checkedReads is how many GETs of account id the check before a
// preloaded run of accounts accounts sends: one of the first, one of the
// last.
func checkedReads(id string, accounts int) int {
	if id == "bench-0" || id == fmt.Sprintf("bench-%d", accounts-1) {
		return 1
	}
	return 0
}

// TestPreloaded: with the accounts already loaded, set-up sends nothing but
// a read of the first and the last account, and the audit reads exactly the
// accounts the run sent commands to, once each, starting from the opening
// balance.
func TestPreloaded(t *testing.T) {
	svc := newMem()
	svc.preload("bench", 100_000, 5_000)
	res := runPreloaded(t, svc, 100_000, 5_000, Config{Clients: 4, ReplayPercent: 10})
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if svc.setupRequests != 0 {
		t.Errorf("got %d set-up requests, want none", svc.setupRequests)
	}
	audited := 0
	for id, n := range svc.gets {
		n -= checkedReads(id, 100_000)
		want := 0
		if svc.commanded[id] {
			want = 1
		}
		if n != want {
			t.Errorf("audit read %s %d times; commanded %v: want once, only accounts the run commanded", id, n, svc.commanded[id])
		}
		audited += n
	}
	if svc.gets["bench-0"] == 0 || svc.gets["bench-99999"] == 0 {
		t.Errorf("got %d and %d reads of bench-0 and bench-99999, want each checked", svc.gets["bench-0"], svc.gets["bench-99999"])
	}
	if audited != len(svc.commanded) || len(svc.commanded) == 0 || len(svc.commanded) >= 100_000 {
		t.Fatalf("audit read %d accounts, the run commanded %d of 100000: want the same, some, not all", audited, len(svc.commanded))
	}
	if !res.Audit.OK || !res.Preloaded || res.Audit.Accounts != len(svc.commanded) || res.Audit.InPlay != 100_000 {
		t.Fatalf("got audit %+v, preloaded %v; want clean, %d accounts of 100000", res.Audit, res.Preloaded, len(svc.commanded))
	}
	var table strings.Builder
	WriteTable(&table, res)
	if want := fmt.Sprintf("clean (%d touched accounts of 100000)", len(svc.commanded)); !strings.Contains(table.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, table.String())
	}
}

// TestPreloadedAuditCatches: the touched accounts' start is the opening
// balance, so a service that applies retries again, accounts loaded with
// another balance than the run's opening, or accounts not loaded at all
// fail the audit, even when the first and the last account, which the
// check before the run reads, are as loaded.
func TestPreloadedAuditCatches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		loaded int64 // each account's balance as loaded but the first's and the last's (0: not loaded)
		svc    func(*memService)
		want   string // in the audit's examples
	}{
		{"double apply", 5_000, func(m *memService) { m.doubleApply, m.accepted = true, 5 }, "clients saw"},
		{"loaded with another balance", 4_000, func(*memService) {}, "clients saw"},
		{"not loaded", 0, func(*memService) {}, "preloaded: do accounts bench-0..bench-999 exist, each with 5000?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := newMem()
			tc.svc(svc)
			h := http.Handler(svc)
			if tc.loaded > 0 {
				svc.preload("bench", 1000, tc.loaded)
			} else {
				// Ordo refuses commands to an account that does not
				// exist (404); the fake would create it, so here the
				// audit's GETs find no account, as they would in Ordo.
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet && checkedReads(strings.TrimPrefix(r.URL.Path, "/v1/accounts/"), 1000) == 0 {
						http.NotFound(w, r)
						return
					}
					svc.ServeHTTP(w, r)
				})
			}
			svc.mu.Lock()
			svc.balances["bench-0"], svc.balances["bench-999"] = 5_000, 5_000
			svc.mu.Unlock()
			res := runPreloaded(t, h, 1000, 5_000, Config{Clients: 2})
			if res.Audit.OK || res.Audit.Mismatches == 0 || !strings.Contains(strings.Join(res.Audit.Examples, "\n"), tc.want) {
				t.Fatalf("got audit %+v, want it failed with %q", res.Audit, tc.want)
			}
		})
	}
}

// TestPreloadedCheck: before a preloaded run sends any command, it reads
// the first and the last account in play; if either is missing or has
// another balance than the opening, or the read fails, Run returns an
// error at once, naming the account and what was found.
func TestPreloadedCheck(t *testing.T) {
	serverError := func(svc *memService) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `{"code":"internal"}`)
				return
			}
			svc.ServeHTTP(w, r)
		})
	}
	for _, tc := range []struct {
		name    string
		load    func(*memService)
		handler func(*memService) http.Handler // nil: the fake itself
		dist    Distribution
		ok      bool
		preload bool     // the error is errNotPreloaded
		want    []string // in the error
	}{
		{"none loaded", func(*memService) {}, nil, Uniform, false, true,
			[]string{"account bench-0: status 404", "bench-0..bench-999", "5000", "docs/bench/growth-accounts.sql", "docs/bench/growth.sh"}},
		{"last with another balance", func(m *memService) { m.preload("bench", 1000, 5_000); m.balances["bench-999"] = 4_000 }, nil, Uniform, false, true,
			[]string{"account bench-999: balance 4000", "5000", "docs/bench/growth-accounts.sql"}},
		{"loaded with another opening", func(m *memService) { m.preload("bench", 1000, 4_000) }, nil, Uniform, false, true,
			[]string{"account bench-0: balance 4000", "5000"}},
		{"read fails", func(m *memService) { m.preload("bench", 1000, 5_000) }, serverError, Uniform, false, false,
			[]string{"GET account bench-0: status 500 internal"}},
		{"hot: the last hot account", func(m *memService) { m.preload("bench", 3, 5_000) }, nil, Hot, true, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := newMem()
			tc.load(svc)
			h := http.Handler(svc)
			if tc.handler != nil {
				h = tc.handler(svc)
			}
			cfg := Config{Clients: 2, Duration: 3 * time.Second, Workload: Workload{Dist: tc.dist, HotAccounts: 3}}
			if tc.ok {
				cfg.Duration = 300 * time.Millisecond
			}
			began := time.Now()
			res, err := tryPreloaded(t, h, 1000, 5_000, cfg)
			elapsed := time.Since(began)
			svc.mu.Lock()
			defer svc.mu.Unlock()
			if tc.ok {
				if err != nil || !res.Audit.OK {
					t.Fatalf("got %v, want a clean run", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got a run (audit %+v) after %v, want an error before the load", res.Audit, elapsed)
			}
			if errors.Is(err, errNotPreloaded) != tc.preload {
				t.Errorf("got %v: errors.Is(err, errNotPreloaded) = %v, want %v", err, !tc.preload, tc.preload)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to hold %q", err, w)
				}
			}
			if len(svc.commanded) != 0 || svc.setupRequests != 0 || elapsed >= cfg.Duration {
				t.Errorf("got %d accounts commanded, %d set-up requests, error after %v: want none, none, before the %v load", len(svc.commanded), svc.setupRequests, elapsed, cfg.Duration)
			}
		})
	}
}

// TestAuditRetriesUnavailable: a read answered 503 (the database did not
// serve it in time) is read again, not counted as a failed audit.
func TestAuditRetriesUnavailable(t *testing.T) {
	svc := newMem()
	svc.preload("bench", 1000, 5_000)
	var mu sync.Mutex
	refused := map[string]bool{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			mu.Lock()
			first := !refused[r.URL.Path]
			refused[r.URL.Path] = true
			mu.Unlock()
			if first {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `{"code":"unavailable"}`)
				return
			}
		}
		svc.ServeHTTP(w, r)
	})
	res := runPreloaded(t, h, 1000, 5_000, Config{Clients: 2})
	// Read: the accounts the run touched, and the first and the last
	// (the check before the run).
	read := res.Audit.Accounts
	svc.mu.Lock()
	for _, id := range []string{"bench-0", "bench-999"} {
		if !svc.commanded[id] {
			read++
		}
	}
	svc.mu.Unlock()
	if !res.Audit.OK || res.Audit.Accounts == 0 || len(refused) != read {
		t.Fatalf("got audit %+v after %d reads refused once, want clean, each of %d accounts read again", res.Audit, len(refused), read)
	}
}

// TestPreloadedCheckUnreachable: a preloaded run against a service that
// does not answer at all ends within the check's timeout, not after the
// minute that reads retry for.
func TestPreloadedCheckUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	old := preloadedCheckTimeout
	preloadedCheckTimeout = 500 * time.Millisecond
	t.Cleanup(func() { preloadedCheckTimeout = old })
	began := time.Now()
	_, err = Run(context.Background(), Config{URL: url, Preloaded: true, Clients: 2, Duration: time.Minute,
		Workload: Workload{Accounts: 10, Opening: 5_000, WithdrawPercent: 50}})
	if err == nil || !strings.Contains(err.Error(), "GET account bench-0") {
		t.Fatalf("got %v, want the check's error naming bench-0", err)
	}
	if elapsed := time.Since(began); elapsed > 20*time.Second {
		t.Fatalf("failed after %v, want within the check's timeout", elapsed)
	}
}
