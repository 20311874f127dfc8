package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

// partitionsCmd is `ordo partitions`: the operator's view of the commands
// topic's partitions, and `ordo partitions release N...`.
func partitionsCmd() *cobra.Command {
	o := defaultOptions()
	fs := &flagSet{o: &o}
	run := func(cmd *cobra.Command, f func(ctx context.Context, store *postgres.Store) error) error {
		if fs.err != nil {
			return fs.err
		}
		if o.DatabaseURL == "" {
			return errors.New("--database-url (DATABASE_URL) is required")
		}
		ctx, stop := signalContext(cmd.Context())
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		store, err := postgres.Open(ctx, o.DatabaseURL, postgres.Options{MaxConns: 2})
		if err != nil {
			return err
		}
		defer store.Close()
		return f(ctx, store)
	}
	cmd := &cobra.Command{
		Use:   "partitions",
		Short: "List the commands topic's partitions: owner, epoch, offsets, lag, state",
		Long: `Lists each partition of the commands topic: the consumer-group member that
holds its claim in Postgres, the claim's epoch and generation, the stored next
offset, the log end (last stable offset), the lag between them, the member the
group assigns it to now, and its state:

  owned       the member the group assigns it to holds the claim
  unclaimed   assigned, but the claim is another member's: the assignee is
              claiming it or has stopped it (see its
              ordo_consumer_partition_stopped metric and its logs)
  unassigned  no member of the group is assigned it (no consumer running?)

With --brokers unset, only the Postgres columns are shown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, func(ctx context.Context, store *postgres.Store) error {
				return listPartitions(ctx, cmd.OutOrStdout(), o, store)
			})
		},
	}
	release := &cobra.Command{
		Use:   "release PARTITION...",
		Short: "Make a stopped partition's owner claim it again now",
		Long: `Increments each partition's stored claim epoch. The consumer that holds it
(running or stopped) claims it again at once and resumes at the stored next
offset: nothing is skipped, nothing applied twice. Use it after fixing what
stopped a partition for good (offset_out_of_range: restore the log or reset
next_offset; topic_recreated: reset the row), or to retry any stopped
partition before its backoff ends.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var partitions []int32
			for _, a := range args {
				n, err := strconv.ParseInt(a, 10, 32)
				if err != nil || n < 0 {
					return fmt.Errorf("partition %q: want a partition number", a)
				}
				partitions = append(partitions, int32(n))
			}
			return run(cmd, func(ctx context.Context, store *postgres.Store) error {
				for _, partition := range partitions {
					epoch, err := store.ReleasePartition(ctx, o.CommandsTopic, partition)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "partition %d released (epoch %d)\n", partition, epoch)
				}
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{cmd, release} {
		fs.fs = c.Flags()
		fs.common()
		fs.databaseURL()
		fs.str(&o.CommandsTopic, "commands-topic", "ORDO_COMMANDS_TOPIC", "topic commands are submitted to")
		if c == cmd {
			fs.list(&o.Brokers, "brokers", "ORDO_BROKERS", "Kafka bootstrap brokers, comma-separated (for the log end, lag and assignments)")
			fs.str(&o.Group, "group", "ORDO_GROUP", "consumer group")
			fs.kafkaSecurity()
		}
	}
	cmd.AddCommand(release)
	return cmd
}

// partitionRow is one line of `ordo partitions`.
type partitionRow struct {
	ledger.PartitionState
	claimed  bool
	end      int64 // -1: unknown
	assignee string
	state    string
}

func listPartitions(ctx context.Context, w io.Writer, o Options, store *postgres.Store) error {
	states, err := store.Partitions(ctx, o.CommandsTopic)
	if err != nil {
		return err
	}
	rows := map[int32]*partitionRow{}
	for _, s := range states {
		rows[s.Partition] = &partitionRow{PartitionState: s, claimed: true, end: -1}
	}
	kafkaKnown := false
	if len(o.Brokers) > 0 {
		if err := describeKafka(ctx, o, rows); err != nil {
			fmt.Fprintln(os.Stderr, "ordo partitions: kafka:", err)
		} else {
			kafkaKnown = true
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tMEMBER\tEPOCH\tGENERATION\tNEXT_OFFSET\tLOG_END\tLAG\tASSIGNED_TO\tSTATE")
	for partition := int32(0); partition <= maxPartition(rows); partition++ {
		r := rows[partition]
		if r == nil {
			continue
		}
		dash := func(v int64, ok bool) string {
			if !ok {
				return "-"
			}
			return strconv.FormatInt(v, 10)
		}
		member, epoch, gen, next := "-", "-", "-", "-"
		if r.claimed {
			member, epoch, gen, next = r.Member, dash(r.Epoch, true), dash(int64(r.Generation), true), dash(r.NextOffset, r.NextOffset >= 0)
		}
		lag := "-"
		if r.end >= 0 {
			lag = strconv.FormatInt(max(r.end-max(r.NextOffset, 0), 0), 10)
		}
		assignee, state := "-", "-"
		if kafkaKnown {
			assignee, state = or(r.assignee, "-"), r.state
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", partition, member, epoch, gen, next, dash(r.end, r.end >= 0), lag, assignee, state)
	}
	return tw.Flush()
}

// describeKafka fills in each partition's log end and the member the group
// assigns it to.
func describeKafka(ctx context.Context, o Options, rows map[int32]*partitionRow) error {
	kopts, err := kafkaClientOpts(o)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...)}, kopts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, o.CommandsTopic)
	if err != nil {
		return err
	}
	ends.Each(func(e kadm.ListedOffset) {
		if e.Topic != o.CommandsTopic || e.Err != nil {
			return
		}
		r := rows[e.Partition]
		if r == nil {
			r = &partitionRow{PartitionState: ledger.PartitionState{Partition: e.Partition, NextOffset: -1}}
			rows[e.Partition] = r
		}
		r.end = e.Offset
	})
	groups, err := adm.DescribeGroups(ctx, o.Group)
	if err != nil {
		return err
	}
	if g, ok := groups[o.Group]; ok && g.Err == nil {
		for _, m := range g.Members {
			a, ok := m.Assigned.AsConsumer()
			if !ok {
				continue
			}
			for _, t := range a.Topics {
				if t.Topic != o.CommandsTopic {
					continue
				}
				for _, partition := range t.Partitions {
					if r := rows[partition]; r != nil {
						r.assignee = m.MemberID
					}
				}
			}
		}
	}
	for _, r := range rows {
		switch {
		case r.assignee == "":
			r.state = "unassigned"
		case r.claimed && r.Member == r.assignee:
			r.state = "owned"
		default:
			r.state = "unclaimed"
		}
	}
	return nil
}

func maxPartition(rows map[int32]*partitionRow) int32 {
	m := int32(-1)
	for p := range rows {
		m = max(m, p)
	}
	return m
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
