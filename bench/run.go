package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Config configures one load run.
type Config struct {
	Name string // label in reports, e.g. "ordo"
	URL  string // base URL of the service, e.g. http://127.0.0.1:8080
	// Clients: closed loop, the number of concurrent clients; open loop,
	// the most requests in flight. Default 64.
	Clients int
	// Rate > 0 runs an open loop at this many requests per second.
	Rate float64
	// Duration of the measured run. Default 30s.
	Duration time.Duration
	// Timeout of one request. Default 30s.
	Timeout  time.Duration
	Workload Workload
	// Progress receives a live progress line every second; nil for none.
	Progress io.Writer
	// RunID prefixes the Idempotency-Keys. Default: derived from the clock.
	RunID string
	// AfterSetup, if set, runs once the accounts are set up and before the
	// load starts; an error ends the run. ordo bench --compare analyzes the
	// system's database here, as any database in service has been.
	AfterSetup func(context.Context) error
}

func (c *Config) setDefaults() error {
	if c.URL == "" {
		return errors.New("bench: a URL is required")
	}
	c.URL = strings.TrimRight(c.URL, "/")
	if c.Name == "" {
		c.Name = c.URL
	}
	if c.Clients <= 0 {
		c.Clients = 64
	}
	if c.Duration <= 0 {
		c.Duration = 30 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.RunID == "" {
		c.RunID = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if c.Rate < 0 {
		return errors.New("bench: rate must not be negative")
	}
	return c.Workload.setDefaults()
}

// Run sets the workload's accounts up, runs the load, resolves the requests
// whose outcome was unknown and audits the balances.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	cl := newClient(cfg)
	start, err := setup(ctx, cl, &cfg.Workload)
	if err != nil {
		return nil, fmt.Errorf("bench setup against %s: %w", cfg.URL, err)
	}
	if cfg.AfterSetup != nil {
		if err := cfg.AfterSetup(ctx); err != nil {
			return nil, fmt.Errorf("bench after setup of %s: %w", cfg.URL, err)
		}
	}
	res := load(ctx, cl, cfg)
	audit(ctx, cl, &cfg.Workload, start, res)
	return res, nil
}

// client sends the contract's requests.
type client struct {
	base string
	http *http.Client
}

func newClient(cfg Config) *client {
	tr := newConnTransport(max(cfg.Clients, 64) * 2)
	return &client{base: cfg.URL, http: &http.Client{Transport: tr, Timeout: cfg.Timeout}}
}

type answer struct {
	status  int
	code    string
	balance int64
	applied bool
	decided bool // applied, or rejected for a business reason
}

func (c *client) send(ctx context.Context, path, body, key string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return c.do(req)
}

func (c *client) do(req *http.Request) (answer, error) {
	res, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: res.StatusCode}
	var doc struct {
		Code    string `json:"code"`
		Account *struct {
			Balance int64 `json:"balance"`
		} `json:"account"`
	}
	_ = json.Unmarshal(raw, &doc)
	a.code = doc.Code
	if doc.Account != nil {
		a.balance = doc.Account.Balance
	}
	switch {
	case res.StatusCode == http.StatusOK || res.StatusCode == http.StatusCreated:
		a.applied, a.decided = true, true
	case res.StatusCode == http.StatusUnprocessableEntity && a.code == "insufficient_funds":
		a.decided = true
	}
	return a, nil
}

func (c *client) balance(ctx context.Context, id string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/accounts/"+id, nil)
	if err != nil {
		return 0, err
	}
	a, err := c.do(req)
	if err != nil {
		return 0, err
	}
	if a.status != http.StatusOK {
		return 0, fmt.Errorf("GET account %s: status %d", id, a.status)
	}
	return a.balance, nil
}

// decide sends a keyed command until it is decided, resending it with the
// same key after a 202 or an error, until deadline.
func (c *client) decide(ctx context.Context, deadline time.Time, path, body, key string) (answer, error) {
	for {
		a, err := c.send(ctx, path, body, key)
		if err == nil && a.decided {
			return a, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return a, fmt.Errorf("not decided before the deadline (last: %v, status %d)", err, a.status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// setup creates the accounts in play (an existing account is fine) with the
// opening balance, and returns every account's balance before the run.
func setup(ctx context.Context, cl *client, w *Workload) ([]int64, error) {
	n := w.accountsInPlay()
	start := make([]int64, n)
	err := parallel(ctx, n, 64, func(i int) error {
		id := w.accountID(i)
		a, err := cl.send(ctx, "/v1/accounts", fmt.Sprintf(`{"id":%q,"currency":"USD"}`, id), "")
		if err != nil {
			return err
		}
		if a.status == http.StatusCreated {
			a, err := cl.decide(ctx, time.Now().Add(time.Minute), "/v1/accounts/"+id+"/deposits", fmt.Sprintf(`{"amount":%d}`, w.Opening), "setup-"+id)
			if err == nil && !a.applied {
				err = fmt.Errorf("refused: status %d %s", a.status, a.code)
			}
			if err != nil {
				return fmt.Errorf("opening deposit to %s: %w", id, err)
			}
		} else if a.status != http.StatusConflict {
			return fmt.Errorf("create %s: status %d %s", id, a.status, a.code)
		}
		b, err := cl.balance(ctx, id)
		start[i] = b
		return err
	})
	return start, err
}

// parallel runs fn(0..n-1) on workers goroutines, stopping at the first error.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// pendingCmd is a request whose outcome the run did not learn.
type pendingCmd struct {
	cmd command
	key string
}

// worker is one client's private tallies, merged after the run.
type worker struct {
	hist     *hdrhistogram.Histogram
	timeline []*hdrhistogram.Histogram // per second of the run
	codes    map[string]int64
	net      map[int]int64 // applied change per account
	pending  []pendingCmd
	applied  int64
	rejected int64
	errors   int64
	requests int64
}

func newWorker() *worker {
	return &worker{hist: newHist(), codes: map[string]int64{}, net: map[int]int64{}}
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 120_000_000, 3) } // 1µs..120s

func (w *worker) record(began time.Time, t0 time.Time, c command, key string, a answer, err error) {
	lat := time.Since(began).Microseconds()
	w.requests++
	_ = w.hist.RecordValue(lat)
	sec := int(began.Sub(t0) / time.Second)
	for len(w.timeline) <= sec {
		w.timeline = append(w.timeline, hdrhistogram.New(1, 120_000_000, 2))
	}
	if sec >= 0 {
		_ = w.timeline[sec].RecordValue(lat)
	}
	switch {
	case err != nil:
		w.errors++
		w.codes["transport_error"]++
		w.pending = append(w.pending, pendingCmd{c, key})
	case a.applied:
		w.applied++
		w.codes[strconv.Itoa(a.status)]++
		w.net[c.account] += signed(c)
	case a.decided:
		w.rejected++
		w.codes[strconv.Itoa(a.status)+" "+a.code]++
	default:
		if a.status != http.StatusAccepted {
			w.errors++
		}
		w.codes[strings.TrimSpace(strconv.Itoa(a.status)+" "+a.code)]++
		w.pending = append(w.pending, pendingCmd{c, key})
	}
}

func signed(c command) int64 {
	if c.withdraw {
		return -c.amount
	}
	return c.amount
}

func (c command) request() (path, body string) {
	kind := "deposits"
	if c.withdraw {
		kind = "withdrawals"
	}
	return kind, `{"amount":` + strconv.FormatInt(c.amount, 10) + `}`
}

func load(ctx context.Context, cl *client, cfg Config) *Result {
	w := &cfg.Workload
	workers := make([]*worker, cfg.Clients)
	var (
		wg       sync.WaitGroup
		done     atomic.Int64
		t0       = time.Now()
		deadline = t0.Add(cfg.Duration)
	)
	runCtx, cancel := context.WithDeadline(ctx, deadline.Add(cfg.Timeout))
	defer cancel()
	send := func(wk *worker, id int, seq int, c command, scheduled time.Time) {
		kind, body := c.request()
		key := fmt.Sprintf("%s-%d-%d", cfg.RunID, id, seq)
		a, err := cl.send(runCtx, "/v1/accounts/"+w.accountID(c.account)+"/"+kind, body, key)
		wk.record(scheduled, t0, c, key, a, err)
		done.Add(1)
	}

	stopProgress := progress(cfg, t0, &done)
	// Closed loop: each client sends its next request when the last is
	// answered, until the deadline.
	loop := func(wk *worker, id int, p *picker) {
		for seq := 0; time.Now().Before(deadline) && runCtx.Err() == nil; seq++ {
			send(wk, id, seq, p.next(), time.Now())
		}
	}
	if cfg.Rate > 0 {
		// Open loop: arrivals are scheduled at a fixed rate whatever the
		// service does; latency counts from the scheduled time.
		type arrival struct {
			at  time.Time
			seq int
		}
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		total := int(cfg.Duration / interval)
		arrivals := make(chan arrival, 1024)
		go func() {
			defer close(arrivals)
			for i := 0; i < total; i++ {
				select {
				case arrivals <- arrival{t0.Add(time.Duration(i) * interval), i}:
				case <-runCtx.Done():
					return
				}
			}
		}()
		loop = func(wk *worker, id int, p *picker) {
			for a := range arrivals {
				if d := time.Until(a.at); d > 0 {
					time.Sleep(d)
				}
				send(wk, id, a.seq, p.next(), a.at)
			}
		}
	}
	for i := range workers {
		workers[i] = newWorker()
		wg.Add(1)
		go func(id int, wk *worker) {
			defer wg.Done()
			loop(wk, id, newPicker(w, uint64(id)+1))
		}(i, workers[i])
	}
	wg.Wait()
	elapsed := time.Since(t0)
	stopProgress()
	res := merge(cfg, workers, elapsed)
	resolve(ctx, cl, cfg, workers, res)
	return res
}

// resolve learns the outcome of every request the run did not: it sends
// each again with its Idempotency-Key until it is decided (at most a minute).
func resolve(ctx context.Context, cl *client, cfg Config, workers []*worker, res *Result) {
	deadline := time.Now().Add(time.Minute)
	for _, wk := range workers {
		for _, p := range wk.pending {
			kind, body := p.cmd.request()
			a, err := cl.decide(ctx, deadline, "/v1/accounts/"+cfg.Workload.accountID(p.cmd.account)+"/"+kind, body, p.key)
			if err != nil {
				res.Audit.Unresolved++
				continue
			}
			if a.applied {
				res.net[p.cmd.account] += signed(p.cmd)
			}
			res.Resolved++
		}
	}
}

func progress(cfg Config, t0 time.Time, done *atomic.Int64) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last int64
		for {
			select {
			case <-quit:
				fmt.Fprintln(cfg.Progress)
				return
			case <-tick.C:
			}
			el := time.Since(t0)
			n := done.Load()
			frac := float64(el) / float64(cfg.Duration)
			if frac > 1 {
				frac = 1
			}
			const width = 30
			bar := strings.Repeat("=", int(frac*width)) + strings.Repeat(" ", width-int(frac*width))
			fmt.Fprintf(cfg.Progress, "\r%-10s [%s] %3.0fs/%.0fs  %7d req/s  %9d done", cfg.Name, bar, el.Seconds(), cfg.Duration.Seconds(), n-last, n)
			last = n
		}
	}()
	return func() { close(quit); <-finished }
}
