package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/ordo-dev/ordo/ledger/postgres"
	"github.com/ordo-dev/ordo/wire"
)

// Store is what the processor needs from the ledger's storage.
type Store interface {
	ClaimPartition(ctx context.Context, topic string, partition, generation int32, member string, force bool, topicID string) (postgres.Claim, error)
	ApplyBatches(ctx context.Context, batches []postgres.PartitionBatch) ([][]postgres.Result, error)
	Partitions(ctx context.Context, topic string) ([]postgres.PartitionState, error)
	Stats() postgres.ApplyStats
}

// Config configures a Processor. Zero durations and sizes take the defaults
// named on each field.
type Config struct {
	Brokers []string // required
	Topic   string   // commands topic; required
	Group   string   // consumer group; required

	// SessionTimeout: how long the group waits for a silent member before
	// reassigning its partitions. Default 45s (franz-go's default).
	SessionTimeout time.Duration
	// HeartbeatInterval: default 3s (franz-go's default).
	HeartbeatInterval time.Duration
	// MaxBatch: an applier stops taking queued fetches into a transaction
	// once it holds this many records; the last fetch taken may carry it
	// past the mark (up to twice it). Default 1000.
	MaxBatch int
	// Appliers: how many transactions may be in flight at once. Each
	// partition is applied by one applier (partition modulo Appliers), which
	// commits everything queued for its partitions in one transaction.
	// Default 1: on the 2-core machine in BENCHMARKS.md one applier, with
	// the biggest transactions, beat two and four.
	Appliers int
	// CacheAccounts: how many accounts each claimed partition keeps in
	// memory, so that a batch touching only cached accounts is decided
	// without reading and committed in one round trip (see
	// postgres.Cache). The cache is dropped whenever the partition is
	// claimed again. Default postgres.DefaultCacheAccounts (100,000).
	CacheAccounts int
	// BatchTimeout: how long one batch transaction may take before it is
	// abandoned and retried. Default 30s.
	BatchTimeout time.Duration
	// RetryBackoff: the wait before retrying a batch after a database
	// error. Default 500ms.
	RetryBackoff time.Duration

	Logger *slog.Logger // default slog.Default()
}

func (c *Config) setDefaults() error {
	if len(c.Brokers) == 0 || c.Topic == "" || c.Group == "" {
		return errors.New("consumer: brokers, topic and group are required")
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 45 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 3 * time.Second
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1000
	}
	if c.Appliers <= 0 {
		c.Appliers = 1
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 30 * time.Second
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Processor is one consumer-group member applying commands.
type Processor struct {
	cfg   Config
	store Store
	log   *slog.Logger
	cl    *kgo.Client
	adm   *kadm.Client

	numPartitions int
	topicID       string // Kafka topic ID; empty if the broker has none

	appliers []*applier
	wg       sync.WaitGroup // appliers and the replier
	part     kgo.TopicPartitioner
	// replies carries committed batches from the appliers to the replier,
	// which publishes their outcomes while the appliers start their next
	// transactions.
	replies     chan committedBatch
	quitReplier chan struct{}

	metrics *metrics

	mu      sync.Mutex
	workers map[int32]*worker
	stopped map[int32]error // partitions halted by an error that needs an operator
}

// New creates a processor and reads the topic's partition count. It joins
// the group when Run starts polling.
func New(ctx context.Context, cfg Config, store Store) (*Processor, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	p := &Processor{cfg: cfg, store: store, log: cfg.Logger.With("component", "consumer"), workers: map[int32]*worker{}, stopped: map[int32]error{}}
	p.metrics = newMetrics(p)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.HeartbeatInterval),
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		// Only committed records are commands: a transactional producer
		// that aborts has submitted nothing (franz-go reads uncommitted by
		// default). An open transaction holds up the partition's records
		// after it until it ends (the last stable offset).
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// The offset to resume from comes from Postgres (see adjustOffsets).
		// If it is outside the log, stop rather than silently skip or replay.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.AdjustFetchOffsetsFn(p.adjustOffsets),
		kgo.OnPartitionsRevoked(p.onRevoked),
		kgo.OnPartitionsLost(p.onLost),
		// Replies are produced to the partition the requester named, at once:
		// a requester is waiting for each. (franz-go lingers 10ms by default;
		// a committed batch's replies are produced together and batch
		// anyway.)
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.WithLogger(kslog.New(p.log)),
	)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	p.cl = cl
	p.adm = kadm.NewClient(cl)
	topics, err := p.adm.ListTopics(ctx, cfg.Topic)
	if err == nil {
		err = topics.Error()
	}
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("consumer: describe topic %s: %w", cfg.Topic, err)
	}
	p.numPartitions = len(topics[cfg.Topic].Partitions)
	if p.numPartitions == 0 {
		cl.Close()
		return nil, fmt.Errorf("consumer: topic %s does not exist", cfg.Topic)
	}
	if id := topics[cfg.Topic].ID; id != (kadm.TopicID{}) {
		p.topicID = id.String()
	}
	p.part = wire.Partitioner().ForTopic(cfg.Topic)
	p.replies = make(chan committedBatch, 256)
	p.quitReplier = make(chan struct{})
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.runReplier() }()
	for i := 0; i < cfg.Appliers; i++ {
		a := newApplier(p)
		p.appliers = append(p.appliers, a)
		p.wg.Add(1)
		go func() { defer p.wg.Done(); a.run() }()
	}
	return p, nil
}

// Run polls until ctx ends or Close is called.
func (p *Processor) Run(ctx context.Context) error {
	for {
		fetches := p.cl.PollRecords(ctx, p.cfg.MaxBatch)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			p.cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			p.onFetchError(partition, err)
		})
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			p.mu.Lock()
			w := p.workers[fp.Partition]
			p.mu.Unlock()
			if w == nil {
				return // not ours (any more): the new owner fetches it again
			}
			// Decoding here overlaps it with the applier's transaction.
			f := fetched{w: w, recs: fp.Records, decoded: make([]postgres.Record, len(fp.Records))}
			for i, r := range fp.Records {
				f.decoded[i] = p.decode(r)
			}
			select {
			case w.applier.in <- f:
			case <-ctx.Done():
			}
		})
		p.cl.AllowRebalance()
	}
}

// Close leaves the group and stops the appliers. Applied batches are safe;
// records fetched but not applied are fetched again by the next owner.
func (p *Processor) Close() {
	p.cl.Close() // leaves the group, running onRevoked
	p.stopAllWorkers()
	for _, a := range p.appliers {
		close(a.quit)
	}
	close(p.quitReplier)
	p.wg.Wait()
}

func (p *Processor) onFetchError(partition int32, err error) {
	if errors.Is(err, kerr.OffsetOutOfRange) {
		p.mu.Lock()
		w := p.workers[partition]
		p.mu.Unlock()
		stored := int64(-1)
		if w != nil {
			stored = w.claim.NextOffset
		}
		p.log.Error("stored offset is outside the log; partition stopped, nothing skipped. Was the topic recreated or its data lost? Restore the log or reset the partition's row in consumer_partitions deliberately.",
			"topic", p.cfg.Topic, "partition", partition, "stored_next_offset", stored, "err", err)
		p.cl.PauseFetchPartitions(map[string][]int32{p.cfg.Topic: {partition}})
		p.stopWorkers([]int32{partition})
		p.mu.Lock()
		p.stopped[partition] = fmt.Errorf("partition %d: stored next offset %d is outside the log: %w", partition, stored, err)
		p.mu.Unlock()
		return
	}
	if !errors.Is(err, context.Canceled) {
		p.log.Warn("fetch error", "partition", partition, "err", err)
	}
}

// adjustOffsets runs after each assignment, before fetching: it claims each
// new partition in Postgres and returns the stored offset to resume from.
func (p *Processor) adjustOffsets(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	member, generation := p.cl.GroupMetadata()
	for topic, parts := range assigned {
		if topic != p.cfg.Topic {
			continue
		}
		for partition := range parts {
			claim, err := p.claim(ctx, partition, generation, member)
			if errors.Is(err, postgres.ErrTopicRecreated) {
				p.log.Error("partition stopped: its stored offsets belong to an earlier incarnation of the topic; nothing is applied, nothing skipped. Restore the topic, or reset the partition's row in consumer_partitions deliberately.",
					"partition", partition, "err", err)
				p.mu.Lock()
				p.stopped[partition] = err
				p.mu.Unlock()
				p.cl.PauseFetchPartitions(map[string][]int32{topic: {partition}})
				continue
			}
			if err != nil {
				p.log.Error("partition not claimed; it stays idle here until the next rebalance", "partition", partition, "generation", generation, "err", err)
				p.cl.PauseFetchPartitions(map[string][]int32{topic: {partition}})
				continue
			}
			off := kgo.NewOffset().AtStart()
			if claim.NextOffset >= 0 {
				off = kgo.NewOffset().At(claim.NextOffset).WithEpoch(-1)
			}
			parts[partition] = off
			p.mu.Lock()
			delete(p.stopped, partition)
			p.mu.Unlock()
			p.startWorker(claim)
			p.resumeIfPaused(partition)
			p.log.Info("partition claimed", "partition", partition, "epoch", claim.Epoch, "generation", generation, "next_offset", claim.NextOffset)
		}
	}
	return assigned, nil
}

// claim claims a partition, retrying transient errors until ctx ends. A
// claim refused for a stale generation is forced only when the member that
// holds the claim is no longer in the group (the group was deleted and its
// generations restarted). That check only serves liveness: if it is wrong,
// the rightful owner's next claim fences this one off again.
func (p *Processor) claim(ctx context.Context, partition, generation int32, member string) (postgres.Claim, error) {
	for {
		claim, err := p.store.ClaimPartition(ctx, p.cfg.Topic, partition, generation, member, false, p.topicID)
		if errors.Is(err, postgres.ErrStaleGeneration) {
			if p.holderGone(ctx, partition) {
				p.log.Warn("forcing the claim: its holder is not in the group (was the group recreated?)", "partition", partition)
				return p.store.ClaimPartition(ctx, p.cfg.Topic, partition, generation, member, true, p.topicID)
			}
			return postgres.Claim{}, err
		}
		if err == nil || ctx.Err() != nil || errors.Is(err, postgres.ErrTopicRecreated) {
			return claim, err
		}
		p.log.Warn("claim failed; retrying", "partition", partition, "err", err)
		select {
		case <-time.After(p.cfg.RetryBackoff):
		case <-ctx.Done():
			return postgres.Claim{}, ctx.Err()
		}
	}
}

func (p *Processor) holderGone(ctx context.Context, partition int32) bool {
	groups, err := p.adm.DescribeGroups(ctx, p.cfg.Group)
	if err != nil {
		return false
	}
	g, ok := groups[p.cfg.Group]
	if !ok || g.Err != nil {
		return false
	}
	holder, err := p.holder(ctx, partition)
	if err != nil {
		return false
	}
	for _, m := range g.Members {
		if m.MemberID == holder {
			return false
		}
	}
	return true
}

// holder reads which member holds the stored claim.
func (p *Processor) holder(ctx context.Context, partition int32) (string, error) {
	states, err := p.store.Partitions(ctx, p.cfg.Topic)
	if err != nil {
		return "", err
	}
	for _, s := range states {
		if s.Partition == partition {
			return s.Member, nil
		}
	}
	return "", errors.New("no claim stored")
}

func (p *Processor) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	p.stopWorkers(revoked[p.cfg.Topic])
	// Everything the stopped workers applied is marked; commit it to the
	// group while we still own the partitions.
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		p.log.Debug("commit offsets to the group on revoke", "err", err)
	}
}

func (p *Processor) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	p.stopWorkers(lost[p.cfg.Topic])
}

func (p *Processor) startWorker(claim postgres.Claim) {
	w := &worker{claim: claim, cache: postgres.NewCache(claim, p.cfg.CacheAccounts), applier: p.appliers[int(claim.Partition)%len(p.appliers)]}
	p.mu.Lock()
	if old := p.workers[claim.Partition]; old != nil {
		old.halted.Store(true)
	}
	p.workers[claim.Partition] = w
	p.mu.Unlock()
}

// stopWorkers stops the workers of the given partitions and waits until
// each has finished its batch in flight. An empty list stops nothing: a
// cooperative rebalance revokes nothing at the end of every session.
func (p *Processor) stopWorkers(partitions []int32) {
	p.stopMatching(func(pt int32) bool { return slices.Contains(partitions, pt) })
}

// stopAllWorkers stops every worker, as stopWorkers does.
func (p *Processor) stopAllWorkers() { p.stopMatching(func(int32) bool { return true }) }

func (p *Processor) stopMatching(match func(int32) bool) {
	p.mu.Lock()
	waitFor := map[*applier]bool{}
	for partition, w := range p.workers {
		if match(partition) {
			w.halted.Store(true)
			waitFor[w.applier] = true
			delete(p.workers, partition)
		}
	}
	p.mu.Unlock()
	for a := range waitFor {
		a.wait()
	}
}

// dropFenced removes a worker that found itself fenced off.
func (p *Processor) dropFenced(w *worker) {
	w.halted.Store(true)
	p.mu.Lock()
	if p.workers[w.claim.Partition] == w {
		delete(p.workers, w.claim.Partition)
	}
	p.mu.Unlock()
	p.cl.PauseFetchPartitions(map[string][]int32{p.cfg.Topic: {w.claim.Partition}})
}

// Owned lists the partitions this processor is applying now.
func (p *Processor) Owned() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	owned := make([]int32, 0, len(p.workers))
	for partition := range p.workers {
		owned = append(owned, partition)
	}
	return owned
}

// Stopped reports the partitions halted by an error that needs an operator,
// such as a stored offset outside the log.
func (p *Processor) Stopped() map[int32]error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.stopped)
}

// PartitionOf is the commands-topic partition an account's commands belong on.
func (p *Processor) PartitionOf(accountID string) int {
	return p.part.Partition(&kgo.Record{Key: []byte(accountID)}, p.numPartitions)
}

// resumeIfPaused resumes a partition paused under an earlier assignment
// (fenced, unclaimed or out of range), now that it is claimed again.
func (p *Processor) resumeIfPaused(partition int32) {
	if slices.Contains(p.cl.PauseFetchPartitions(nil)[p.cfg.Topic], partition) {
		go p.cl.ResumeFetchPartitions(map[string][]int32{p.cfg.Topic: {partition}})
	}
}
