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
	OpsAddr         string
	Brokers         []string
	DatabaseURL     string
	DataDir         string
	Partitions      int
	ReplyPartitions int
	CommandsTopic   string
	RepliesTopic    string
	ReplyTopics     []string // reply topics the consumer may answer on; empty: RepliesTopic
	Group           string
	WaitBudget      time.Duration
	SessionTimeout  time.Duration
	Heartbeat       time.Duration
	RetryBackoffMax time.Duration
	MaxBatch        int
	Appliers        int
	CacheAccounts   int
	DBMaxConns      int
	Linger          time.Duration
	InstanceID      string
	LogLevel        string
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
		SessionTimeout:  10 * time.Second,
		Heartbeat:       time.Second,
		RetryBackoffMax: 30 * time.Second,
		MaxBatch:        1000,
		Appliers:        1,
		CacheAccounts:   100_000,
		DBMaxConns:      16,
		LogLevel:        "info",
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
	if o.WaitBudget <= 0 || o.SessionTimeout <= 0 || o.Heartbeat <= 0 || o.RetryBackoffMax <= 0 {
		errs = append(errs, errors.New("durations must be positive"))
	}
	if o.MaxBatch < 1 || o.DBMaxConns < 1 || o.Appliers < 1 || o.CacheAccounts < 1 {
		errs = append(errs, errors.New("--max-batch, --appliers, --cache-accounts and --db-max-conns must be at least 1"))
	}
	return errors.Join(errs...)
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
}

func (f *flagSet) databaseURL() {
	f.str(&f.o.DatabaseURL, "database-url", "DATABASE_URL", "PostgreSQL URL")
}

func (f *flagSet) api() {
	f.str(&f.o.HTTPAddr, "http-addr", "ORDO_HTTP_ADDR", "HTTP listen address")
	f.dur(&f.o.WaitBudget, "wait-budget", "ORDO_WAIT_BUDGET", "how long a request waits for its outcome before answering 202 Accepted")
	f.dur(&f.o.Linger, "linger", "ORDO_LINGER", "how long the producer may hold a batch for more records")
	f.str(&f.o.InstanceID, "instance-id", "ORDO_INSTANCE_ID", "this API instance's ID for reply routing (default: random per start)")
}

func (f *flagSet) consumer() {
	f.str(&f.o.Group, "group", "ORDO_GROUP", "consumer group")
	f.dur(&f.o.SessionTimeout, "session-timeout", "ORDO_SESSION_TIMEOUT", "how long the group waits for a silent consumer before moving its partitions: the failover time after a crash (lower fails over sooner, but a GC or network pause this long moves partitions needlessly; Apache Kafka accepts 6s to 30m by default)")
	f.dur(&f.o.Heartbeat, "heartbeat-interval", "ORDO_HEARTBEAT_INTERVAL", "consumer group heartbeat interval (keep it well under --session-timeout)")
	f.num(&f.o.MaxBatch, "max-batch", "ORDO_MAX_BATCH", "records after which an applier stops adding queued fetches to a transaction")
	f.num(&f.o.Appliers, "appliers", "ORDO_APPLIERS", "Postgres transactions a consumer keeps in flight; each commits everything queued for its partitions")
	f.num(&f.o.CacheAccounts, "cache-accounts", "ORDO_CACHE_ACCOUNTS", "accounts each claimed partition keeps in memory, so that a batch of cached accounts commits in one round trip without reading")
	f.list(&f.o.ReplyTopics, "reply-topics", "ORDO_REPLY_TOPICS", "the only topics the consumer produces replies to, comma-separated; a record naming another is applied but not answered (default: --replies-topic)")
	f.dur(&f.o.RetryBackoffMax, "retry-backoff-max", "ORDO_RETRY_BACKOFF_MAX", "longest wait between retries of a stopped partition (from 500ms, doubled per failure, jittered)")
}

// Default ops addresses: one port per role, so that an API and a consumer
// can run side by side on one host; ordo dev serves both roles on the API's.
const (
	defaultAPIOpsAddr      = ":9464"
	defaultConsumerOpsAddr = ":9465"
)

// ops registers --ops-addr with a role's default.
func (f *flagSet) ops(def string) {
	f.o.OpsAddr = def
	f.str(&f.o.OpsAddr, "ops-addr", "ORDO_OPS_ADDR", "listen address for /livez, /readyz and /metrics (empty: not served)")
}
