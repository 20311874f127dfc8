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
	"github.com/prometheus/client_golang/prometheus"

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
	ops      *opsServer // nil when --ops-addr is empty (ordo dev serves one for both roles)
	log      *slog.Logger
}

// NewAPI connects the API role's dependencies and binds its listener.
func NewAPI(ctx context.Context, o Options, log *slog.Logger) (*API, error) {
	if err := o.Validate(true, true); err != nil {
		return nil, err
	}
	if err := ensureTopics(ctx, o, log); err != nil {
		return nil, err
	}
	a := &API{log: log}
	var err error
	if a.store, err = postgres.Open(ctx, o.DatabaseURL, int32(o.DBMaxConns)); err != nil {
		return nil, err
	}
	if a.producer, err = producer.New(producer.Config{Brokers: o.Brokers, Topic: o.CommandsTopic, Linger: o.Linger, DeliveryTimeout: max(o.WaitBudget, time.Second), Logger: log}); err != nil {
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
	a.server = api.New(api.Config{WaitBudget: o.WaitBudget, Reply: a.replies.Route(), Logger: log}, a.store, a.producer)
	if a.ln, err = net.Listen("tcp", o.HTTPAddr); err != nil {
		a.Close()
		return nil, fmt.Errorf("listen on %s: %w", o.HTTPAddr, err)
	}
	a.http = &http.Server{Handler: a.server.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if o.OpsAddr != "" {
		if a.ops, err = newOps(o.OpsAddr, []readiness{a.Ready}, a.Metrics()); err != nil {
			a.Close()
			return nil, err
		}
		log.Info("ops endpoints ready", "addr", a.ops.Addr())
	}
	log.Info("api ready", "addr", a.ln.Addr().String(), "instance", instance, "reply_partition", a.replies.Route().Partition)
	return a, nil
}

// Addr is the address the API listens on.
func (a *API) Addr() string { return a.ln.Addr().String() }

// OpsAddr is the address of the ops endpoints, or "" if none.
func (a *API) OpsAddr() string {
	if a.ops == nil {
		return ""
	}
	return a.ops.Addr()
}

// Ready is the API's readiness, as its /readyz answers it.
func (a *API) Ready(ctx context.Context) error { return handlerReady(a.server.Handler())(ctx) }

// Metrics is the API's metrics, Go runtime and process collectors included.
func (a *API) Metrics() prometheus.Gatherer { return handlerMetrics(a.server.Handler()) }

// Run serves until ctx ends, then drains requests in flight for up to 10s.
func (a *API) Run(ctx context.Context) error {
	go a.replies.Run(ctx, a.server.Deliver)
	if a.ops != nil {
		go a.ops.Run()
	}
	errc := make(chan error, 1)
	go func() { errc <- a.http.Serve(a.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.http.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// Close releases everything.
func (a *API) Close() {
	if a.ops != nil {
		a.ops.Close()
	}
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
	store *postgres.Store
	proc  *consumer.Processor
	ops   *opsServer // nil when --ops-addr is empty (ordo dev serves one for both roles)
}

// NewConsumer connects the consumer role's dependencies.
func NewConsumer(ctx context.Context, o Options, log *slog.Logger) (*Consumer, error) {
	if err := o.Validate(true, true); err != nil {
		return nil, err
	}
	if err := ensureTopics(ctx, o, log); err != nil {
		return nil, err
	}
	store, err := postgres.Open(ctx, o.DatabaseURL, int32(o.DBMaxConns))
	if err != nil {
		return nil, err
	}
	replyTopics := o.ReplyTopics
	if len(replyTopics) == 0 {
		replyTopics = []string{o.RepliesTopic}
	}
	proc, err := consumer.New(ctx, consumer.Config{
		Brokers: o.Brokers, Topic: o.CommandsTopic, Group: o.Group, ReplyTopics: replyTopics,
		SessionTimeout: o.SessionTimeout, HeartbeatInterval: o.Heartbeat,
		MaxBatch: o.MaxBatch, Appliers: o.Appliers, CacheAccounts: o.CacheAccounts,
		RetryBackoffMax: o.RetryBackoffMax, Logger: log,
	}, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	c := &Consumer{store: store, proc: proc}
	if o.OpsAddr != "" {
		if c.ops, err = newOps(o.OpsAddr, []readiness{c.Ready}, prometheus.Gatherers{processMetrics(), c.Metrics()}); err != nil {
			proc.Close()
			store.Close()
			return nil, err
		}
		log.Info("ops endpoints ready", "addr", c.ops.Addr())
	}
	return c, nil
}

// OpsAddr is the address of the ops endpoints, or "" if none.
func (c *Consumer) OpsAddr() string {
	if c.ops == nil {
		return ""
	}
	return c.ops.Addr()
}

// Ready reports whether the consumer is a member of its group and Postgres
// answers. A consumer with stopped partitions is still ready: the
// partitions show in its metrics.
func (c *Consumer) Ready(ctx context.Context) error {
	if !c.proc.Joined() {
		return errors.New("consumer: not a member of the consumer group (yet)")
	}
	if err := c.store.Ping(ctx); err != nil {
		return errors.New("consumer: postgres is not reachable")
	}
	return nil
}

// Metrics is the consumer's metrics, without Go runtime and process
// collectors.
func (c *Consumer) Metrics() prometheus.Gatherer { return c.proc.Gatherer() }

// Run applies commands, and serves the ops endpoints, until ctx ends.
func (c *Consumer) Run(ctx context.Context) error {
	if c.ops != nil {
		go c.ops.Run()
	}
	return c.proc.Run(ctx)
}

// Close leaves the group and releases everything.
func (c *Consumer) Close() {
	if c.ops != nil {
		c.ops.Close()
	}
	c.proc.Close()
	c.store.Close()
}

// migrate applies the schema migrations.
func migrate(ctx context.Context, databaseURL string, log *slog.Logger) error {
	store, err := postgres.Open(ctx, databaseURL, 2)
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
