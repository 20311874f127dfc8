// Package producer submits ledger commands to the commands topic.
//
// Records are keyed by account ID and partitioned exactly as Kafka's Java
// client does (murmur2), so every command for an account lands on one
// partition whichever standard client produced it. Production is idempotent
// with acks=all: a retried produce never duplicates a record.
package producer

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// Config configures a Producer.
type Config struct {
	Brokers []string // required
	Topic   string   // commands topic; required
	// Linger is how long a partition's batch may wait for more records
	// (franz-go ProducerLinger). Default 0: send as soon as possible.
	Linger time.Duration
	// DeliveryTimeout bounds how long franz-go retries a record
	// (RecordDeliveryTimeout, overriding its unlimited default). Submit
	// itself returns when its context ends. At least 1s (franz-go's
	// minimum); default 10s.
	DeliveryTimeout time.Duration
	Logger          *slog.Logger // default slog.Default()
	// ClientOpts are added to the Kafka client's options last (TLS, SASL,
	// tracing hooks).
	ClientOpts []kgo.Opt
}

// Producer submits commands.
type Producer struct {
	cl    *kgo.Client
	topic string
}

// New connects a producer. It does not wait for the brokers.
func New(cfg Config) (*Producer, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, fmt.Errorf("producer: brokers and topic are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 10 * time.Second
	}
	opts := []kgo.Opt{
		kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout),
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(wire.Partitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(cfg.Linger),
		kgo.WithLogger(kslog.New(cfg.Logger.With("component", "producer"))),
	}
	cl, err := kgo.NewClient(append(opts, cfg.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return &Producer{cl: cl, topic: cfg.Topic}, nil
}

// Submit produces cmd and waits for the brokers to acknowledge it, or for
// ctx to end. On an error the command may or may not have been written;
// resubmitting the same command ID is safe because the consumer applies each
// ID once.
func (p *Producer) Submit(ctx context.Context, cmd ledger.Command, reply wire.Route) (wire.Position, error) {
	value, err := wire.EncodeCommand(cmd)
	if err != nil {
		return wire.Position{}, err
	}
	r := &kgo.Record{
		Key:   []byte(cmd.AccountID),
		Value: value,
		Headers: []kgo.RecordHeader{
			{Key: wire.HeaderCommandID, Value: []byte(cmd.ID)},
			{Key: wire.HeaderFingerprint, Value: []byte(hex.EncodeToString(cmd.Fingerprint()))},
		},
	}
	if reply.Topic != "" {
		r.Headers = append(r.Headers,
			kgo.RecordHeader{Key: wire.HeaderReplyTopic, Value: []byte(reply.Topic)},
			kgo.RecordHeader{Key: wire.HeaderReplyPartition, Value: []byte(strconv.Itoa(int(reply.Partition)))},
			kgo.RecordHeader{Key: wire.HeaderReplyTo, Value: []byte(reply.To)},
		)
		if reply.Formats != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: wire.HeaderReplyFormats, Value: []byte(reply.Formats)})
		}
	}
	// Wait for the acknowledgement or the end of ctx, whichever is first:
	// franz-go keeps retrying a buffered record while no broker answers and
	// does not abandon it when ctx ends. The record may still be written
	// after ctx ends; its command ID is applied once all the same.
	done := make(chan error, 1)
	p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			return wire.Position{}, fmt.Errorf("produce command %s: %v: %w", cmd.ID, err, ledger.ErrUnavailable)
		}
		return wire.Position{Partition: r.Partition, Offset: r.Offset}, nil
	case <-ctx.Done():
		return wire.Position{}, fmt.Errorf("produce command %s: no acknowledgement: %v: %w", cmd.ID, ctx.Err(), ledger.ErrUnavailable)
	}
}

// Ping checks that a broker answers.
func (p *Producer) Ping(ctx context.Context) error { return p.cl.Ping(ctx) }

// Close flushes nothing further and releases the client.
func (p *Producer) Close() { p.cl.Close() }
