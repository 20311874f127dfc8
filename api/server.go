package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/net/netutil"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// Store reads the ledger.
type Store interface {
	Account(ctx context.Context, id string) (ledger.Account, error)
	Outcome(ctx context.Context, commandID string) (ledger.Outcome, []byte, error)
	Hold(ctx context.Context, accountID, holdID string) (ledger.Hold, error)
	// Holds lists an account's holds, newest first, limit at a time from
	// the cursor after ("" for the first page); status "" is every status.
	// next is the following page's cursor, "" after the last. A malformed
	// cursor is a *ledger.FieldError.
	Holds(ctx context.Context, accountID string, status ledger.HoldStatus, after string, limit int) (holds []ledger.Hold, next string, err error)
	// Transfer returns a transfer and its legs decided so far.
	Transfer(ctx context.Context, id string) (ledger.Transfer, []ledger.TransferLeg, error)
	Ping(ctx context.Context) error
}

// Submitter puts commands on the commands topic.
type Submitter interface {
	Submit(ctx context.Context, cmd ledger.Command, reply wire.Route) (wire.Position, error)
	Ping(ctx context.Context) error
}

// Config configures a Server.
type Config struct {
	// WaitBudget is how long a request waits for its command's outcome,
	// once the broker acknowledged the command, before answering 202
	// Accepted. Default 5s.
	WaitBudget time.Duration
	// ProduceTimeout is how long a request waits for the broker to
	// acknowledge its command before answering 503 outcome_unknown.
	// Default 3s.
	ProduceTimeout time.Duration
	// ReadTimeout bounds each read of the store: GETs and the last look
	// after the wait budget. Default 1s.
	ReadTimeout time.Duration
	// MaxBodyBytes limits request bodies. Default 64 KiB.
	MaxBodyBytes int64
	// Reply is where this instance's commands ask for their outcomes.
	Reply  wire.Route
	Logger *slog.Logger // default slog.Default()
	// NewID returns a command ID for requests without an Idempotency-Key.
	// Default: a UUIDv7.
	NewID func() string
	// CommandDeadline is how long after its request a command may still be
	// decided; a command the consumer reaches later is refused as expired.
	// Default 1h.
	CommandDeadline time.Duration
	// Now is the clock deadlines are read from. Default time.Now.
	Now func() time.Time
	// Tracing: serve every request in an OpenTelemetry span (from the
	// global tracer provider, continuing the caller's trace from its
	// traceparent header), named by its route. Off: no tracing cost.
	Tracing bool
	// History serves the history reads (history.go), perhaps from a read
	// replica. Default: the Store, if it implements History; else the
	// history routes are not served.
	History History
	// Keys turns authentication on: every request but /healthz, /readyz
	// and /openapi.json needs Authorization: Bearer with a valid key of
	// these, of a scope and account prefix that allow it (auth.go). nil
	// serves every request without a key: only for ordo dev and tests.
	Keys KeyStore
	// KeyCacheTTL is how long a verified key is trusted before it is read
	// again: a revoked key is refused within it. Default 5s.
	KeyCacheTTL time.Duration
	// MaxWaiting bounds the commands this instance has in flight: waiting
	// for the broker's acknowledgement or for their outcomes. A new command
	// beyond it is refused with 503 overloaded and Retry-After, before it is
	// produced; a request that joins an identical command already in flight
	// (same Idempotency-Key and body) does not count again. Default
	// DefaultMaxWaiting.
	MaxWaiting int
}

// DefaultMaxWaiting is Config.MaxWaiting's default. Served normally, an
// instance has few commands in flight (by Little's law, 10,000 commands a
// second answered in 20 ms keep 200 waiting); 1024 leaves room for bursts
// and stays below the default connection cap (2048), so that when the
// consumers stall the excess is refused at once with 503 overloaded
// rather than holding every connection for the whole wait budget. Each
// waiting command costs a few KiB (its goroutines, its request and its
// call), a few MiB in all.
const DefaultMaxWaiting = 1024

// Server serves the HTTP API.
type Server struct {
	cfg      Config
	store    Store
	submit   Submitter
	inflight *inflight
	pending  *pending
	log      *slog.Logger
	echo     *echo.Echo
	metrics  *metrics
	draining atomic.Bool
	keys     *keyCache // nil: authentication off
}

// New builds a server. Feed it outcomes with Deliver.
func New(cfg Config, store Store, submit Submitter) *Server {
	if cfg.WaitBudget <= 0 {
		cfg.WaitBudget = 5 * time.Second
	}
	if cfg.ProduceTimeout <= 0 {
		cfg.ProduceTimeout = 3 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewID == nil {
		cfg.NewID = newCommandID
	}
	if cfg.CommandDeadline <= 0 {
		cfg.CommandDeadline = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if h, ok := store.(History); ok && cfg.History == nil {
		cfg.History = h
	}
	if cfg.KeyCacheTTL <= 0 {
		cfg.KeyCacheTTL = 5 * time.Second
	}
	if cfg.MaxWaiting <= 0 {
		cfg.MaxWaiting = DefaultMaxWaiting
	}
	s := &Server{cfg: cfg, store: store, submit: submit, inflight: newInflight(cfg.MaxWaiting), pending: newPending(), log: cfg.Logger.With("component", "api")}
	s.metrics = newMetrics(s.inflight.waiting)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.JSONSerializer = jsonSerializer{}
	e.Use(middleware.Recover())
	e.Use(requestID)
	if cfg.Tracing {
		e.Use(spanRoute)
	}
	e.Use(s.metrics.middleware(e)) // outside the body limit, so a 413 is observed too
	if cfg.Keys != nil {
		s.keys = newKeyCache(cfg.Keys, cfg.KeyCacheTTL, cfg.ReadTimeout, cfg.Now)
	}
	e.Use(s.authenticate) // before any body is read
	e.Use(s.bodyLimit)

	// Every GET route answers HEAD too, as GET does: net/http sends the
	// headers (Content-Length included) and drops the body.
	get := func(path string, h echo.HandlerFunc) {
		e.GET(path, h)
		e.HEAD(path, h)
	}
	e.POST("/v1/accounts", s.openAccount)
	get("/v1/accounts/:id", s.accountOrHistory(s.getAccount))
	e.POST("/v1/accounts/:id/deposits", s.deposit)
	e.POST("/v1/accounts/:id/withdrawals", s.withdraw)
	e.POST("/v1/accounts/:id/holds", s.createHold)
	get("/v1/accounts/:id/holds", s.listHolds)
	get("/v1/accounts/:id/holds/:hold_id", s.getHold)
	e.POST("/v1/accounts/:id/holds/:hold_id/capture", s.captureHold)
	e.POST("/v1/accounts/:id/holds/:hold_id/release", s.releaseHold)
	e.POST("/v1/accounts/:id/overdraft-limit", s.setOverdraftLimit)
	e.POST("/v1/accounts/:id/freeze", s.lifecycle(ledger.KindFreeze))
	e.POST("/v1/accounts/:id/unfreeze", s.lifecycle(ledger.KindUnfreeze))
	e.POST("/v1/accounts/:id/close", s.lifecycle(ledger.KindClose))
	e.POST("/v1/transfers", s.createTransfer)
	get("/v1/transfers/:id", s.getTransfer)
	get("/v1/commands/:id", s.getCommand)
	get("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	get("/readyz", s.ready)
	get("/metrics", echo.WrapHandler(s.metrics.handler()))
	get("/openapi.json", serveOpenAPI)
	if cfg.History != nil {
		s.registerHistory(get)
	}
	s.echo = e
	return s
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Gatherer is the server's metrics, Go runtime and process collectors
// included, for an ops listener that serves them without a key (the
// handler's /metrics needs an admin key when authentication is on).
func (s *Server) Gatherer() prometheus.Gatherer { return s.metrics.reg }

// HTTPConfig bounds how long a client may hold a connection. Zero fields
// take the defaults named.
type HTTPConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included, from its
	// first byte: a client that sends its body too slowly is answered 400
	// and disconnected. Default 15s.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of its response, so it must exceed the wait budget with a margin.
	// Default 30s.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request. Default 60s.
	IdleTimeout time.Duration
}

// HTTPServer returns an http.Server for the handler with the timeouts of
// c; its internal errors are logged at warn level.
func (s *Server) HTTPServer(c HTTPConfig) *http.Server {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, 10*time.Second)
	def(&c.ReadTimeout, 15*time.Second)
	def(&c.WriteTimeout, 30*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	var h http.Handler = s.echo
	if s.cfg.Tracing {
		h = otelhttp.NewHandler(s.echo, "ordo.api", otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// LimitListener serves at most max connections of ln at once; further
// clients wait in the listen backlog until a connection closes. max < 1
// means no cap.
func LimitListener(ln net.Listener, max int) net.Listener {
	if max < 1 {
		return ln
	}
	return netutil.LimitListener(ln, max)
}

// Deliver hands an outcome from the reply topic to the request waiting for
// it: the request for the command with its ID and fingerprint (the
// fingerprint of the command record it answers). An outcome without a
// matching request is dropped.
func (s *Server) Deliver(out ledger.Outcome, fingerprint []byte) {
	s.inflight.deliver(out, fingerprint)
}

// Drain prepares the server for shutdown: /readyz answers 503, and new
// commands are refused with 503 and Connection: close. Requests in flight
// go on and get their outcomes.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) ready(c echo.Context) error {
	if s.draining.Load() {
		return s.unavailable(c, "shutting down")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return s.problem(c, newProblem(codeUnavailable, "postgres is not reachable"))
	}
	if err := s.submit.Ping(ctx); err != nil {
		return s.problem(c, newProblem(codeUnavailable, "no Kafka broker is reachable"))
	}
	return c.String(http.StatusOK, "ready\n")
}

// bodyLimit refuses bodies over MaxBodyBytes with a problem document.
func (s *Server) bodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > s.cfg.MaxBodyBytes {
			return s.problem(c, newProblem(codePayloadTooLarge, ""))
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, s.cfg.MaxBodyBytes)
		return next(c)
	}
}

func (s *Server) problem(c echo.Context, p *Problem) error {
	if p.Instance == "" {
		p.Instance = c.Request().URL.Path
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	return c.JSON(p.Status, p)
}

// handleError renders every error that reaches echo as problem+json.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil {
		return // the client hung up: nobody to answer, nothing went wrong here
	}
	var (
		he      *echo.HTTPError
		maxErr  *http.MaxBytesError
		readErr *errBodyRead
		p       *Problem
		logIt   bool
	)
	switch {
	case errors.As(err, &maxErr):
		p = newProblem(codePayloadTooLarge, "")
	case errors.As(err, &readErr):
		// The client sent less than it announced, hung up or was too slow:
		// its doing, answered in case it still listens, logged at debug.
		s.logFor(c).Debug("request body not read in full", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		p = newProblem(codeInvalidRequest, bodyReadDetail(err))
		p.Field = "body"
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			p = newProblem(codeNotFound, "no such route")
		case http.StatusMethodNotAllowed:
			p = newProblem(codeMethodNotAllowed, "")
		case http.StatusRequestEntityTooLarge:
			p = newProblem(codePayloadTooLarge, "")
		default:
			p, logIt = newProblem(codeInternal, ""), true
		}
	default:
		p, logIt = errorProblem(err)
	}
	if logIt {
		s.logFor(c).Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if err := s.problem(c, p); err != nil {
		s.log.Debug("write problem", "err", err)
	}
}
