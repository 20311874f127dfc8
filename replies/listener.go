// Package replies receives the outcomes that the consumer publishes for one
// API instance's commands on the replies topic.
package replies

import (
	"context"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// Listener receives the outcomes of one API instance's commands.
//
// Routing: one shared reply topic. Each instance reads a single partition,
// chosen by hashing its instance ID, starting at that partition's end when it
// starts; it takes only the replies addressed to it (HeaderReplyTo). No topic
// or partition is created per process, no group coordination is needed, and
// an instance reads about 1/P of all replies (more if it shares its
// partition). See DESIGN.md for the trade-off.
type Listener struct {
	cl    *kgo.Client
	route wire.Route
	log   *slog.Logger
}

// NewListener positions a listener at the current end of its reply
// partition, so that every reply to a command submitted after it returns is
// seen.
//
// opts are added to its Kafka clients' options last (TLS, SASL, tracing
// hooks).
func NewListener(ctx context.Context, brokers []string, topic, instanceID string, log *slog.Logger, opts ...kgo.Opt) (*Listener, error) {
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	topics, err := adm.ListTopics(ctx, topic)
	if err == nil {
		err = topics.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("reply topic %s: %w", topic, err)
	}
	n := len(topics[topic].Partitions)
	if n == 0 {
		return nil, fmt.Errorf("reply topic %s has no partitions", topic)
	}
	h := fnv.New32a()
	h.Write([]byte(instanceID))
	partition := int32(h.Sum32() % uint32(n))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("reply topic %s end offsets: %w", topic, err)
	}
	end, ok := ends.Lookup(topic, partition)
	if !ok || end.Err != nil {
		return nil, fmt.Errorf("reply topic %s partition %d end offset: %v", topic, partition, end.Err)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(end.Offset)}}),
		kgo.FetchMaxWait(100 * time.Millisecond), // replies are latency-sensitive
		kgo.WithLogger(kslog.New(log.With("component", "replies"))),
	}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Listener{
		cl:    cl,
		route: wire.Route{Topic: topic, Partition: partition, To: instanceID, Formats: wire.ReplyFormats},
		log:   log,
	}, nil
}

// Route is where commands should ask for their replies, and the reply
// formats the listener reads (both).
func (l *Listener) Route() wire.Route { return l.route }

// Run hands each outcome addressed to this instance to deliver, with the
// fingerprint of the command it answers (nil if the reply has none), until
// ctx ends or Close is called. It reads both reply formats (see wire): a
// version 1 record carries one outcome and its fingerprint in
// HeaderFingerprint; a version 2 record the outcomes of several commands,
// each with its own fingerprint.
func (l *Listener) Run(ctx context.Context, deliver func(out ledger.Outcome, fingerprint []byte)) {
	for {
		fetches := l.cl.PollFetches(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fetches.EachError(func(_ string, _ int32, err error) {
			l.log.Warn("reply fetch error", "err", err)
		})
		fetches.EachRecord(func(r *kgo.Record) { l.handle(r, deliver) })
	}
}

// handle delivers the outcomes of one reply record addressed to this
// instance.
func (l *Listener) handle(r *kgo.Record, deliver func(out ledger.Outcome, fingerprint []byte)) {
	if headerValue(r, wire.HeaderReplyTo) != l.route.To {
		return
	}
	switch format := headerValue(r, wire.HeaderReplyFormat); format {
	case "", "1":
		out, err := wire.DecodeOutcome(r.Value)
		if err != nil {
			l.log.Warn("undecodable reply", "offset", r.Offset, "err", err)
			return
		}
		fp, err := hex.DecodeString(headerValue(r, wire.HeaderFingerprint))
		if err != nil || len(fp) == 0 {
			// From a consumer that does not copy the fingerprint: it
			// cannot be matched safely, so the request reads the store
			// after its wait budget instead.
			l.log.Debug("reply without a fingerprint", "offset", r.Offset, "command_id", out.CommandID)
			return
		}
		deliver(out, fp)
	case wire.ReplyFormatBatch:
		rs, err := wire.DecodeReplies(r.Value)
		if err != nil {
			l.log.Warn("undecodable reply", "offset", r.Offset, "format", format, "err", err)
			return
		}
		for _, rep := range rs {
			deliver(rep.Outcome, rep.Fingerprint)
		}
	default:
		// A format this instance did not advertise: its requests read the
		// store after their wait budget.
		l.log.Warn("reply in an unknown format", "offset", r.Offset, "format", format)
	}
}

// Close stops the listener.
func (l *Listener) Close() { l.cl.Close() }

func headerValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
