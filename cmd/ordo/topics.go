package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger/postgres"
	"github.com/ordo-dev/ordo/topics"
)

// errTopicProblems: `ordo topics check` found a topic that differs from its
// spec in a way that matters.
var errTopicProblems = errors.New("topics differ from what Ordo needs")

// newAdmin is a Kafka admin client for the options' brokers, with their
// TLS and SASL settings.
func newAdmin(o Options) (*kadm.Client, error) {
	sec, err := kafkaOpts(o)
	if err != nil {
		return nil, err
	}
	// kadm answers from metadata cached for MetadataMinAge (franz-go: 5s),
	// and a topic just created stays "unknown" there until it expires:
	// topics.Ensure waits for the brokers to list what it created, which
	// took 5 s per topic set (10 s of every `ordo dev` start).
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...), kgo.MetadataMinAge(100 * time.Millisecond)}, sec...)...)
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// topicsCmd is `ordo topics create|describe|check|repartition`.
func topicsCmd() *cobra.Command {
	o := defaultOptions()
	fs := &flagSet{o: &o}
	var (
		to     int
		dryRun bool
	)
	// run gives f an admin client (and, with db, a store), bounded in time.
	run := func(cmd *cobra.Command, db bool, f func(ctx context.Context, adm *kadm.Client, store *postgres.Store) error) error {
		if fs.err != nil {
			return fs.err
		}
		if len(o.Brokers) == 0 {
			return errors.New("--brokers (ORDO_BROKERS) is required")
		}
		if db && o.DatabaseURL == "" {
			return errors.New("--database-url (DATABASE_URL) is required")
		}
		ctx, stop := signalContext(cmd.Context())
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		adm, err := newAdmin(o)
		if err != nil {
			return err
		}
		defer adm.Close()
		var store *postgres.Store
		if db {
			if store, err = postgres.Open(ctx, o.DatabaseURL, postgres.Options{MaxConns: 2}); err != nil {
				return err
			}
			defer store.Close()
		}
		return f(ctx, adm, store)
	}
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Create, describe and check Ordo's Kafka topics; change the partition count",
		Long: `Ordo's roles refuse to start without their topics (unless started with
--create-topics). Create them once per deployment with "ordo topics create":

  commands  --partitions (fixed for the deployment's life: accounts map to
            partitions by it), retention --commands-retention (7 days), never
            compacted
  replies   --reply-partitions, retention --replies-retention (1 hour)

both with --replication-factor replicas (-1: the brokers' default) and, from
3 replicas, min.insync.replicas set to a majority. "ordo topics check" exits
non-zero when a topic is missing or differs in a way that matters.`,
		Args: cobra.NoArgs,
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create the missing topics; report how existing ones differ",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, false, func(ctx context.Context, adm *kadm.Client, _ *postgres.Store) error {
				log, err := newLogger(o.LogLevel, o.LogFormat)
				if err != nil {
					return err
				}
				if _, err := topics.Ensure(ctx, adm, o.topicLayout().Specs(), true, log); err != nil {
					return err
				}
				problems, err := describeTopics(ctx, cmd.OutOrStdout(), o, adm)
				if problems > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "ordo topics create: %d settings of existing topics differ from what Ordo needs (see PROBLEMS); existing topics are not changed\n", problems)
				}
				return err
			})
		},
	}
	describe := &cobra.Command{
		Use:   "describe",
		Short: "Show each topic's partitions, replication and settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, false, func(ctx context.Context, adm *kadm.Client, _ *postgres.Store) error {
				_, err := describeTopics(ctx, cmd.OutOrStdout(), o, adm)
				return err
			})
		},
	}
	check := &cobra.Command{
		Use:   "check",
		Short: "Exit non-zero if a topic is missing or differs in a way that matters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, false, func(ctx context.Context, adm *kadm.Client, _ *postgres.Store) error {
				problems, err := describeTopics(ctx, cmd.OutOrStdout(), o, adm)
				if err == nil && problems > 0 {
					err = fmt.Errorf("%w: %d problems", errTopicProblems, problems)
				}
				return err
			})
		},
	}
	repartition := &cobra.Command{
		Use:   "repartition --to N",
		Short: "Change the commands topic's partition count, safely",
		Long: `Raises the commands topic's partition count to --to and records it in
Postgres, after checking that nothing can apply out of order. Accounts map to
partitions by the count, so most accounts move to another partition: a
command still waiting in the old partition and a new one in the new partition
would have two writers. So the deployment must be drained first:

  1. Stop every API instance (nothing new reaches the log).
  2. Wait until "ordo partitions" shows lag 0 everywhere (the consumers apply
     everything, settle pending transfers and publish their steps).
  3. Stop every consumer.
  4. Run "ordo topics repartition --to N". It refuses unless the consumer
     group is empty, every partition's stored offset is at the log end, no
     transfer is pending and every outbox row is published; it checks the
     log ends again right before the change.
  5. Start the consumers, then the API instances, with --partitions N.

Kafka cannot lower a partition count. Run it again after an interruption:
it finishes what it started. --dry-run only checks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to < 1 {
				return errors.New("--to: the new partition count is required")
			}
			return run(cmd, true, func(ctx context.Context, adm *kadm.Client, store *postgres.Store) error {
				return repartitionTopics(ctx, cmd.OutOrStdout(), o, adm, store, int32(to), dryRun)
			})
		},
	}
	for _, c := range []*cobra.Command{create, describe, check, repartition} {
		fs.fs = c.Flags()
		fs.common()
		fs.kafka()
		if c == repartition {
			fs.databaseURL()
			fs.str(&o.Group, "group", "ORDO_GROUP", "the consumers' group, which must be empty")
			c.Flags().IntVar(&to, "to", 0, "the new partition count of the commands topic")
			c.Flags().BoolVar(&dryRun, "dry-run", false, "check that the deployment is drained, change nothing")
		}
	}
	cmd.AddCommand(create, describe, check, repartition)
	return cmd
}

// describeTopics prints the topics and returns how many problems they have.
func describeTopics(ctx context.Context, w io.Writer, o Options, adm *kadm.Client) (int, error) {
	specs := o.topicLayout().Specs()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	ds, err := topics.Describe(ctx, adm, names...)
	if err != nil {
		return 0, err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICAS\tMIN_ISR\tRETENTION\tCLEANUP\tPROBLEMS")
	problems := 0
	for i, d := range ds {
		ps := topics.Check(specs[i], d)
		problems += len(ps)
		if !d.Exists {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t%s\n", d.Name, joinOr(ps))
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", d.Name, d.Partitions, d.ReplicationFactor,
			or(d.Configs["min.insync.replicas"], "-"), retention(d.Configs["retention.ms"]), or(d.Configs["cleanup.policy"], "-"), joinOr(ps))
	}
	return problems, tw.Flush()
}

func joinOr(ps []string) string {
	if len(ps) == 0 {
		return "none"
	}
	out := ps[0]
	for _, p := range ps[1:] {
		out += "; " + p
	}
	return out
}

// retention renders a retention.ms value as a duration.
func retention(ms string) string {
	n, err := strconv.ParseInt(ms, 10, 64)
	switch {
	case err != nil:
		return or(ms, "-")
	case n < 0:
		return "forever"
	default:
		return (time.Duration(n) * time.Millisecond).String()
	}
}

// repartitionTopics is `ordo topics repartition`: see its help.
func repartitionTopics(ctx context.Context, w io.Writer, o Options, adm *kadm.Client, store *postgres.Store, to int32, dryRun bool) error {
	topic := o.CommandsTopic
	recorded, ok, err := store.RecordedPartitionCount(ctx, topic)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no partition count is recorded for %s: no role has run against it; start the deployment with --partitions %d instead", topic, to)
	}
	ds, err := topics.Describe(ctx, adm, topic)
	if err != nil {
		return err
	}
	if !ds[0].Exists {
		return fmt.Errorf("topic %s does not exist", topic)
	}
	current := ds[0].Partitions
	switch {
	case recorded == to && current == to:
		fmt.Fprintf(w, "%s already has %d partitions, recorded in Postgres; nothing to do\n", topic, to)
		return nil
	case to < recorded:
		return fmt.Errorf("--to %d: Kafka cannot lower a partition count (%s has %d)", to, topic, recorded)
	case current != recorded && current != to:
		return fmt.Errorf("%s has %d partitions, Postgres records %d and --to is %d: find out who changed it before going on", topic, current, recorded, to)
	}
	ends, err := checkDrained(ctx, w, o, adm, store, current)
	if err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintf(w, "dry run: %s can go from %d to %d partitions now\n", topic, recorded, to)
		return nil
	}
	// Again, right before the change: a command produced since the first
	// check (an API instance still running) would sit in its account's old
	// partition.
	again, err := committedEnds(ctx, adm, topic)
	if err != nil {
		return err
	}
	for p, end := range ends {
		if again[p] != end {
			return fmt.Errorf("partition %d of %s grew from %d to %d during the check: an API instance or another producer is still writing; stop it and start over", p, topic, end, again[p])
		}
	}
	if current != to {
		if err := topics.AddPartitions(ctx, adm, topic, to); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: partitions %d -> %d\n", topic, current, to)
	}
	// The events of commands partition p go to events partition p: the
	// events topic follows. Events published before the switch stay in
	// their old partitions; readers order an account's events by version.
	if o.EventsTopic != "" {
		eds, err := topics.Describe(ctx, adm, o.EventsTopic)
		if err != nil {
			return err
		}
		if eds[0].Exists && eds[0].Partitions != to {
			if err := topics.AddPartitions(ctx, adm, o.EventsTopic, to); err != nil {
				return err
			}
			fmt.Fprintf(w, "%s: partitions %d -> %d\n", o.EventsTopic, eds[0].Partitions, to)
		}
	}
	if err := store.RecordPartitionCount(ctx, topic, recorded, to); err != nil {
		return err
	}
	fmt.Fprintf(w, "recorded %d partitions for %s in Postgres\nnow start the consumers, then the API instances, with --partitions %d\n", to, topic, to)
	return nil
}

// checkDrained refuses unless the consumer group is empty, every
// partition's stored offset is at its log end, no transfer is pending and
// the outbox is published. It returns the log ends it saw.
func checkDrained(ctx context.Context, w io.Writer, o Options, adm *kadm.Client, store *postgres.Store, partitions int32) (map[int32]int64, error) {
	groups, err := adm.DescribeGroups(ctx, o.Group)
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", o.Group, err)
	}
	if g, ok := groups[o.Group]; ok && g.Err == nil && len(g.Members) > 0 {
		return nil, fmt.Errorf("consumer group %s has %d members: stop every consumer first", o.Group, len(g.Members))
	}
	ends, err := committedEnds(ctx, adm, o.CommandsTopic)
	if err != nil {
		return nil, err
	}
	states, err := store.Partitions(ctx, o.CommandsTopic)
	if err != nil {
		return nil, err
	}
	next := map[int32]int64{}
	for _, s := range states {
		next[s.Partition] = s.NextOffset
	}
	var behind []string
	for p := int32(0); p < partitions; p++ {
		if end := ends[p]; end > 0 && next[p] < end {
			behind = append(behind, fmt.Sprintf("%d (%d behind)", p, end-max(next[p], 0)))
		}
	}
	if len(behind) > 0 {
		return nil, fmt.Errorf("not drained: partitions %v have commands not yet applied; start the consumers (with the API instances stopped) until `ordo partitions` shows lag 0", behind)
	}
	transfers, outbox, err := store.Unsettled(ctx)
	if err != nil {
		return nil, err
	}
	if transfers > 0 || outbox > 0 {
		return nil, fmt.Errorf("not drained: %d transfers pending, %d outbox rows unpublished; run the consumers until both are 0", transfers, outbox)
	}
	fmt.Fprintf(w, "drained: group %s empty, %d partitions at their log end, no transfer pending, outbox published\n", o.Group, partitions)
	return ends, nil
}

// committedEnds is each partition's last stable offset.
func committedEnds(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, error) {
	listed, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	ends := map[int32]int64{}
	var lerr error
	listed.Each(func(l kadm.ListedOffset) {
		if l.Err != nil {
			lerr = l.Err
		}
		ends[l.Partition] = l.Offset
	})
	if lerr != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, lerr)
	}
	return ends, nil
}
