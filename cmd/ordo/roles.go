package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ordo-dev/ordo/api"
	"github.com/ordo-dev/ordo/consumer"
	"github.com/ordo-dev/ordo/ledger/postgres"
	"github.com/ordo-dev/ordo/producer"
	"github.com/ordo-dev/ordo/replies"
	"github.com/ordo-dev/ordo/topics"
)

// ensureTopics creates the commands and replies topics if they are missing.
func ensureTopics(ctx context.Context, o Options, log *slog.Logger) error {
	return topics.Ensure(ctx, o.Brokers, map[string]int32{
		o.CommandsTopic: int32(o.Partitions),
		o.RepliesTopic:  int32(o.ReplyPartitions),
	}, log)
}

// API is the `ordo api` role: the HTTP server, its producer and its reply
// listener.
type API struct {
	store    *postgres.Store
	producer *producer.Producer
	replies  *replies.Listener
	server   *api.Server
	http     *http.Server
	ln       net.Listener
	log      *slog.Logger
	drain    time.Duration
}

// NewAPI connects the API role's dependencies and binds its listener.
func NewAPI(ctx context.Context, o Options, log *slog.Logger) (*API, error) {
	if err := o.Validate(roleAPI); err != nil {
		return nil, err
	}
	if err := ensureTopics(ctx, o, log); err != nil {
		return nil, err
	}
	a := &API{log: log, drain: o.DrainTimeout}
	var err error
	if a.store, err = postgres.Open(ctx, o.DatabaseURL, storeOptions(o)); err != nil {
		return nil, err
	}
	if a.producer, err = producer.New(producer.Config{Brokers: o.Brokers, Topic: o.CommandsTopic, Linger: o.Linger, DeliveryTimeout: max(o.ProduceTimeout, time.Second), Logger: log}); err != nil {
		a.Close()
		return nil, err
	}
	instance := o.InstanceID
	if instance == "" {
		instance = uuid.NewString()
	}
	if a.replies, err = replies.NewListener(ctx, o.Brokers, o.RepliesTopic, instance, log); err != nil {
		a.Close()
		return nil, err
	}
	a.server = api.New(api.Config{
		WaitBudget:      o.WaitBudget,
		ProduceTimeout:  o.ProduceTimeout,
		ReadTimeout:     apiReadTimeout,
		CommandDeadline: o.CommandDeadline,
		Reply:           a.replies.Route(),
		Logger:          log,
	}, a.store, a.producer)
	if a.ln, err = net.Listen("tcp", o.HTTPAddr); err != nil {
		a.Close()
		return nil, fmt.Errorf("listen on %s: %w", o.HTTPAddr, err)
	}
	a.ln = api.LimitListener(a.ln, o.HTTPMaxConns)
	a.http = a.server.HTTPServer(api.HTTPConfig{ReadTimeout: o.HTTPRead, WriteTimeout: o.HTTPWrite, IdleTimeout: o.HTTPIdle})
	log.Info("api ready", "addr", a.ln.Addr().String(), "instance", instance, "reply_partition", a.replies.Route().Partition)
	return a, nil
}

// Addr is the address the API listens on.
func (a *API) Addr() string { return a.ln.Addr().String() }

// Run serves until ctx ends (SIGTERM), then drains: /readyz turns 503 and
// new commands are refused, the listener closes, and requests in flight get
// their outcomes, for up to --drain-timeout. The reply listener runs until
// the drain is over: requests in flight are answered from it.
func (a *API) Run(ctx context.Context) error {
	repliesCtx, stopReplies := context.WithCancel(context.WithoutCancel(ctx))
	repliesDone := make(chan struct{})
	go func() { defer close(repliesDone); a.replies.Run(repliesCtx, a.server.Deliver) }()
	defer func() { stopReplies(); <-repliesDone }()
	errc := make(chan error, 1)
	go func() { errc <- a.http.Serve(a.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.server.Drain()
	a.log.Info("draining: requests in flight get their outcomes", "drain_timeout", a.drain)
	shutdown, cancel := context.WithTimeout(context.Background(), a.drain)
	defer cancel()
	if err := a.http.Shutdown(shutdown); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		a.log.Warn("drain timeout: requests still in flight are cut off", "drain_timeout", a.drain)
	}
	return nil
}

// Close releases everything.
func (a *API) Close() {
	if a.http != nil {
		_ = a.http.Close()
	} else if a.ln != nil {
		_ = a.ln.Close()
	}
	if a.replies != nil {
		a.replies.Close()
	}
	if a.producer != nil {
		a.producer.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
}

// Consumer is the `ordo consumer` role.
type Consumer struct {
	store   *postgres.Store
	proc    *consumer.Processor
	metrics *http.Server // nil unless --metrics-addr is set
	ln      net.Listener
}

// NewConsumer connects the consumer role's dependencies.
func NewConsumer(ctx context.Context, o Options, log *slog.Logger) (*Consumer, error) {
	if err := o.Validate(roleConsumer); err != nil {
		return nil, err
	}
	if err := ensureTopics(ctx, o, log); err != nil {
		return nil, err
	}
	store, err := postgres.Open(ctx, o.DatabaseURL, storeOptions(o))
	if err != nil {
		return nil, err
	}
	proc, err := consumer.New(ctx, consumer.Config{
		Brokers: o.Brokers, Topic: o.CommandsTopic, Group: o.Group,
		SessionTimeout: o.SessionTimeout, HeartbeatInterval: o.Heartbeat,
		MaxBatch: o.MaxBatch, Appliers: o.Appliers,
		CommandDeadline: o.CommandDeadline, HoldExpiryInterval: o.HoldExpiryInterval, Logger: log,
	}, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	c := &Consumer{store: store, proc: proc}
	if o.MetricsAddr != "" {
		if c.ln, err = net.Listen("tcp", o.MetricsAddr); err != nil {
			proc.Close()
			store.Close()
			return nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", proc.MetricsHandler())
		c.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}
	return c, nil
}

// MetricsAddr is the address the metrics are served on, or "" if none.
func (c *Consumer) MetricsAddr() string {
	if c.ln == nil {
		return ""
	}
	return c.ln.Addr().String()
}

// Run applies commands, and serves the metrics, until ctx ends.
func (c *Consumer) Run(ctx context.Context) error {
	if c.metrics != nil {
		go func() { _ = c.metrics.Serve(c.ln) }()
	}
	return c.proc.Run(ctx)
}

// Close leaves the group and releases everything.
func (c *Consumer) Close() {
	if c.metrics != nil {
		_ = c.metrics.Close()
		_ = c.ln.Close() // in case Run never served it
	}
	c.proc.Close()
	c.store.Close()
}

// storeOptions are the store's settings for the api and consumer roles.
func storeOptions(o Options) postgres.Options {
	return postgres.Options{
		MaxConns:                 int32(o.DBMaxConns),
		StatementTimeout:         o.DBStatementTimeout,
		LockTimeout:              o.DBLockTimeout,
		IdleInTransactionTimeout: o.DBIdleInTransactionTimeout,
		CacheAccounts:            o.CacheAccounts,
	}
}

// migrate applies the schema migrations. Its connections have no session
// timeouts: a migration may rightly take long and wait for locks.
func migrate(ctx context.Context, databaseURL string, log *slog.Logger) error {
	store, err := postgres.Open(ctx, databaseURL, postgres.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer store.Close()
	applied, err := store.Migrate(ctx)
	if err != nil {
		return err
	}
	log.Info("schema up to date", "applied", applied)
	return nil
}
