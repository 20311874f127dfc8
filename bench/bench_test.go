package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memService is a minimal in-memory implementation of the HTTP contract.
// With doubleApply it applies every keyed retry again: the bug the audit
// must catch.
type memService struct {
	mu          sync.Mutex
	balances    map[string]int64
	seen        map[string]int // idempotency key -> status
	doubleApply bool
	accepted    int // answer the first n load commands 202, applying them
}

func newMem() *memService { return &memService{balances: map[string]int64{}, seen: map[string]int{}} }

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
		var body struct{ ID string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if _, ok := m.balances[body.ID]; ok {
			write(http.StatusConflict, 0)
			return
		}
		m.balances[body.ID] = 0
		write(http.StatusCreated, 0)
	case r.Method == http.MethodGet && len(parts) == 3:
		write(http.StatusOK, m.balances[parts[2]])
	case r.Method == http.MethodPost && len(parts) == 4:
		var body struct{ Amount int64 }
		_ = json.NewDecoder(r.Body).Decode(&body)
		key := r.Header.Get("Idempotency-Key")
		if _, dup := m.seen[key]; dup && key != "" && !m.doubleApply {
			write(http.StatusOK, m.balances[parts[2]])
			return
		}
		if parts[3] == "withdrawals" {
			body.Amount = -body.Amount
		}
		m.balances[parts[2]] += body.Amount
		m.seen[key] = http.StatusOK
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
	for _, want := range []string{"mem", "decided/s", "p999 ms", "audit", "clean", strconv.Itoa(int(res.Requests))} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if !strings.Contains(plot.String(), "<svg") || !strings.Contains(plot.String(), "polyline") {
		t.Errorf("plot has no chart")
	}
}
