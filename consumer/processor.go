package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// Store is what the processor needs from the ledger's storage.
type Store interface {
	ClaimPartition(ctx context.Context, topic string, partition, generation int32, member string, force bool, topicID string) (ledger.Claim, error)
	ApplyBatches(ctx context.Context, batches []ledger.PartitionBatch) ([][]ledger.Result, error)
	Partitions(ctx context.Context, topic string) ([]ledger.PartitionState, error)
	Stats() ledger.ApplyStats
	// DueHolds lists up to limit open holds of the partitions whose expiry
	// is at or before now, oldest first (see expiry.go).
	DueHolds(ctx context.Context, topic string, partitions []int32, now time.Time, limit int) ([]ledger.Hold, error)
	// Unpublished lists outbox rows of the partitions written before
	// olderThan and not yet published; MarkPublished records that they were
	// (see outbox.go).
	Unpublished(ctx context.Context, topic string, partitions []int32, olderThan time.Time, limit int) ([]ledger.Outbound, error)
	MarkPublished(ctx context.Context, commandIDs []string) error
	// DecidedAfter lists a partition's stored decisions after an offset,
	// in offset order, for the events publisher (see events.go).
	DecidedAfter(ctx context.Context, topic string, partition int32, after int64, limit int) ([]ledger.Decided, error)
}

// Config configures a Processor. Zero durations and sizes take the defaults
// named on each field.
type Config struct {
	Brokers []string // required
	Topic   string   // commands topic; required
	Group   string   // consumer group; required

	// ReplyTopics: the only topics replies are produced to. A record that
	// names another reply topic is applied but answered nowhere (and
	// counted). Empty: no replies at all.
	ReplyTopics []string

	// SessionTimeout: how long the group waits for a silent member before
	// reassigning its partitions: a crashed consumer's partitions stand
	// still this long. Default 10s (franz-go's is 45s).
	SessionTimeout time.Duration
	// HeartbeatInterval: default 1s (franz-go's is 3s).
	HeartbeatInterval time.Duration
	// MaxBatch: an applier stops taking queued fetches into a transaction
	// once it holds this many records; the last fetch taken may carry it
	// past the mark (up to twice it). Default 1000.
	MaxBatch int
	// Appliers: how many transactions may be in flight at once. Each
	// partition is applied by one applier (partition modulo Appliers), which
	// commits everything queued for its partitions in one transaction.
	// Default 1: on the 2-core machine in docs/bench/history.md one applier, with
	// the biggest transactions, beat two and four.
	Appliers int
	// BatchTimeout: how long one batch transaction may take before it is
	// abandoned and retried. Default 30s.
	BatchTimeout time.Duration
	// RetryBackoff and RetryBackoffMax: a stopped partition is retried
	// after RetryBackoff, doubled per failure in a row up to
	// RetryBackoffMax, with jitter. Defaults 500ms and 30s.
	RetryBackoff, RetryBackoffMax time.Duration
	// HoldExpiryInterval: how often the owner of a partition looks for
	// open holds past their expiry and submits their expiry (expiry.go).
	// Default 1s.
	HoldExpiryInterval time.Duration
	// OutboxInterval: how often the owner of a partition publishes the
	// saga steps left unpublished in its outbox (outbox.go). Default 1s.
	OutboxInterval time.Duration
	// CommandDeadline: the deadline of a command record whose envelope
	// names none (one produced by another Kafka client), counted from the
	// record's timestamp. Default 1h.
	CommandDeadline time.Duration
	// OutcomeRetention: how long the commands rows (stored outcomes and
	// idempotency keys) of the owned partitions are kept (retention.go);
	// the store must implement PruneOutcomes. Zero: forever.
	OutcomeRetention time.Duration
	// EventsTopic: the topic every stored decision is published to as an
	// event (events.go); it must have as many partitions as Topic. Empty:
	// no events.
	EventsTopic string
	// ClaimTimeout bounds one claim attempt. Default 10s.
	ClaimTimeout time.Duration
	// Recheck: how often the poll loop looks at stopped partitions (for
	// retries that are due and for releases). Default 1s.
	Recheck time.Duration

	Logger *slog.Logger // default slog.Default()
	// ClientOpts are added to the Kafka client's options last (TLS, SASL,
	// tracing hooks).
	ClientOpts []kgo.Opt
	// Tracer, when set, gives every applied record a processing span
	// (continuing the trace its producer put in its headers); the batch's
	// transaction runs in a span under its first record's, linked to the
	// others', and each reply is produced in its record's span.
	Tracer RecordTracer
}

// RecordTracer starts a record's processing span: franz-go's kotel.Tracer.
type RecordTracer interface {
	WithProcessSpan(r *kgo.Record) (context.Context, trace.Span)
}

func (c *Config) setDefaults() error {
	if len(c.Brokers) == 0 || c.Topic == "" || c.Group == "" {
		return errors.New("consumer: brokers, topic and group are required")
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
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
	if c.RetryBackoffMax < c.RetryBackoff {
		c.RetryBackoffMax = max(30*time.Second, c.RetryBackoff)
	}
	if c.HoldExpiryInterval <= 0 {
		c.HoldExpiryInterval = time.Second
	}
	if c.OutboxInterval <= 0 {
		c.OutboxInterval = time.Second
	}
	if c.CommandDeadline <= 0 {
		c.CommandDeadline = time.Hour
	}
	if c.ClaimTimeout <= 0 {
		c.ClaimTimeout = 10 * time.Second
	}
	if c.Recheck <= 0 {
		c.Recheck = time.Second
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
	stopScans   context.CancelFunc // ends the hold expiry scan, the outbox sweep and the retention

	metrics *metrics
	events  *eventSink // nil without Config.EventsTopic
	replyTo *replyTopics
	now     func() time.Time

	mu       sync.Mutex
	workers  map[int32]*worker // claimed partitions being applied
	stalls   map[int32]*stall  // assigned partitions stopped, and why
	assigned map[int32]bool    // partitions the group assigns here
	// wake cancels the poll in progress, so that the poll loop handles a
	// new stall at once; nil between polls.
	wake context.CancelFunc
}

// New creates a processor and reads the topic's partition count. It joins
// the group when Run starts polling.
func New(ctx context.Context, cfg Config, store Store) (*Processor, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	var pr outcomePruner
	if cfg.OutcomeRetention > 0 {
		var ok bool
		if pr, ok = store.(outcomePruner); !ok {
			return nil, errors.New("consumer: an outcome retention needs a store that prunes outcomes")
		}
	}
	p := &Processor{cfg: cfg, store: store, log: cfg.Logger.With("component", "consumer"), now: time.Now,
		workers: map[int32]*worker{}, stalls: map[int32]*stall{}, assigned: map[int32]bool{}}
	p.metrics = newMetrics(p)
	cl, err := kgo.NewClient(append([]kgo.Opt{
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
		// A partition assigned in a rebalance is fetched only once the
		// fetch in flight for the others returns, which an idle log holds
		// for the fetch's max wait (franz-go's default 5s); this wait adds
		// to every failover, so keep it short.
		kgo.FetchMaxWait(time.Second),
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
	}, cfg.ClientOpts...)...)
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
	if cfg.EventsTopic != "" {
		if err := p.checkEventsTopic(ctx); err != nil {
			cl.Close()
			return nil, err
		}
	}
	if id := topics[cfg.Topic].ID; id != (kadm.TopicID{}) {
		p.topicID = id.String()
	}
	p.events = newEventSink(p, store)
	p.part = wire.Partitioner().ForTopic(cfg.Topic)
	p.replyTo = newReplyTopics(cfg.ReplyTopics, p.adm, p.now)
	p.replyTo.refresh(ctx)
	p.replies = make(chan committedBatch, 256)
	p.quitReplier = make(chan struct{})
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.runReplier() }()
	var scans context.Context
	scans, p.stopScans = context.WithCancel(context.Background())
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.runExpiry(scans) }()
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.runOutbox(scans) }()
	if pr != nil {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.runRetention(scans, pr) }()
	}
	for i := 0; i < cfg.Appliers; i++ {
		a := newApplier(p)
		p.appliers = append(p.appliers, a)
		p.wg.Add(1)
		go func() { defer p.wg.Done(); a.run() }()
	}
	return p, nil
}

// Run polls until ctx ends or Close is called. Between polls, while
// rebalances are blocked, it retries the partitions that stopped.
func (p *Processor) Run(ctx context.Context) error {
	for {
		if done := p.pollOnce(ctx); done {
			return nil
		}
	}
}

// pollOnce polls once, hands the records to the appliers and retries the
// stopped partitions that are due; it reports whether the processor is done.
func (p *Processor) pollOnce(ctx context.Context) bool {
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.mu.Lock()
	p.wake = cancel
	stalled := len(p.stalls) > 0
	p.mu.Unlock()
	if stalled {
		// Come back for the stopped partitions even without records.
		var cancelTimeout context.CancelFunc
		pollCtx, cancelTimeout = context.WithTimeout(pollCtx, p.cfg.Recheck)
		defer cancelTimeout()
	}
	fetches := p.cl.PollRecords(pollCtx, p.cfg.MaxBatch)
	p.mu.Lock()
	p.wake = nil
	p.mu.Unlock()
	defer p.cl.AllowRebalance()
	if fetches.IsClientClosed() || ctx.Err() != nil {
		return true
	}
	fetches.EachError(func(topic string, partition int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return // the poll was cut short to look at stopped partitions
		}
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
			return // not ours (any more), or stopped: fetched again from the stored offset
		}
		// Decoding here overlaps it with the applier's transaction.
		f := fetched{w: w, recs: fp.Records, decoded: make([]ledger.Record, len(fp.Records))}
		for i, r := range fp.Records {
			f.decoded[i] = p.decode(r)
		}
		select {
		case w.applier.in <- f:
		case <-ctx.Done():
		}
	})
	p.recoverStalled(ctx)
	return false
}

// Close leaves the group and stops the appliers. Applied batches are safe;
// records fetched but not applied are fetched again by the next owner.
func (p *Processor) Close() {
	p.stopScans()
	p.cl.Close() // leaves the group, running onRevoked
	p.stopAllWorkers()
	for _, a := range p.appliers {
		close(a.quit)
	}
	close(p.quitReplier)
	p.wg.Wait()
	if p.events != nil {
		p.events.close()
	}
}

func (p *Processor) onFetchError(partition int32, err error) {
	if errors.Is(err, kerr.OffsetOutOfRange) {
		p.mu.Lock()
		w := p.workers[partition]
		p.mu.Unlock()
		stored := int64(-1)
		if w != nil {
			stored = w.next.Load()
		}
		p.log.Error("stored offset is outside the log; partition stopped, nothing skipped. Was the topic recreated or its data lost? Restore the log or reset the partition's row in consumer_partitions deliberately, then run `ordo partitions release`.",
			"topic", p.cfg.Topic, "partition", partition, "stored_next_offset", stored, "err", err)
		p.stop(partition, w, ReasonOffsetOutOfRange, fmt.Errorf("partition %d: stored next offset %d is outside the log: %w", partition, stored, err))
		return
	}
	p.log.Warn("fetch error", "partition", partition, "err", err)
}

// adjustOffsets runs after each assignment, before fetching: it claims each
// new partition in Postgres and returns the stored offset to resume from.
// A partition it cannot claim is stopped (see recoverStalled) and starts,
// paused, at the log start: the claim that resumes it sets its offset.
func (p *Processor) adjustOffsets(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	member, generation := p.cl.GroupMetadata()
	for topic, parts := range assigned {
		if topic != p.cfg.Topic {
			continue
		}
		for partition := range parts {
			p.mu.Lock()
			p.assigned[partition] = true
			delete(p.stalls, partition) // a fresh assignment starts afresh
			p.mu.Unlock()
			claim, err := p.claim(ctx, partition, generation, member)
			if err != nil {
				reason := reasonOf(err)
				if reason.Retries() {
					p.log.Warn("partition not claimed; retrying with backoff while it is assigned here", "partition", partition, "generation", generation, "reason", reason, "err", err)
				} else {
					p.log.Error("partition stopped: its stored offsets belong to an earlier incarnation of the topic; nothing is applied, nothing skipped. Restore the topic, or reset the partition's row in consumer_partitions deliberately, then run `ordo partitions release`.",
						"partition", partition, "err", err)
				}
				parts[partition] = kgo.NewOffset().AtStart()
				p.stop(partition, nil, reason, err)
				continue
			}
			off := kgo.NewOffset().AtStart()
			if claim.NextOffset >= 0 {
				off = kgo.NewOffset().At(claim.NextOffset).WithEpoch(-1)
			}
			parts[partition] = off
			p.startWorker(claim)
			p.resumeIfPaused(partition)
			p.log.Info("partition claimed", "partition", partition, "epoch", claim.Epoch, "generation", generation, "next_offset", claim.NextOffset)
		}
	}
	return assigned, nil
}

// claim claims a partition once, bounded by ClaimTimeout. A claim refused
// for a stale generation is forced only when the member that holds the
// claim is no longer in the group (the group was deleted and its
// generations restarted). That check only serves liveness: if it is wrong,
// the rightful owner's next claim fences this one off again.
func (p *Processor) claim(ctx context.Context, partition, generation int32, member string) (ledger.Claim, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ClaimTimeout)
	defer cancel()
	claim, err := p.store.ClaimPartition(ctx, p.cfg.Topic, partition, generation, member, false, p.topicID)
	if errors.Is(err, ledger.ErrStaleGeneration) && p.holderGone(ctx, partition) {
		p.log.Warn("forcing the claim: its holder is not in the group (was the group recreated?)", "partition", partition)
		return p.store.ClaimPartition(ctx, p.cfg.Topic, partition, generation, member, true, p.topicID)
	}
	return claim, err
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
	p.unassign(revoked[p.cfg.Topic])
	p.stopWorkers(revoked[p.cfg.Topic])
	// Everything the stopped workers applied is marked; commit it to the
	// group while we still own the partitions.
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		p.log.Debug("commit offsets to the group on revoke", "err", err)
	}
}

func (p *Processor) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	p.unassign(lost[p.cfg.Topic])
	p.stopWorkers(lost[p.cfg.Topic])
}

// unassign forgets partitions the group took away, and their stalls.
func (p *Processor) unassign(partitions []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, partition := range partitions {
		delete(p.assigned, partition)
		delete(p.stalls, partition)
	}
}

func (p *Processor) startWorker(claim ledger.Claim) {
	w := &worker{claim: claim, applier: p.appliers[int(claim.Partition)%len(p.appliers)]}
	w.next.Store(claim.NextOffset)
	if p.events != nil {
		w.events = p.events.start(w)
	}
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

// Stopped reports the partitions assigned here that are stopped, with the
// error that stopped each (see Stops for the reasons).
func (p *Processor) Stopped() map[int32]error {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int32]error, len(p.stalls))
	for partition, s := range p.stalls {
		out[partition] = s.err
	}
	return out
}

// Stops reports why each stopped partition is stopped.
func (p *Processor) Stops() map[int32]Reason {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int32]Reason, len(p.stalls))
	for partition, s := range p.stalls {
		out[partition] = s.reason
	}
	return out
}

// Joined reports whether the processor is a member of its group.
func (p *Processor) Joined() bool {
	member, generation := p.cl.GroupMetadata()
	return member != "" && generation >= 0
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
