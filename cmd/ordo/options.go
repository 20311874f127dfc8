package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Options is every setting of every role. Flags and ORDO_* environment
// variables are read into it only here, in cmd; the roles take it as a value.
type Options struct {
	HTTPAddr        string
	MetricsAddr     string
	Brokers         []string
	DatabaseURL     string
	DataDir         string
	Partitions      int
	ReplyPartitions int
	CommandsTopic   string
	RepliesTopic    string
	Group           string
	WaitBudget      time.Duration
	ProduceTimeout  time.Duration
	DrainTimeout    time.Duration
	SessionTimeout  time.Duration
	Heartbeat       time.Duration
	MaxBatch        int
	Appliers        int
	CacheAccounts   int
	DBMaxConns      int
	// Session timeouts of the role's Postgres connections (0: not set).
	DBStatementTimeout         time.Duration
	DBLockTimeout              time.Duration
	DBIdleInTransactionTimeout time.Duration
	Linger                     time.Duration
	InstanceID                 string
	LogLevel                   string
	CommandDeadline            time.Duration
	HoldExpiryInterval         time.Duration
}

// Defaults, each overridable by flag or environment variable.
func defaultOptions() Options {
	return Options{
		HTTPAddr:        ":8080",
		DataDir:         "./.ordo",
		Partitions:      12,
		ReplyPartitions: 12,
		CommandsTopic:   "ordo.commands",
		RepliesTopic:    "ordo.replies",
		Group:           "ordo-consumers",
		WaitBudget:      5 * time.Second,
		ProduceTimeout:  3 * time.Second,
		DrainTimeout:    15 * time.Second,
		SessionTimeout:  45 * time.Second,
		Heartbeat:       3 * time.Second,
		MaxBatch:        1000,
		Appliers:        1,
		CacheAccounts:   100_000,
		DBMaxConns:      16,
		// See DESIGN.md, "Session timeouts".
		DBStatementTimeout:         10 * time.Second,
		DBLockTimeout:              5 * time.Second,
		DBIdleInTransactionTimeout: 5 * time.Second,
		LogLevel:                   "info",
		CommandDeadline:            time.Hour,
		HoldExpiryInterval:         time.Second,
	}
}

// Validate reports the first unusable setting.
func (o *Options) Validate(needBrokers, needDB bool) error {
	var errs []error
	if needBrokers && len(o.Brokers) == 0 {
		errs = append(errs, errors.New("--brokers (ORDO_BROKERS) is required"))
	}
	if needDB && o.DatabaseURL == "" {
		errs = append(errs, errors.New("--database-url (DATABASE_URL) is required"))
	}
	if o.Partitions < 1 || o.ReplyPartitions < 1 {
		errs = append(errs, errors.New("--partitions and --reply-partitions must be at least 1"))
	}
	if o.WaitBudget <= 0 || o.SessionTimeout <= 0 || o.Heartbeat <= 0 {
		errs = append(errs, errors.New("durations must be positive"))
	}
	if o.ProduceTimeout <= 0 {
		errs = append(errs, errors.New("--produce-timeout must be positive"))
	}
	if bound := o.RequestBound(); o.DrainTimeout < bound {
		errs = append(errs, fmt.Errorf("--drain-timeout (%s) must be at least --produce-timeout + --wait-budget + %s (%s), the longest a command request can take", o.DrainTimeout, apiReadTimeout, bound))
	}
	if o.HoldExpiryInterval < 10*time.Millisecond || o.HoldExpiryInterval > time.Minute {
		errs = append(errs, fmt.Errorf("--hold-expiry-interval (%s) must be from 10ms to 1m", o.HoldExpiryInterval))
	}
	if bound := o.RequestBound(); o.CommandDeadline < time.Second || o.CommandDeadline <= bound {
		errs = append(errs, fmt.Errorf("--command-deadline (%s) must be at least 1s and longer than a command request can take (%s)", o.CommandDeadline, bound))
	}
	if o.MaxBatch < 1 || o.DBMaxConns < 1 || o.Appliers < 1 || o.CacheAccounts < 1 {
		errs = append(errs, errors.New("--max-batch, --appliers, --cache-accounts and --db-max-conns must be at least 1"))
	}
	if o.DBStatementTimeout < 0 || o.DBLockTimeout < 0 || o.DBIdleInTransactionTimeout < 0 {
		errs = append(errs, errors.New("--db-statement-timeout, --db-lock-timeout and --db-idle-in-transaction-timeout must not be negative (0 turns one off)"))
	}
	return errors.Join(errs...)
}

// apiReadTimeout bounds each read the API makes from Postgres (api.Config
// ReadTimeout).
const apiReadTimeout = time.Second

// RequestBound is the longest an API request for a command takes to be
// answered (apart from reading its body and writing the answer): the
// broker's acknowledgement, the wait for the outcome and one last read.
func (o *Options) RequestBound() time.Duration {
	return o.ProduceTimeout + o.WaitBudget + apiReadTimeout
}

// flagSet registers the flags a role uses; env names the variable that
// overrides each default.
type flagSet struct {
	fs  *pflag.FlagSet
	o   *Options
	err error
}

func (f *flagSet) str(p *string, name, env, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		*p = v
	}
	f.fs.StringVar(p, name, *p, usage+" (env "+env+")")
}

func (f *flagSet) list(p *[]string, name, env, usage string) {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		*p = strings.Split(v, ",")
	}
	f.fs.StringSliceVar(p, name, *p, usage+" (env "+env+")")
}

func (f *flagSet) num(p *int, name, env, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.err = errors.Join(f.err, fmt.Errorf("%s=%q: not a number", env, v))
		} else {
			*p = n
		}
	}
	f.fs.IntVar(p, name, *p, usage+" (env "+env+")")
}

func (f *flagSet) dur(p *time.Duration, name, env, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.err = errors.Join(f.err, fmt.Errorf("%s=%q: not a duration such as 5s", env, v))
		} else {
			*p = d
		}
	}
	f.fs.DurationVar(p, name, *p, usage+" (env "+env+")")
}

// The flag groups, shared by the roles that need them.
func (f *flagSet) common() {
	f.str(&f.o.LogLevel, "log-level", "ORDO_LOG_LEVEL", "log level: debug, info, warn, error")
}

// deadline is shared by the API (which stamps it on each command) and the
// consumer (which applies it to records that carry none).
func (f *flagSet) deadline() {
	f.dur(&f.o.CommandDeadline, "command-deadline", "ORDO_COMMAND_DEADLINE", "how long after its request a command may still be decided; the consumer refuses it as expired after that, so a 202 always has an end")
}

func (f *flagSet) kafka() {
	f.list(&f.o.Brokers, "brokers", "ORDO_BROKERS", "Kafka bootstrap brokers, comma-separated")
	f.str(&f.o.CommandsTopic, "commands-topic", "ORDO_COMMANDS_TOPIC", "topic commands are submitted to")
	f.str(&f.o.RepliesTopic, "replies-topic", "ORDO_REPLIES_TOPIC", "topic outcomes are replied on")
	f.num(&f.o.Partitions, "partitions", "ORDO_PARTITIONS", "partitions of the commands topic when it is created; the most consumers that can share the work (never change it after accounts exist)")
	f.num(&f.o.ReplyPartitions, "reply-partitions", "ORDO_REPLY_PARTITIONS", "partitions of the replies topic when it is created")
}

func (f *flagSet) database() {
	f.databaseURL()
	f.num(&f.o.DBMaxConns, "db-max-conns", "ORDO_DB_MAX_CONNS", "most Postgres connections in the pool")
	f.dur(&f.o.DBStatementTimeout, "db-statement-timeout", "ORDO_DB_STATEMENT_TIMEOUT", "Postgres statement_timeout of every connection: the server cancels a statement running longer (0: off)")
	f.dur(&f.o.DBLockTimeout, "db-lock-timeout", "ORDO_DB_LOCK_TIMEOUT", "Postgres lock_timeout: a statement waiting this long for a lock fails and is retried (0: off)")
	f.dur(&f.o.DBIdleInTransactionTimeout, "db-idle-in-transaction-timeout", "ORDO_DB_IDLE_IN_TRANSACTION_TIMEOUT", "Postgres idle_in_transaction_session_timeout: the server ends a session idle inside a transaction this long (a frozen consumer), releasing its locks (0: off)")
}

func (f *flagSet) databaseURL() {
	f.str(&f.o.DatabaseURL, "database-url", "DATABASE_URL", "PostgreSQL URL")
}

func (f *flagSet) api() {
	f.str(&f.o.HTTPAddr, "http-addr", "ORDO_HTTP_ADDR", "HTTP listen address")
	f.dur(&f.o.WaitBudget, "wait-budget", "ORDO_WAIT_BUDGET", "how long a request waits for its outcome, once the broker acknowledged its command, before answering 202 Accepted")
	f.dur(&f.o.ProduceTimeout, "produce-timeout", "ORDO_PRODUCE_TIMEOUT", "how long a request waits for the broker to acknowledge its command before answering 503 outcome_unknown")
	f.dur(&f.o.DrainTimeout, "drain-timeout", "ORDO_DRAIN_TIMEOUT", "on SIGTERM, how long requests in flight may take to get their outcomes before the process exits; at least --produce-timeout + --wait-budget + 1s")
	f.dur(&f.o.Linger, "linger", "ORDO_LINGER", "how long the producer may hold a batch for more records")
	f.str(&f.o.InstanceID, "instance-id", "ORDO_INSTANCE_ID", "this API instance's ID for reply routing (default: random per start)")
}

func (f *flagSet) consumer() {
	f.str(&f.o.Group, "group", "ORDO_GROUP", "consumer group")
	f.dur(&f.o.SessionTimeout, "session-timeout", "ORDO_SESSION_TIMEOUT", "how long the group waits for a silent consumer before moving its partitions")
	f.dur(&f.o.Heartbeat, "heartbeat-interval", "ORDO_HEARTBEAT_INTERVAL", "consumer group heartbeat interval")
	f.num(&f.o.MaxBatch, "max-batch", "ORDO_MAX_BATCH", "records after which an applier stops adding queued fetches to a transaction")
	f.num(&f.o.Appliers, "appliers", "ORDO_APPLIERS", "Postgres transactions a consumer keeps in flight; each commits everything queued for its partitions")
	f.num(&f.o.CacheAccounts, "cache-accounts", "ORDO_CACHE_ACCOUNTS", "accounts each claimed partition keeps in memory, so that a batch of cached accounts commits in one round trip without reading")
	f.dur(&f.o.HoldExpiryInterval, "hold-expiry-interval", "ORDO_HOLD_EXPIRY_INTERVAL", "how often a consumer looks for open holds past their expiry in its partitions and submits their expiry")
	f.str(&f.o.MetricsAddr, "metrics-addr", "ORDO_METRICS_ADDR", "listen address for the consumer's Prometheus metrics at /metrics (empty: not served)")
}
