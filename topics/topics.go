// Package topics creates, describes and checks the Kafka topics Ordo uses.
package topics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrMissing reports topics that do not exist when the caller may not
// create them.
var ErrMissing = errors.New("topic does not exist")

// Spec is how one of Ordo's topics should be.
type Spec struct {
	Name       string
	Partitions int32
	// FixedPartitions: the partition count is part of the data's meaning
	// (accounts map to partitions by it), so a different count is a problem,
	// not a difference.
	FixedPartitions bool
	// ReplicationFactor: -1 leaves it to the brokers' default.
	ReplicationFactor int16
	// Configs set on creation and compared by Check; see Layout.Specs.
	Configs map[string]string
}

// Layout is what Ordo's topics are built from.
type Layout struct {
	Commands, Replies string
	// Events, when set, is the events topic: as many partitions as the
	// commands topic (the event of a command from commands partition p goes
	// to events partition p), kept as long as the commands.
	Events                      string
	Partitions, ReplyPartitions int32
	// ReplicationFactor: -1 leaves it (and min.insync.replicas) to the
	// brokers' defaults.
	ReplicationFactor int16
	// CommandsRetention must outlast the longest time a partition may go
	// unconsumed: a command deleted before its partition's owner reads it
	// is lost (the owner stops the partition: offset_out_of_range).
	CommandsRetention time.Duration
	// RepliesRetention: replies are read within seconds of being written;
	// keeping them longer only costs disk.
	RepliesRetention time.Duration
}

// Specs returns the topics of the layout: commands first.
func (l Layout) Specs() []Spec {
	configs := func(retention time.Duration) map[string]string {
		c := map[string]string{
			// Ordo's topics are logs, never compacted: compaction keeps one
			// record per key, and would drop all but an account's last
			// command.
			"cleanup.policy": "delete",
			"retention.ms":   strconv.FormatInt(retention.Milliseconds(), 10),
		}
		if isr := MinInSyncReplicas(l.ReplicationFactor); isr > 0 {
			c["min.insync.replicas"] = strconv.Itoa(isr)
		}
		return c
	}
	specs := []Spec{
		{Name: l.Commands, Partitions: l.Partitions, FixedPartitions: true, ReplicationFactor: l.ReplicationFactor, Configs: configs(l.CommandsRetention)},
		{Name: l.Replies, Partitions: l.ReplyPartitions, ReplicationFactor: l.ReplicationFactor, Configs: configs(l.RepliesRetention)},
	}
	if l.Events != "" {
		specs = append(specs, l.EventsSpec(l.Partitions))
	}
	return specs
}

// EventsSpec is the events topic's spec for a commands topic of the given
// partition count.
func (l Layout) EventsSpec(partitions int32) Spec {
	c := l
	c.Events = ""
	s := c.Specs()[0]
	s.Name, s.Partitions = l.Events, partitions
	return s
}

// MinInSyncReplicas is the min.insync.replicas Ordo sets for a replication
// factor: a majority from three replicas up, so that an acknowledged write
// survives the loss of any minority of brokers and writes continue while
// one broker is down; 1 below three (2 of 2 would stop every write when
// one broker restarts). 0: not set (the brokers' default replication).
func MinInSyncReplicas(rf int16) int {
	switch {
	case rf < 1:
		return 0
	case rf < 3:
		return 1
	default:
		return int(rf)/2 + 1
	}
}

// Ensure makes sure every topic of specs exists, and returns each one's
// partition count as it is now. A missing topic is created when create is
// set, and is an error wrapping ErrMissing otherwise. An existing topic is
// left as it is, whatever its settings: Check reports how it differs.
func Ensure(ctx context.Context, adm *kadm.Client, specs []Spec, create bool, log *slog.Logger) (map[string]int32, error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	counts := make(map[string]int32, len(specs))
	var missing, created []string
	for _, s := range specs {
		if d, ok := details[s.Name]; ok && d.Err == nil && len(d.Partitions) > 0 {
			counts[s.Name] = int32(len(d.Partitions))
			continue
		}
		if !create {
			missing = append(missing, s.Name)
			continue
		}
		n, err := createTopic(ctx, adm, s)
		if err != nil {
			return nil, err
		}
		created = append(created, s.Name)
		if n == s.Partitions {
			log.Info("created topic", "topic", s.Name, "partitions", n, "replication_factor", s.ReplicationFactor)
		}
		counts[s.Name] = n
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s; create them with `ordo topics create` (or start the role with --create-topics)",
			ErrMissing, strings.Join(missing, ", "))
	}
	if len(created) > 0 {
		if err := waitListed(ctx, adm, created); err != nil {
			return nil, err
		}
	}
	return counts, nil
}

// waitListed waits until the brokers' metadata lists every topic of names:
// a broker may answer a request for a topic just created with "unknown
// topic" for a moment.
func waitListed(ctx context.Context, adm *kadm.Client, names []string) error {
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		details, err := adm.ListTopics(ctx, names...)
		listed := err == nil
		for _, name := range names {
			if d, ok := details[name]; !ok || d.Err != nil || len(d.Partitions) == 0 {
				listed = false
			}
		}
		if listed {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %s created but not listed by the brokers: %w", strings.Join(names, ", "), ctx.Err())
		case <-time.After(wait):
		}
	}
}

// createTopic creates s, or, when another process created it first, returns
// the partition count it has.
func createTopic(ctx context.Context, adm *kadm.Client, s Spec) (int32, error) {
	configs := make(map[string]*string, len(s.Configs))
	for k, v := range s.Configs {
		configs[k] = &v
	}
	res, err := adm.CreateTopic(ctx, s.Partitions, s.ReplicationFactor, configs, s.Name)
	if err == nil {
		err = res.Err
	}
	switch {
	case err == nil:
		return s.Partitions, nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		// Another process created it a moment ago: the brokers may not
		// list it yet.
		if werr := waitListed(ctx, adm, []string{s.Name}); werr != nil {
			return 0, fmt.Errorf("describe topic %s: %w", s.Name, werr)
		}
		details, derr := adm.ListTopics(ctx, s.Name)
		if derr == nil {
			derr = details.Error()
		}
		if derr != nil {
			return 0, fmt.Errorf("describe topic %s: %w", s.Name, derr)
		}
		n := int32(len(details[s.Name].Partitions))
		if n == 0 {
			return 0, fmt.Errorf("topic %s has no partitions", s.Name)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("create topic %s: %w", s.Name, err)
	}
}

// Description is a topic as the brokers report it.
type Description struct {
	Name              string
	Exists            bool
	Partitions        int32
	ReplicationFactor int16
	// Configs holds the value of every config Ordo sets (see Layout.Specs),
	// whether set on the topic or inherited from the brokers.
	Configs map[string]string
}

// describedConfigs are the configs Describe reports.
var describedConfigs = []string{"cleanup.policy", "retention.ms", "min.insync.replicas"}

// Describe reports the named topics.
func Describe(ctx context.Context, adm *kadm.Client, names ...string) ([]Description, error) {
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	out := make([]Description, len(names))
	var existing []string
	for i, name := range names {
		out[i] = Description{Name: name, Configs: map[string]string{}}
		d, ok := details[name]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			continue
		}
		out[i].Exists = true
		out[i].Partitions = int32(len(d.Partitions))
		out[i].ReplicationFactor = int16(d.Partitions.NumReplicas())
		existing = append(existing, name)
	}
	if len(existing) == 0 {
		return out, nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, existing...)
	if err != nil {
		return nil, fmt.Errorf("describe topic configs: %w", err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return nil, fmt.Errorf("describe configs of %s: %w", rc.Name, rc.Err)
		}
		for i := range out {
			if out[i].Name != rc.Name {
				continue
			}
			for _, c := range rc.Configs {
				for _, want := range describedConfigs {
					if c.Key == want && c.Value != nil {
						out[i].Configs[c.Key] = *c.Value
					}
				}
			}
		}
	}
	return out, nil
}

// Check lists how a topic differs from its spec in ways that matter: it is
// missing, its partition count differs where the count is fixed, it has
// fewer replicas or a lower min.insync.replicas than asked for, it keeps
// records for less time, or it is compacted. An empty list: fine.
func Check(s Spec, d Description) []string {
	if !d.Exists {
		return []string{"does not exist"}
	}
	var problems []string
	if s.FixedPartitions && d.Partitions != s.Partitions {
		problems = append(problems, fmt.Sprintf("has %d partitions, want %d (accounts map to partitions by the count)", d.Partitions, s.Partitions))
	}
	if s.ReplicationFactor > 0 && d.ReplicationFactor < s.ReplicationFactor {
		problems = append(problems, fmt.Sprintf("has replication factor %d, want at least %d", d.ReplicationFactor, s.ReplicationFactor))
	}
	if want, ok := s.Configs["min.insync.replicas"]; ok {
		if lower(d.Configs["min.insync.replicas"], want) {
			problems = append(problems, fmt.Sprintf("has min.insync.replicas %s, want at least %s", or(d.Configs["min.insync.replicas"], "unknown"), want))
		}
	}
	if want, ok := s.Configs["retention.ms"]; ok {
		got := d.Configs["retention.ms"]
		if got != "-1" && lower(got, want) {
			problems = append(problems, fmt.Sprintf("keeps records for retention.ms %s, want at least %s", or(got, "unknown"), want))
		}
	}
	if strings.Contains(d.Configs["cleanup.policy"], "compact") {
		problems = append(problems, fmt.Sprintf("has cleanup.policy %s: compaction drops all but one record per account", d.Configs["cleanup.policy"]))
	}
	sort.Strings(problems)
	return problems
}

// lower reports whether the integer got is below want; an unknown or
// unparsable value counts as lower.
func lower(got, want string) bool {
	g, err := strconv.ParseInt(got, 10, 64)
	if err != nil {
		return true
	}
	w, err := strconv.ParseInt(want, 10, 64)
	return err == nil && g < w
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// AddPartitions raises topic's partition count to n; a topic that already
// has n is left alone.
func AddPartitions(ctx context.Context, adm *kadm.Client, topic string, n int32) error {
	res, err := adm.UpdatePartitions(ctx, int(n), topic)
	if err == nil {
		var r kadm.CreatePartitionsResponse
		if r, err = res.On(topic, nil); err == nil {
			err = r.Err
		}
	}
	if err != nil && !errors.Is(err, kerr.InvalidPartitions) {
		return fmt.Errorf("add partitions to %s: %w", topic, err)
	}
	if err != nil {
		// InvalidPartitions: the count is already n (or more); say which.
		details, derr := adm.ListTopics(ctx, topic)
		if derr != nil {
			return fmt.Errorf("add partitions to %s: %w", topic, err)
		}
		if got := int32(len(details[topic].Partitions)); got != n {
			return fmt.Errorf("add partitions to %s: it has %d, cannot go to %d: %w", topic, got, n, err)
		}
	}
	return nil
}
