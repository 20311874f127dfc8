package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// Store reads the ledger.
type Store interface {
	Account(ctx context.Context, id string) (ledger.Account, error)
	Outcome(ctx context.Context, commandID string) (ledger.Outcome, []byte, error)
	Ping(ctx context.Context) error
}

// Submitter puts commands on the commands topic.
type Submitter interface {
	Submit(ctx context.Context, cmd ledger.Command, reply wire.Route) (wire.Position, error)
	Ping(ctx context.Context) error
}

// Config configures a Server.
type Config struct {
	// WaitBudget is how long a request waits for its command's outcome
	// before answering 202 Accepted. Default 5s.
	WaitBudget time.Duration
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
}

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
}

// New builds a server. Feed it outcomes with Deliver.
func New(cfg Config, store Store, submit Submitter) *Server {
	if cfg.WaitBudget <= 0 {
		cfg.WaitBudget = 5 * time.Second
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
	s := &Server{cfg: cfg, store: store, submit: submit, inflight: newInflight(), pending: newPending(), log: cfg.Logger.With("component", "api"), metrics: newMetrics()}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.JSONSerializer = jsonSerializer{}
	e.Use(middleware.Recover())
	e.Use(s.bodyLimit)
	e.Use(s.metrics.middleware)

	e.POST("/v1/accounts", s.openAccount)
	e.GET("/v1/accounts/:id", s.getAccount)
	e.POST("/v1/accounts/:id/deposits", s.deposit)
	e.POST("/v1/accounts/:id/withdrawals", s.withdraw)
	e.GET("/v1/commands/:id", s.getCommand)
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.ready)
	e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	s.echo = e
	return s
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Deliver hands an outcome from the reply topic to the request waiting for it.
func (s *Server) Deliver(out ledger.Outcome) { s.inflight.deliver(out) }

func (s *Server) ready(c echo.Context) error {
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
		he     *echo.HTTPError
		maxErr *http.MaxBytesError
		p      *Problem
		logIt  bool
	)
	switch {
	case errors.As(err, &maxErr):
		p = newProblem(codePayloadTooLarge, "")
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
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if err := s.problem(c, p); err != nil {
		s.log.Debug("write problem", "err", err)
	}
}
