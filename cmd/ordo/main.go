// Command ordo runs Ordo: race-free account commands over Kafka and
// Postgres. One binary, one subcommand per role.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordo-dev/ordo/devenv"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ordo:", err)
		os.Exit(exitCode(err))
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ordo",
		Short: "Race-free account commands: one writer per account, exactly-once effects",
		Long: `Ordo keys every account command onto a Kafka partition, applies each
partition's commands in log order with exactly one consumer, and stores the
results with the consumed offset in one Postgres transaction.

Development: "ordo dev" runs everything in one process.
Production: run "ordo migrate" once, then any number of "ordo api" and
"ordo consumer" processes against Apache Kafka and PostgreSQL.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(devCmd(), apiCmd(), consumerCmd(), migrateCmd(), topicsCmd(), partitionsCmd(), verifyCmd(), brokerCmd(), benchCmd(), apikeyCmd(), versionCmd())
	return root
}

// newLogger builds the process logger: text (logfmt) or JSON lines on
// stderr. franz-go and pgx log through it (kslog; postgres.Options.Logger).
func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// roleCmd builds a subcommand whose flags are registered by groups.
func roleCmd(use, short, long string, groups func(*flagSet), run func(ctx context.Context, o Options, log *slog.Logger) error) *cobra.Command {
	o := defaultOptions()
	fs := &flagSet{o: &o}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fs.err != nil {
				return fs.err
			}
			log, err := newLogger(o.LogLevel, o.LogFormat)
			if err != nil {
				return err
			}
			tel, err := tracingFromEnv(cmd.Context(), use)
			if err != nil {
				return err
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				tel.close(ctx)
			}()
			o.telemetry = tel
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return run(ctx, o, log)
		},
	}
	fs.fs = cmd.Flags()
	fs.common()
	groups(fs)
	return cmd
}

func devCmd() *cobra.Command {
	return roleCmd("dev", "Run the whole system in one process on embedded dependencies",
		`Starts an in-process Kafka-protocol broker (franz-go kfake, persisted under
--data-dir/kafka), a private PostgreSQL under --data-dir/pg unless DATABASE_URL
is set (as root it runs as the "postgres" user), migrates the schema, creates
the topics, and serves the API with one consumer. Ports of the embedded broker
and Postgres are chosen free, so two runs with different --http-addr and
--data-dir do not collide. Ctrl-C stops everything.

The API runs open (no API keys) and listens on 127.0.0.1 unless --http-addr
says otherwise: for development on this machine only.`,
		func(f *flagSet) {
			f.o.HTTPAddr = defaultDevHTTPAddr // this machine only: dev runs without API keys
			f.api()
			f.kafka()
			f.database()
			f.consumer()
			f.deadline()
			f.ops(defaultDevOpsAddr)
			f.str(&f.o.DataDir, "data-dir", "ORDO_DATA_DIR", "where the embedded broker and Postgres keep their data")
			f.fs.Lookup("brokers").Usage = "use these brokers instead of the embedded one (env ORDO_BROKERS)"
			f.fs.Lookup("database-url").Usage = "use this PostgreSQL instead of a private one (env DATABASE_URL)"
		},
		func(ctx context.Context, o Options, log *slog.Logger) error {
			d, err := NewDev(ctx, o, log)
			if err != nil {
				return err
			}
			defer d.Close()
			d.Banner(os.Stdout)
			return d.Run(ctx)
		})
}

func apiCmd() *cobra.Command {
	return roleCmd("api", "Serve the HTTP API", `Serves the HTTP API: validates requests, submits commands to the commands
topic and answers with their outcomes from the replies topic. Run as many as
you like side by side.

Every request needs an API key (Authorization: Bearer ordo_<id>_<secret>,
made with "ordo apikey create"), except /healthz, /readyz and /openapi.json;
the ops endpoints on --ops-addr need none. See SECURITY.md.`,
		func(f *flagSet) {
			f.api()
			f.auth()
			f.kafka()
			f.createTopics()
			f.database()
			f.readDatabaseURL()
			f.deadline()
			f.ops(defaultAPIOpsAddr)
		},
		func(ctx context.Context, o Options, log *slog.Logger) error {
			a, err := NewAPI(ctx, o, log)
			if err != nil {
				return err
			}
			defer a.Close()
			return a.Run(ctx)
		})
}

func consumerCmd() *cobra.Command {
	return roleCmd("consumer", "Apply commands to the ledger", `Joins the consumer group and applies the partitions it is assigned, each in
log order, a batch per Postgres transaction. Up to --partitions consumers
share the work; a consumer that loses a partition is fenced off in Postgres.`,
		func(f *flagSet) {
			f.kafka()
			f.createTopics()
			f.database()
			f.consumer()
			f.deadline()
			f.ops(defaultConsumerOpsAddr)
		},
		func(ctx context.Context, o Options, log *slog.Logger) error {
			c, err := NewConsumer(ctx, o, log)
			if err != nil {
				return err
			}
			defer c.Close()
			log.Info("consumer running", "group", o.Group, "topic", o.CommandsTopic)
			return c.Run(ctx)
		})
}

func migrateCmd() *cobra.Command {
	return roleCmd("migrate", "Create or upgrade the Postgres schema", `Applies the embedded schema migrations that have not been applied yet, in
order, in one transaction under an advisory lock. Safe to run repeatedly and
concurrently.`,
		func(f *flagSet) { f.databaseURL() },
		func(ctx context.Context, o Options, log *slog.Logger) error {
			if o.DatabaseURL == "" {
				return errors.New("--database-url (DATABASE_URL) is required")
			}
			return migrate(ctx, o.DatabaseURL, log)
		})
}

func brokerCmd() *cobra.Command {
	var cfg devenv.BrokerConfig
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a development Kafka-protocol broker (kfake)",
		Long: `Runs franz-go's kfake as a standalone single-node Kafka-protocol broker, for
development and for the test container image. It is not a production broker:
production runs on Apache Kafka or a Kafka-compatible service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			b, err := devenv.StartBroker(cfg)
			if err != nil {
				return err
			}
			defer b.Close()
			fmt.Printf("broker listening on %s, advertising %s\n", cfg.Listen, b.Addr())
			<-ctx.Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", envOr("ORDO_BROKER_LISTEN", "127.0.0.1:9092"), "address to listen on (env ORDO_BROKER_LISTEN)")
	f.StringVar(&cfg.Advertised, "advertised-addr", os.Getenv("ORDO_BROKER_ADVERTISED_ADDR"), "address clients are told to connect to, e.g. the published host port of a container (default: the listening address) (env ORDO_BROKER_ADVERTISED_ADDR)")
	f.StringVar(&cfg.DataDir, "data-dir", os.Getenv("ORDO_BROKER_DATA_DIR"), "persist the log and groups here (default: in memory) (env ORDO_BROKER_DATA_DIR)")
	f.IntVar(&cfg.Partitions, "partitions", 12, "default partition count of created topics")
	return cmd
}

// signalContext ends on Ctrl-C or SIGTERM.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
