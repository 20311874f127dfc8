package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/ordo-dev/ordo/devenv"
)

// Dev is `ordo dev`: the whole system in one process on embedded
// dependencies.
type Dev struct {
	broker   *devenv.Broker
	postgres *devenv.Postgres
	api      *API
	consumer *Consumer
	ops      *opsServer // for both roles
	opts     Options
}

// NewDev starts the broker and (without a DATABASE_URL) a private Postgres
// under the data directory, migrates, and wires one API and one consumer.
func NewDev(ctx context.Context, o Options, log *slog.Logger) (_ *Dev, err error) {
	d := &Dev{}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	o.CreateTopics = true // a development system makes its own topics
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if len(o.Brokers) == 0 {
		d.broker, err = devenv.StartBroker(devenv.BrokerConfig{DataDir: filepath.Join(o.DataDir, "kafka"), Partitions: o.Partitions, Logger: log})
		if err != nil {
			return nil, err
		}
		o.Brokers = []string{d.broker.Addr()}
		log.Info("embedded broker started", "addr", d.broker.Addr(), "data", filepath.Join(o.DataDir, "kafka"))
	}
	if o.DatabaseURL == "" {
		d.postgres, err = devenv.StartPostgres(ctx, devenv.PostgresConfig{Dir: filepath.Join(o.DataDir, "pg"), Logger: log})
		if err != nil {
			return nil, err
		}
		o.DatabaseURL = d.postgres.URL()
		log.Info("private postgres started", "url", redactURL(o.DatabaseURL))
	}
	if err := migrate(ctx, o.DatabaseURL, log); err != nil {
		return nil, err
	}
	// One ops address for both roles: ready when both are, and both
	// roles' metrics (the API's include the Go and process collectors).
	roles := o
	roles.OpsAddr = ""
	roles.Auth = false // dev runs open, on this machine only (its banner says so)
	if !loopback(o.HTTPAddr) {
		log.Warn("ordo dev serves the API WITHOUT AUTHENTICATION beyond this machine: anyone who reaches " + o.HTTPAddr + " can move money; use ordo api with API keys instead")
	}
	if d.api, err = NewAPI(ctx, roles, log); err != nil {
		return nil, err
	}
	if d.consumer, err = NewConsumer(ctx, roles, log); err != nil {
		return nil, err
	}
	if o.OpsAddr != "" {
		if d.ops, err = newOps(o.OpsAddr, []readiness{d.api.Ready, d.consumer.Ready}, prometheus.Gatherers{d.api.Metrics(), d.consumer.Metrics()}); err != nil {
			return nil, err
		}
	}
	d.opts = o
	return d, nil
}

// Banner tells the user where things are and what to try.
func (d *Dev) Banner(w io.Writer) {
	addr := d.api.Addr()
	ops := "off (--ops-addr is empty)"
	if d.ops != nil {
		ops = "http://" + localhost(d.ops.Addr()) + " (/livez, /readyz, /metrics)"
	}
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "::" || host == "0.0.0.0" || host == "") {
		addr = "localhost:" + port
	}
	access := "open, no API key (development: listening on this machine only)"
	if !loopback(d.api.Addr()) {
		access = "OPEN, NO API KEY, AND REACHABLE FROM OTHER MACHINES: anyone who reaches it can move money"
	}
	if d.api.certs != nil {
		addr = "https://" + addr
	} else {
		addr = "http://" + addr
	}
	fmt.Fprintf(w, `
Ordo is running.
  API       %[1]s
  Access    %[8]s
  Ops       %[7]s
  Kafka     %[2]s (topics %[3]s, %[4]s)
  Postgres  %[5]s
  Data      %[6]s

Try:
  curl -s -X POST %[1]s/v1/accounts -d '{"id":"alice","currency":"USD"}'
  curl -s -X POST %[1]s/v1/accounts/alice/deposits -d '{"amount":100}'

Ctrl-C stops everything.
`, addr, strings.Join(d.opts.Brokers, ","), d.opts.CommandsTopic, d.opts.RepliesTopic, redactURL(d.opts.DatabaseURL), d.opts.DataDir, ops, access)
}

// Run runs the API and the consumer until ctx ends. The consumer stops
// after the API has drained, so that requests in flight get their outcomes;
// either stopping stops the other.
func (d *Dev) Run(ctx context.Context) error {
	apiCtx, stopAPI := context.WithCancel(ctx)
	consumerCtx, stopConsumer := context.WithCancel(context.WithoutCancel(ctx))
	var g errgroup.Group
	g.Go(func() error { defer stopConsumer(); return d.api.Run(apiCtx) })
	g.Go(func() error { defer stopAPI(); return d.consumer.Run(consumerCtx) })
	if d.ops != nil {
		go d.ops.Run()
	}
	return g.Wait()
}

// Close stops everything, in reverse order of start.
func (d *Dev) Close() {
	if d.ops != nil {
		d.ops.Close()
	}
	if d.consumer != nil {
		d.consumer.Close()
	}
	if d.api != nil {
		d.api.Close()
	}
	if d.postgres != nil {
		d.postgres.Close()
	}
	if d.broker != nil {
		d.broker.Close()
	}
}

// localhost names an address that listens on every interface as localhost.
func localhost(addr string) string {
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "::" || host == "0.0.0.0" || host == "") {
		return "localhost:" + port
	}
	return addr
}

// loopback reports whether a listen address is on this machine only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURL hides the password of a Postgres URL (in its user info or its
// query) or keyword/value DSN, so that it is never printed.
func redactURL(s string) string {
	scheme, rest, isURL := strings.Cut(s, "://")
	if !isURL {
		return dsnPassword.ReplaceAllString(s, "${1}xxxxx")
	}
	u, err := url.Parse(s)
	if err != nil {
		// Unparsable (an unescaped character in the password, say): hide
		// everything up to the last @.
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			return scheme + "://xxxxx@" + rest[at+1:]
		}
		return s
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// dsnPassword is the password of a keyword/value DSN: password=secret or
// password='se cret'.
var dsnPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
