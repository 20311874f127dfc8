package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
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
	// Transport is the HTTP client's transport: TransportStd (the
	// default), Go's net/http Transport with an idle pool as large as the
	// clients, as a well-configured service client has; or TransportLean,
	// connTransport, which takes less of a machine the generator shares
	// with what it measures.
	Transport string
	// ReplayPercent of the load requests (0-100; default 0) re-send an
	// earlier command of the same client, its exact body and
	// Idempotency-Key, as a client whose answer got lost does. A replay
	// must get the original's answer, and its effect counts once.
	ReplayPercent int
	// AfterSetup, if set, runs once the accounts are set up and before the
	// load starts; an error ends the run. ordo bench --compare --analyze
	// analyzes the system's database here.
	AfterSetup func(context.Context) error
	// Preloaded says the workload's accounts already exist, each with
	// exactly Workload.Opening and nothing else (loaded in bulk, e.g. by
	// docs/bench/growth-accounts.sql): set-up only reads the first and the
	// last account in play, and Run returns an error before any command if
	// either is missing or has another balance; the audit reads only the
	// accounts the run touched, their balance before the run being
	// Workload.Opening. For a million accounts, setting up and auditing
	// through the API would take millions of requests.
	Preloaded bool
}

// The transports of Config.Transport.
const (
	TransportStd  = "std"  // net/http's Transport
	TransportLean = "lean" // connTransport
)

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
	switch c.Transport {
	case "":
		c.Transport = TransportStd
	case TransportStd, TransportLean:
	default:
		return fmt.Errorf("bench: transport %q: want %s or %s", c.Transport, TransportStd, TransportLean)
	}
	if c.ReplayPercent < 0 || c.ReplayPercent > 100 {
		return fmt.Errorf("bench: replay percent %d: want 0-100", c.ReplayPercent)
	}
	return c.Workload.setDefaults()
}

// Run sets the workload's accounts up (with Config.Preloaded, checks them),
// runs the load, resolves the requests whose outcome was unknown and audits
// the balances.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	cl := newClient(cfg)
	var start []int64 // nil: preloaded, every account at Workload.Opening
	if cfg.Preloaded {
		if err := checkPreloaded(ctx, cl, &cfg.Workload); err != nil {
			return nil, fmt.Errorf("bench preloaded check against %s: %w", cfg.URL, err)
		}
	} else {
		var err error
		if start, err = setup(ctx, cl, &cfg.Workload); err != nil {
			return nil, fmt.Errorf("bench setup against %s: %w", cfg.URL, err)
		}
	}
	if cfg.AfterSetup != nil {
		if err := cfg.AfterSetup(ctx); err != nil {
			return nil, fmt.Errorf("bench after setup of %s: %w", cfg.URL, err)
		}
	}
	res := load(ctx, cl, cfg)
	res.Preloaded = cfg.Preloaded
	audit(ctx, cl, &cfg.Workload, start, res)
	return res, nil
}

// client sends the contract's requests.
type client struct {
	base string
	http *http.Client
}

func newClient(cfg Config) *client {
	// Set-up runs 64 requests at once, the load Clients: every connection
	// goes back to the pool.
	idle := max(cfg.Clients, 64)
	var tr http.RoundTripper
	if cfg.Transport == TransportLean {
		tr = newConnTransport(idle * 2)
	} else {
		tr = stdTransport(idle)
	}
	return &client{base: cfg.URL, http: &http.Client{Transport: tr, Timeout: cfg.Timeout}}
}

// stdTransport is net/http's Transport as a service's client would set it
// up: http.DefaultTransport's settings, with up to maxIdle idle keep-alive
// connections per host (the default keeps 2) so that concurrent clients
// reuse their connections instead of opening new ones.
func stdTransport(maxIdle int) *http.Transport {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxIdle * 2,
		MaxIdleConnsPerHost:   maxIdle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
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

// statusError is an answer with a status the request did not expect.
type statusError struct {
	status int
	code   string // the problem's code, if any
}

func (e *statusError) Error() string {
	return strings.TrimSpace(fmt.Sprintf("status %d %s", e.status, e.code))
}

// balance reads an account's balance. A 503 (Ordo's answer to a read the
// database did not serve in time) or a transport error is retried, as a
// client would, for up to a minute; any other status is a *statusError.
func (c *client) balance(ctx context.Context, id string) (int64, error) {
	deadline := time.Now().Add(time.Minute)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/accounts/"+id, nil)
		if err != nil {
			return 0, err
		}
		a, err := c.do(req)
		switch {
		case err == nil && a.status == http.StatusOK:
			return a.balance, nil
		case err == nil && a.status != http.StatusServiceUnavailable:
			return 0, fmt.Errorf("GET account %s: %w", id, &statusError{a.status, a.code})
		case time.Now().After(deadline) || ctx.Err() != nil:
			if err != nil {
				return 0, fmt.Errorf("GET account %s: %w", id, err)
			}
			return 0, fmt.Errorf("GET account %s: status %d until the deadline", id, a.status)
		}
		time.Sleep(wait)
	}
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

// errNotPreloaded: with Config.Preloaded, an account checked before the
// run is missing or has another balance than Workload.Opening.
var errNotPreloaded = errors.New("accounts not preloaded")

// preloadedCheckTimeout bounds checkPreloaded's reads (a variable for the
// tests).
var preloadedCheckTimeout = 10 * time.Second

// checkPreloaded reads the first and the last account in play, which with
// Config.Preloaded must exist, each with exactly w.Opening, so that a run
// against accounts never loaded ends before its load, not after a load of
// refused commands and a failed audit.
func checkPreloaded(ctx context.Context, cl *client, w *Workload) error {
	// A service that does not answer at all fails here in seconds, not
	// after balance's minute of retries.
	ctx, cancel := context.WithTimeout(ctx, preloadedCheckTimeout)
	defer cancel()
	n := w.accountsInPlay()
	for _, i := range slices.Compact([]int{0, n - 1}) {
		id := w.accountID(i)
		b, err := cl.balance(ctx, id)
		var found string
		var se *statusError
		switch {
		case errors.As(err, &se) && se.status == http.StatusNotFound:
			found = se.Error()
		case err != nil:
			return err
		case b != w.Opening:
			found = fmt.Sprintf("balance %d", b)
		default:
			continue
		}
		return fmt.Errorf("%w: account %s: %s; want accounts %s..%s, each with exactly %d (the opening balance), "+
			"loaded before the run by docs/bench/growth-accounts.sql into a freshly migrated database (docs/bench/growth.sh shows how)",
			errNotPreloaded, id, found, w.accountID(0), w.accountID(n-1), w.Opening)
	}
	return nil
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

// pendingCmd is a request whose outcome the run did not learn. A replay's
// outcome must be the original's answer, orig; its effect is the original's.
type pendingCmd struct {
	cmd  command
	key  string
	orig *answer // a replay's original answer; nil for a first sending
}

// sentCmd is a decided command a client may replay.
type sentCmd struct {
	cmd command
	key string
	ans answer
}

// replayable is how many of its latest decided commands a client may replay.
const replayable = 64

// worker is one client's private tallies, merged after the run.
type worker struct {
	hist     *hdrhistogram.Histogram
	timeline []*hdrhistogram.Histogram // per second of the run
	decided  []int64                   // decided first sendings per second of the run
	codes    map[string]int64
	net      map[int]int64 // applied change per account
	touched  map[int]bool  // accounts sent a command (first sendings)
	pending  []pendingCmd
	applied  int64
	rejected int64
	errors   int64
	requests int64

	recent          []sentCmd // ring of the latest decided commands
	next            int       // next slot of recent to overwrite once full
	replays         int64
	replayMismatch  int
	replayExamples  []string
	replayRng       *rand.Rand
	replayThreshold int // replay when replayRng draws below it (of 100)
}

func newWorker(seed uint64, replayPercent int) *worker {
	return &worker{
		hist: newHist(), codes: map[string]int64{}, net: map[int]int64{}, touched: map[int]bool{},
		replayRng: rand.New(rand.NewPCG(seed, 0x7265706c)), replayThreshold: replayPercent,
	}
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 120_000_000, 3) } // 1µs..120s

// replay returns an earlier decided command to send again, or false for a
// new command.
func (w *worker) replay() (sentCmd, bool) {
	if w.replayThreshold <= 0 || len(w.recent) == 0 || w.replayRng.IntN(100) >= w.replayThreshold {
		return sentCmd{}, false
	}
	return w.recent[w.replayRng.IntN(len(w.recent))], true
}

func (w *worker) remember(c command, key string, a answer) {
	if w.replayThreshold <= 0 {
		return
	}
	s := sentCmd{c, key, a}
	if len(w.recent) < replayable {
		w.recent = append(w.recent, s)
		return
	}
	w.recent[w.next] = s
	w.next = (w.next + 1) % replayable
}

// observe records a request's latency in the run's histograms, by the
// second of the run it began in, and returns that second.
func (w *worker) observe(began, t0 time.Time) int {
	lat := time.Since(began).Microseconds()
	w.requests++
	_ = w.hist.RecordValue(lat)
	sec := int(began.Sub(t0) / time.Second)
	for len(w.timeline) <= sec {
		w.timeline = append(w.timeline, hdrhistogram.New(1, 120_000_000, 2))
		w.decided = append(w.decided, 0)
	}
	if sec >= 0 {
		_ = w.timeline[sec].RecordValue(lat)
	}
	return sec
}

func (w *worker) record(began time.Time, t0 time.Time, c command, key string, a answer, err error) {
	sec := w.observe(began, t0)
	w.touched[c.account] = true
	switch {
	case err != nil:
		w.errors++
		w.codes["transport_error"]++
		w.pending = append(w.pending, pendingCmd{cmd: c, key: key})
	case a.applied:
		w.applied++
		w.codes[strconv.Itoa(a.status)]++
		w.net[c.account] += signed(c)
	case a.decided:
		w.rejected++
		w.codes[strings.TrimSpace(strconv.Itoa(a.status)+" "+a.code)]++
	default:
		if a.status != http.StatusAccepted {
			w.errors++
		}
		w.codes[strings.TrimSpace(strconv.Itoa(a.status)+" "+a.code)]++
		w.pending = append(w.pending, pendingCmd{cmd: c, key: key})
	}
	if err == nil && a.decided {
		if sec >= 0 {
			w.decided[sec]++
		}
		w.remember(c, key, a)
	}
}

// recordReplay records the answer to a replay of orig: counted as a
// request, not as a decided command, its effect being the original's. An
// answer that differs from the original's is a mismatch; an unknown one
// (transport error, 202, 5xx) is resolved after the run.
func (w *worker) recordReplay(began, t0 time.Time, orig sentCmd, a answer, err error) {
	w.observe(began, t0)
	w.replays++
	switch {
	case err != nil:
		w.codes["transport_error"]++
	default:
		w.codes[strings.TrimSpace(strconv.Itoa(a.status)+" "+a.code)]++
	}
	if err != nil || (!a.decided && (a.status == http.StatusAccepted || a.status >= 500)) {
		if err != nil || a.status != http.StatusAccepted {
			w.errors++
		}
		w.pending = append(w.pending, pendingCmd{cmd: orig.cmd, key: orig.key, orig: &orig.ans})
		return
	}
	if msg, ok := sameAnswer(orig.key, orig.ans, a); !ok {
		w.replayMismatch++
		if len(w.replayExamples) < 10 {
			w.replayExamples = append(w.replayExamples, msg)
		}
	}
}

// sameAnswer reports whether a replay's answer is the original's: the same
// status, problem code and resulting balance.
func sameAnswer(key string, orig, got answer) (string, bool) {
	if got.status == orig.status && got.code == orig.code && got.balance == orig.balance {
		return "", true
	}
	return fmt.Sprintf("replay of %s: status %d %s balance %d, first answer %d %s balance %d",
		key, got.status, got.code, got.balance, orig.status, orig.code, orig.balance), false
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
	// send sends the client's next request: a replay of one of its decided
	// commands (ReplayPercent of the time), else p's next command.
	send := func(wk *worker, id int, seq int, p *picker, scheduled time.Time) {
		if orig, ok := wk.replay(); ok {
			kind, body := orig.cmd.request()
			a, err := cl.send(runCtx, "/v1/accounts/"+w.accountID(orig.cmd.account)+"/"+kind, body, orig.key)
			wk.recordReplay(scheduled, t0, orig, a, err)
			done.Add(1)
			return
		}
		c := p.next()
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
			send(wk, id, seq, p, time.Now())
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
				send(wk, id, a.seq, p, a.at)
			}
		}
	}
	for i := range workers {
		workers[i] = newWorker(uint64(i)+1, cfg.ReplayPercent)
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
	res.Audit.ReplayMismatches = 0
	for _, wk := range workers {
		res.Audit.ReplayMismatches += wk.replayMismatch
		for _, e := range wk.replayExamples {
			if len(res.Audit.Examples) < 10 {
				res.Audit.Examples = append(res.Audit.Examples, e)
			}
		}
	}
	return res
}

// resolve learns the outcome of every request the run did not: it sends
// each again with its Idempotency-Key until it is decided (at most a
// minute). A replay's outcome must be its original's answer, and its
// effect is not counted again.
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
			res.Resolved++
			if p.orig != nil {
				if msg, ok := sameAnswer(p.key, *p.orig, a); !ok {
					wk.replayMismatch++
					if len(wk.replayExamples) < 10 {
						wk.replayExamples = append(wk.replayExamples, msg)
					}
				}
				continue
			}
			if a.applied {
				res.net[p.cmd.account] += signed(p.cmd)
			}
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
