package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ordo-dev/ordo/api"
	"github.com/ordo-dev/ordo/topics"
)

// Options is every setting of every role. Flags and ORDO_* environment
// variables are read into it only here, in cmd; the roles take it as a value.
type Options struct {
	HTTPAddr        string
	OpsAddr         string
	Brokers         []string
	DatabaseURL     string
	DataDir         string
	Partitions      int
	ReplyPartitions int
	CommandsTopic   string
	RepliesTopic    string
	EventsTopic     string   // "": no events
	ReplyTopics     []string // reply topics the consumer may answer on; empty: RepliesTopic
	// CreateTopics: a role creates missing topics instead of refusing to
	// start; ReplicationFactor and the retentions are what it creates them
	// with (see topics.Layout).
	CreateTopics      bool
	ReplicationFactor int
	CommandsRetention time.Duration
	RepliesRetention  time.Duration
	Group             string
	WaitBudget        time.Duration
	ProduceTimeout    time.Duration
	DrainTimeout      time.Duration
	HTTPRead          time.Duration
	HTTPWrite         time.Duration
	HTTPIdle          time.Duration
	HTTPMaxConns      int
	MaxWaiting        int
	SessionTimeout    time.Duration
	Heartbeat         time.Duration
	RetryBackoffMax   time.Duration
	MaxBatch          int
	Appliers          int
	CacheAccounts     int
	DBMaxConns        int
	// Session timeouts of the role's Postgres connections (0: not set).
	DBStatementTimeout         time.Duration
	DBLockTimeout              time.Duration
	DBIdleInTransactionTimeout time.Duration
	Linger                     time.Duration
	InstanceID                 string
	LogLevel                   string
	LogFormat                  string
	CommandDeadline            time.Duration
	HoldExpiryInterval         time.Duration
	OutcomeRetention           time.Duration // 0: keep stored outcomes forever
	ReadDatabaseURL            string        // api: a read replica for the history reads; "": DatabaseURL

	// outcomeRetentionTest, in tests, replaces OutcomeRetention with one
	// below its floor.
	outcomeRetentionTest time.Duration

	// TLS and SASL of every Kafka client (kafkasec.go).
	KafkaTLS              bool
	KafkaTLSCA            string
	KafkaTLSCert          string
	KafkaTLSKey           string
	KafkaTLSServerName    string
	KafkaSASLMechanism    string
	KafkaSASLUser         string
	KafkaSASLPasswordFile string
	// kafkaSASLPassword is ORDO_KAFKA_SASL_PASSWORD: never a flag, never
	// logged or printed.
	kafkaSASLPassword string

	// HTTPS of the API (httptls.go): both or neither.
	TLSCert string
	TLSKey  string

	// telemetry is the process's tracing (nil: off), set up from the
	// OTEL_* environment by the role's command, not by a flag.
	telemetry *telemetry
	// v1Replies makes the API ask for version 1 replies only, as an API
	// older than batched replies does (tests of a rolling upgrade).
	v1Replies bool
	// Auth: the API needs an API key on every request (ordo dev: off).
	Auth bool
	// AuthCacheTTL: how long the API trusts a verified key before reading
	// it again, so the bound on revocation.
	AuthCacheTTL time.Duration
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
		EventsTopic:     "ordo.events",
		// See topics.Layout and DESIGN.md, "Topics".
		ReplicationFactor: -1,
		CommandsRetention: 7 * 24 * time.Hour,
		RepliesRetention:  time.Hour,
		Group:             "ordo-consumers",
		WaitBudget:        5 * time.Second,
		ProduceTimeout:    3 * time.Second,
		DrainTimeout:      15 * time.Second,
		HTTPRead:          15 * time.Second,
		HTTPWrite:         30 * time.Second,
		HTTPIdle:          60 * time.Second,
		HTTPMaxConns:      2048,
		MaxWaiting:        api.DefaultMaxWaiting, // 1024: see its comment
		SessionTimeout:    10 * time.Second,
		Heartbeat:         time.Second,
		RetryBackoffMax:   30 * time.Second,
		MaxBatch:          1000,
		Appliers:          1,
		CacheAccounts:     100_000,
		DBMaxConns:        16,
		// See DESIGN.md, "Session timeouts".
		DBStatementTimeout:         10 * time.Second,
		DBLockTimeout:              5 * time.Second,
		DBIdleInTransactionTimeout: 5 * time.Second,
		LogLevel:                   "info",
		LogFormat:                  "text",
		CommandDeadline:            time.Hour,
		HoldExpiryInterval:         time.Second,
		Auth:                       true,
		AuthCacheTTL:               5 * time.Second,
	}
}

// role names the flag groups of a role, so that Validate checks, and names,
// only flags the role has.
type role uint8

const (
	roleAPI      role = 1 << iota // api(), kafka(), database()
	roleConsumer                  // consumer(), kafka(), database()
)

// httpWriteMargin is how much longer than the longest command request
// (RequestBound) --http-write-timeout must be: the write timeout runs from
// the end of the request headers and covers reading the body, submitting,
// waiting and writing the answer.
const httpWriteMargin = 5 * time.Second

// Validate reports every unusable setting of the role's flags, each by its
// flag and environment variable.
func (o *Options) Validate(r role) error {
	var errs []error
	bad := func(flag, env, rule string, got any) {
		errs = append(errs, fmt.Errorf("--%s (%s) %s, got %v", flag, env, rule, got))
	}
	// Every role that validates has the kafka, database and deadline groups.
	if len(o.Brokers) == 0 {
		errs = append(errs, errors.New("--brokers (ORDO_BROKERS) is required"))
	}
	if o.DatabaseURL == "" {
		errs = append(errs, errors.New("--database-url (DATABASE_URL) is required"))
	}
	if o.Partitions < 1 {
		bad("partitions", "ORDO_PARTITIONS", "must be at least 1", o.Partitions)
	}
	if o.ReplyPartitions < 1 {
		bad("reply-partitions", "ORDO_REPLY_PARTITIONS", "must be at least 1", o.ReplyPartitions)
	}
	if o.ReplicationFactor == 0 || o.ReplicationFactor < -1 || o.ReplicationFactor > 32767 {
		bad("replication-factor", "ORDO_REPLICATION_FACTOR", "must be -1 (the brokers' default) or at least 1", o.ReplicationFactor)
	}
	if o.CommandsRetention < time.Hour {
		bad("commands-retention", "ORDO_COMMANDS_RETENTION", "must be at least 1h: a command deleted before its partition's owner reads it is lost", o.CommandsRetention)
	}
	if o.RepliesRetention < time.Minute {
		bad("replies-retention", "ORDO_REPLIES_RETENTION", "must be at least 1m", o.RepliesRetention)
	}
	if o.DBMaxConns < 1 {
		bad("db-max-conns", "ORDO_DB_MAX_CONNS", "must be at least 1", o.DBMaxConns)
	}
	if o.DBStatementTimeout < 0 {
		bad("db-statement-timeout", "ORDO_DB_STATEMENT_TIMEOUT", "must not be negative (0 turns it off)", o.DBStatementTimeout)
	}
	if o.DBLockTimeout < 0 {
		bad("db-lock-timeout", "ORDO_DB_LOCK_TIMEOUT", "must not be negative (0 turns it off)", o.DBLockTimeout)
	}
	if o.DBIdleInTransactionTimeout < 0 {
		bad("db-idle-in-transaction-timeout", "ORDO_DB_IDLE_IN_TRANSACTION_TIMEOUT", "must not be negative (0 turns it off)", o.DBIdleInTransactionTimeout)
	}
	if o.CommandDeadline < time.Second {
		bad("command-deadline", "ORDO_COMMAND_DEADLINE", "must be at least 1s", o.CommandDeadline)
	}
	if r&roleAPI != 0 {
		if o.WaitBudget <= 0 {
			bad("wait-budget", "ORDO_WAIT_BUDGET", "must be positive", o.WaitBudget)
		}
		if o.ProduceTimeout <= 0 {
			bad("produce-timeout", "ORDO_PRODUCE_TIMEOUT", "must be positive", o.ProduceTimeout)
		}
		if o.Linger < 0 {
			bad("linger", "ORDO_LINGER", "must not be negative", o.Linger)
		}
		bound := o.RequestBound()
		if o.WaitBudget > 0 && o.ProduceTimeout > 0 {
			if o.DrainTimeout < bound {
				bad("drain-timeout", "ORDO_DRAIN_TIMEOUT", fmt.Sprintf("must be at least --produce-timeout + --wait-budget + %v (%v), the longest a command request can take", apiReadTimeout, bound), o.DrainTimeout)
			}
			if o.HTTPWrite < bound+httpWriteMargin {
				bad("http-write-timeout", "ORDO_HTTP_WRITE_TIMEOUT", fmt.Sprintf("must be at least --produce-timeout + --wait-budget + %v (%v) plus %v", apiReadTimeout, bound, httpWriteMargin), o.HTTPWrite)
			}
			if o.CommandDeadline >= time.Second && o.CommandDeadline <= bound {
				bad("command-deadline", "ORDO_COMMAND_DEADLINE", fmt.Sprintf("must be longer than a command request can take (%v)", bound), o.CommandDeadline)
			}
		}
		if o.HTTPRead <= 0 {
			bad("http-read-timeout", "ORDO_HTTP_READ_TIMEOUT", "must be positive", o.HTTPRead)
		}
		if o.HTTPIdle <= 0 {
			bad("http-idle-timeout", "ORDO_HTTP_IDLE_TIMEOUT", "must be positive", o.HTTPIdle)
		}
		if o.HTTPMaxConns < 1 {
			bad("http-max-conns", "ORDO_HTTP_MAX_CONNS", "must be at least 1", o.HTTPMaxConns)
		}
		if o.Auth && (o.AuthCacheTTL < 10*time.Millisecond || o.AuthCacheTTL > time.Minute) {
			bad("auth-cache-ttl", "ORDO_AUTH_CACHE_TTL", "must be from 10ms to 1m", o.AuthCacheTTL)
		}
		if o.MaxWaiting < 1 {
			bad("max-waiting", "ORDO_MAX_WAITING", "must be at least 1", o.MaxWaiting)
		}
		if (o.TLSCert == "") != (o.TLSKey == "") {
			errs = append(errs, errors.New("--tls-cert (ORDO_TLS_CERT) and --tls-key (ORDO_TLS_KEY) go together"))
		}
	}
	if r&roleConsumer != 0 {
		if o.SessionTimeout <= 0 {
			bad("session-timeout", "ORDO_SESSION_TIMEOUT", "must be positive", o.SessionTimeout)
		}
		if o.Heartbeat <= 0 {
			bad("heartbeat-interval", "ORDO_HEARTBEAT_INTERVAL", "must be positive", o.Heartbeat)
		}
		if o.MaxBatch < 1 {
			bad("max-batch", "ORDO_MAX_BATCH", "must be at least 1", o.MaxBatch)
		}
		if o.Appliers < 1 {
			bad("appliers", "ORDO_APPLIERS", "must be at least 1", o.Appliers)
		}
		if o.CacheAccounts < 1 {
			bad("cache-accounts", "ORDO_CACHE_ACCOUNTS", "must be at least 1", o.CacheAccounts)
		}
		if o.RetryBackoffMax <= 0 {
			bad("retry-backoff-max", "ORDO_RETRY_BACKOFF_MAX", "must be positive", o.RetryBackoffMax)
		}
		if o.HoldExpiryInterval < 10*time.Millisecond || o.HoldExpiryInterval > time.Minute {
			bad("hold-expiry-interval", "ORDO_HOLD_EXPIRY_INTERVAL", "must be from 10ms to 1m", o.HoldExpiryInterval)
		}
		if o.OutcomeRetention != 0 && o.OutcomeRetention < minOutcomeRetention {
			bad("outcome-retention", "ORDO_OUTCOME_RETENTION", "must be 0 (keep forever) or at least 24h", o.OutcomeRetention)
		}
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

func (f *flagSet) boolean(p *bool, name, env, usage string) {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.err = errors.Join(f.err, fmt.Errorf("%s=%q: not true or false", env, v))
		} else {
			*p = b
		}
	}
	f.fs.BoolVar(p, name, *p, usage+" (env "+env+")")
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
	f.str(&f.o.LogFormat, "log-format", "ORDO_LOG_FORMAT", "log format: text (logfmt) or json (one object per line)")
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
	f.str(&f.o.EventsTopic, "events-topic", "ORDO_EVENTS_TOPIC", "topic every decided command is published to as an event, with as many partitions as the commands topic (created so); empty: no events")
	f.num(&f.o.Partitions, "partitions", "ORDO_PARTITIONS", "partitions of the commands topic when it is created; the most consumers that can share the work (never change it after accounts exist)")
	f.num(&f.o.ReplyPartitions, "reply-partitions", "ORDO_REPLY_PARTITIONS", "partitions of the replies topic when it is created")
	f.kafkaSecurity()
	f.topicSettings()
}

// topicSettings are how topics are created, by `ordo topics create` or a
// role started with --create-topics.
func (f *flagSet) topicSettings() {
	f.num(&f.o.ReplicationFactor, "replication-factor", "ORDO_REPLICATION_FACTOR", "replicas of each topic when it is created (-1: the brokers' default); from 3, min.insync.replicas is set to a majority")
	f.dur(&f.o.CommandsRetention, "commands-retention", "ORDO_COMMANDS_RETENTION", "retention.ms of the commands topic when it is created: longer than any consumer outage you must survive, since an unread command older than this is lost")
	f.dur(&f.o.RepliesRetention, "replies-retention", "ORDO_REPLIES_RETENTION", "retention.ms of the replies topic when it is created (replies are read within seconds)")
}

// createTopics registers --create-topics, for the long-running roles.
func (f *flagSet) createTopics() {
	f.boolean(&f.o.CreateTopics, "create-topics", "ORDO_CREATE_TOPICS", "create missing topics at start (default: refuse to start without them; see: ordo topics create)")
}

// topicLayout is the topics the options describe.
func (o Options) topicLayout() topics.Layout {
	return topics.Layout{
		Commands: o.CommandsTopic, Replies: o.RepliesTopic, Events: o.EventsTopic,
		Partitions: int32(o.Partitions), ReplyPartitions: int32(o.ReplyPartitions),
		ReplicationFactor: int16(o.ReplicationFactor),
		CommandsRetention: o.CommandsRetention, RepliesRetention: o.RepliesRetention,
	}
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

// readDatabaseURL registers --read-database-url, of the api role only.
func (f *flagSet) readDatabaseURL() {
	f.str(&f.o.ReadDatabaseURL, "read-database-url", "ORDO_READ_DATABASE_URL", "PostgreSQL read replica for the history reads (entries, ?as_of/?version, account lists, counterparties); they may lag the primary by its replication delay (default: --database-url)")
}

func (f *flagSet) api() {
	f.str(&f.o.HTTPAddr, "http-addr", "ORDO_HTTP_ADDR", "HTTP listen address")
	f.dur(&f.o.WaitBudget, "wait-budget", "ORDO_WAIT_BUDGET", "how long a request waits for its outcome, once the broker acknowledged its command, before answering 202 Accepted")
	f.dur(&f.o.ProduceTimeout, "produce-timeout", "ORDO_PRODUCE_TIMEOUT", "how long a request waits for the broker to acknowledge its command before answering 503 outcome_unknown")
	f.dur(&f.o.DrainTimeout, "drain-timeout", "ORDO_DRAIN_TIMEOUT", "on SIGTERM, how long requests in flight may take to get their outcomes before the process exits; at least --produce-timeout + --wait-budget + 1s")
	f.dur(&f.o.HTTPRead, "http-read-timeout", "ORDO_HTTP_READ_TIMEOUT", "longest time to read a request, body included; a slower client gets 400 and is disconnected")
	f.dur(&f.o.HTTPWrite, "http-write-timeout", "ORDO_HTTP_WRITE_TIMEOUT", "longest time from the end of a request's headers to the end of its response; at least --produce-timeout + --wait-budget + 1s, plus 5s")
	f.dur(&f.o.HTTPIdle, "http-idle-timeout", "ORDO_HTTP_IDLE_TIMEOUT", "how long a kept-alive connection may wait for its next request")
	f.num(&f.o.HTTPMaxConns, "http-max-conns", "ORDO_HTTP_MAX_CONNS", "most connections served at once; more wait in the listen backlog")
	f.num(&f.o.MaxWaiting, "max-waiting", "ORDO_MAX_WAITING", "most commands this instance keeps in flight (waiting for the broker or their outcomes); beyond it a new command is refused at once with 503 overloaded and Retry-After, and not submitted")
	f.dur(&f.o.Linger, "linger", "ORDO_LINGER", "how long the producer may hold a batch for more records")
	f.str(&f.o.InstanceID, "instance-id", "ORDO_INSTANCE_ID", "this API instance's ID for reply routing (default: random per start)")
	f.str(&f.o.TLSCert, "tls-cert", "ORDO_TLS_CERT", "PEM certificate (chain) to serve HTTPS with; reloaded when the file changes (with --tls-key; default: plain HTTP)")
	f.str(&f.o.TLSKey, "tls-key", "ORDO_TLS_KEY", "PEM private key of --tls-cert")
}

// auth is the API's access control (ordo api only: ordo dev runs open).
func (f *flagSet) auth() {
	f.boolean(&f.o.Auth, "auth", "ORDO_AUTH", `require an API key ("ordo apikey create") on every request but /healthz, /readyz and /openapi.json; --auth=false lets anyone who reaches the API read and move any account's money`)
	f.dur(&f.o.AuthCacheTTL, "auth-cache-ttl", "ORDO_AUTH_CACHE_TTL", "how long a verified API key is trusted before it is read again: a revoked key is refused within this (from 10ms to 1m)")
}

func (f *flagSet) consumer() {
	f.str(&f.o.Group, "group", "ORDO_GROUP", "consumer group")
	f.dur(&f.o.SessionTimeout, "session-timeout", "ORDO_SESSION_TIMEOUT", "how long the group waits for a silent consumer before moving its partitions: the failover time after a crash (lower fails over sooner, but a GC or network pause this long moves partitions needlessly; Apache Kafka accepts 6s to 30m by default)")
	f.dur(&f.o.Heartbeat, "heartbeat-interval", "ORDO_HEARTBEAT_INTERVAL", "consumer group heartbeat interval (keep it well under --session-timeout)")
	f.num(&f.o.MaxBatch, "max-batch", "ORDO_MAX_BATCH", "records after which an applier stops adding queued fetches to a transaction")
	f.num(&f.o.Appliers, "appliers", "ORDO_APPLIERS", "Postgres transactions a consumer keeps in flight; each commits everything queued for its partitions")
	f.num(&f.o.CacheAccounts, "cache-accounts", "ORDO_CACHE_ACCOUNTS", "accounts each claimed partition keeps in memory, so that a batch of cached accounts commits in one round trip without reading")
	f.dur(&f.o.HoldExpiryInterval, "hold-expiry-interval", "ORDO_HOLD_EXPIRY_INTERVAL", "how often a consumer looks for open holds past their expiry in its partitions and submits their expiry")
	f.dur(&f.o.OutcomeRetention, "outcome-retention", "ORDO_OUTCOME_RETENTION", "how long stored outcomes and idempotency keys (commands rows) are kept; each consumer deletes its partitions' older ones once their events are published. A retry with an older Idempotency-Key is a new command, and GET /v1/commands/{id} answers 404 for it; the journal and events are kept forever. 0 keeps them forever; else at least 24h")
	f.list(&f.o.ReplyTopics, "reply-topics", "ORDO_REPLY_TOPICS", "the only topics the consumer produces replies to, comma-separated; a record naming another is applied but not answered (default: --replies-topic)")
	f.dur(&f.o.RetryBackoffMax, "retry-backoff-max", "ORDO_RETRY_BACKOFF_MAX", "longest wait between retries of a stopped partition (from 500ms, doubled per failure, jittered)")
}

// outcomeRetention is the consumer's retention of stored outcomes.
func (o *Options) outcomeRetention() time.Duration {
	if o.outcomeRetentionTest > 0 {
		return o.outcomeRetentionTest
	}
	return o.OutcomeRetention
}

// minOutcomeRetention is the shortest --outcome-retention: a retry with
// an Idempotency-Key must stay idempotent for at least a day.
const minOutcomeRetention = 24 * time.Hour

// Default ops addresses: one port per role, so that an API and a consumer
// can run side by side on one host; ordo dev serves both roles on the API's.
const (
	defaultAPIOpsAddr      = ":9464"
	defaultConsumerOpsAddr = ":9465"
)

// ordo dev listens on this machine only: it serves without API keys.
const (
	defaultDevHTTPAddr = "127.0.0.1:8080"
	defaultDevOpsAddr  = "127.0.0.1:9464"
)

// ops registers --ops-addr with a role's default.
func (f *flagSet) ops(def string) {
	f.o.OpsAddr = def
	f.str(&f.o.OpsAddr, "ops-addr", "ORDO_OPS_ADDR", "listen address for /livez, /readyz and /metrics (empty: not served)")
}
