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
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ordo-dev/ordo/api"
	"github.com/ordo-dev/ordo/consumer"
	"github.com/ordo-dev/ordo/ledger/postgres"
	"github.com/ordo-dev/ordo/producer"
	"github.com/ordo-dev/ordo/replies"
	"github.com/ordo-dev/ordo/topics"
)

// ensureTopics checks that the commands, replies and events topics exist
// (creating them with --create-topics), and refuses to run the role against
// a commands topic whose partition count differs from the one the
// deployment started with (recorded in Postgres on first use).
func ensureTopics(ctx context.Context, o Options, store *postgres.Store, log *slog.Logger) error {
	adm, err := newAdmin(o)
	if err != nil {
		return err
	}
	defer adm.Close()
	layout := o.topicLayout()
	specs := layout.Specs()
	if o.EventsTopic != "" {
		specs = specs[:len(specs)-1] // after the commands topic, with its count
	}
	counts, err := topics.Ensure(ctx, adm, specs, o.CreateTopics, log)
	if err != nil {
		return err
	}
	if err := store.CheckPartitionCount(ctx, o.CommandsTopic, counts[o.CommandsTopic]); err != nil {
		return err
	}
	return ensureEventsTopic(ctx, o, adm, counts[o.CommandsTopic], log)
}

// ensureEventsTopic creates the events topic, if there is one, with as many
// partitions as the commands topic has, and refuses to run on one with a
// different count: the event of a command from commands partition p goes
// to events partition p (see consumer/events.go).
func ensureEventsTopic(ctx context.Context, o Options, adm *kadm.Client, commandPartitions int32, log *slog.Logger) error {
	if o.EventsTopic == "" {
		return nil
	}
	counts, err := topics.Ensure(ctx, adm, []topics.Spec{o.topicLayout().EventsSpec(commandPartitions)}, o.CreateTopics, log)
	if err != nil {
		return err
	}
	if n := counts[o.EventsTopic]; n != commandPartitions {
		return fmt.Errorf("events topic %s has %d partitions and commands topic %s has %d: they must match, as the events of commands partition p go to events partition p; recreate the events topic with %d partitions, or name another with --events-topic",
			o.EventsTopic, n, o.CommandsTopic, commandPartitions, commandPartitions)
	}
	return nil
}

// API is the `ordo api` role: the HTTP server, its producer and its reply
// listener.
type API struct {
	store    *postgres.Store
	replica  *postgres.Store // --read-database-url; nil: history reads use store
	producer *producer.Producer
	replies  *replies.Listener
	server   *api.Server
	http     *http.Server
	ln       net.Listener
	ops      *opsServer    // nil when --ops-addr is empty (ordo dev serves one for both roles)
	certs    *certReloader // nil: plain HTTP
	log      *slog.Logger
	drain    time.Duration
}

// NewAPI connects the API role's dependencies and binds its listener.
func NewAPI(ctx context.Context, o Options, log *slog.Logger) (*API, error) {
	if err := o.Validate(roleAPI); err != nil {
		return nil, err
	}
	kopts, err := kafkaClientOpts(o)
	if err != nil {
		return nil, err
	}
	a := &API{log: log, drain: o.DrainTimeout}
	if o.TLSCert != "" {
		if a.certs, err = newCertReloader(o.TLSCert, o.TLSKey, log); err != nil {
			return nil, err
		}
	}
	if a.store, err = postgres.Open(ctx, o.DatabaseURL, storeOptions(o, log)); err != nil {
		return nil, err
	}
	history := a.store
	if o.ReadDatabaseURL != "" {
		if a.replica, err = postgres.Open(ctx, o.ReadDatabaseURL, storeOptions(o, log)); err != nil {
			a.Close()
			return nil, fmt.Errorf("read replica: %w", err)
		}
		history = a.replica
	}
	if err := ensureTopics(ctx, o, a.store, log); err != nil {
		a.Close()
		return nil, err
	}
	if a.producer, err = producer.New(producer.Config{Brokers: o.Brokers, Topic: o.CommandsTopic, Linger: o.Linger, DeliveryTimeout: max(o.ProduceTimeout, time.Second), Logger: log, ClientOpts: kopts}); err != nil {
		a.Close()
		return nil, err
	}
	instance := o.InstanceID
	if instance == "" {
		instance = uuid.NewString()
	}
	if a.replies, err = replies.NewListener(ctx, o.Brokers, o.RepliesTopic, instance, log, kopts...); err != nil {
		a.Close()
		return nil, err
	}
	route := a.replies.Route()
	if o.v1Replies {
		route.Formats = ""
	}
	cfg := api.Config{
		WaitBudget:      o.WaitBudget,
		ProduceTimeout:  o.ProduceTimeout,
		ReadTimeout:     apiReadTimeout,
		CommandDeadline: o.CommandDeadline,
		MaxWaiting:      o.MaxWaiting,
		Reply:           route,
		Logger:          log,
		KeyCacheTTL:     o.AuthCacheTTL,
		Tracing:         o.telemetry != nil,
		History:         history,
	}
	if o.Auth {
		cfg.Keys = a.store
	} else {
		log.Warn("AUTHENTICATION IS OFF (--auth=false): anyone who reaches the API can read and move the money of every account; never run it so beyond a development machine")
	}
	a.server = api.New(cfg, a.store, a.producer)
	if a.ln, err = net.Listen("tcp", o.HTTPAddr); err != nil {
		a.Close()
		return nil, fmt.Errorf("listen on %s: %w", o.HTTPAddr, err)
	}
	a.ln = api.LimitListener(a.ln, o.HTTPMaxConns)
	a.http = a.server.HTTPServer(api.HTTPConfig{ReadTimeout: o.HTTPRead, WriteTimeout: o.HTTPWrite, IdleTimeout: o.HTTPIdle})
	if a.certs != nil {
		a.http.TLSConfig = serverTLSConfig(a.certs)
	}
	if o.OpsAddr != "" {
		if a.ops, err = newOps(o.OpsAddr, []readiness{a.Ready}, a.Metrics()); err != nil {
			a.Close()
			return nil, err
		}
		log.Info("ops endpoints ready", "addr", a.ops.Addr())
	}
	log.Info("api ready", "addr", a.ln.Addr().String(), "tls", a.certs != nil, "instance", instance, "reply_partition", a.replies.Route().Partition, "auth", o.Auth)
	return a, nil
}

// Addr is the address the API listens on.
func (a *API) Addr() string { return a.ln.Addr().String() }

// URL is the API's base URL: https with --tls-cert.
func (a *API) URL() string {
	if a.certs != nil {
		return "https://" + localhost(a.Addr())
	}
	return "http://" + localhost(a.Addr())
}

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
func (a *API) Metrics() prometheus.Gatherer { return a.server.Gatherer() }

// Run serves until ctx ends (SIGTERM), then drains: /readyz turns 503 and
// new commands are refused, the listener closes, and requests in flight get
// their outcomes, for up to --drain-timeout. The reply listener runs until
// the drain is over: requests in flight are answered from it.
func (a *API) Run(ctx context.Context) error {
	repliesCtx, stopReplies := context.WithCancel(context.WithoutCancel(ctx))
	repliesDone := make(chan struct{})
	go func() { defer close(repliesDone); a.replies.Run(repliesCtx, a.server.Deliver) }()
	defer func() { stopReplies(); <-repliesDone }()
	if a.ops != nil {
		go a.ops.Run()
	}
	errc := make(chan error, 1)
	go func() {
		if a.certs != nil {
			errc <- a.http.ServeTLS(a.ln, "", "") // the certificate comes from TLSConfig
			return
		}
		errc <- a.http.Serve(a.ln)
	}()
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
	if a.replica != nil {
		a.replica.Close()
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
	if err := o.Validate(roleConsumer); err != nil {
		return nil, err
	}
	kopts, err := kafkaClientOpts(o)
	if err != nil {
		return nil, err
	}
	store, err := postgres.Open(ctx, o.DatabaseURL, storeOptions(o, log))
	if err != nil {
		return nil, err
	}
	if err := ensureTopics(ctx, o, store, log); err != nil {
		store.Close()
		return nil, err
	}
	replyTopics := o.ReplyTopics
	if len(replyTopics) == 0 {
		replyTopics = []string{o.RepliesTopic}
	}
	proc, err := consumer.New(ctx, consumer.Config{
		Brokers: o.Brokers, Topic: o.CommandsTopic, Group: o.Group, ReplyTopics: replyTopics, EventsTopic: o.EventsTopic,
		SessionTimeout: o.SessionTimeout, HeartbeatInterval: o.Heartbeat,
		MaxBatch: o.MaxBatch, Appliers: o.Appliers, RetryBackoffMax: o.RetryBackoffMax,
		CommandDeadline: o.CommandDeadline, HoldExpiryInterval: o.HoldExpiryInterval, OutcomeRetention: o.outcomeRetention(), Logger: log,
		ClientOpts: kopts, Tracer: o.telemetry.recordTracer(),
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

// storeOptions are the store's settings for the api and consumer roles.
func storeOptions(o Options, log *slog.Logger) postgres.Options {
	return postgres.Options{
		Logger:                   log,
		Tracer:                   o.telemetry.pgxTracer(),
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
