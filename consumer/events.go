package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// The events publisher. Every stored decision (a commands row: applied or
// refused, never a retry answered from an earlier decision) becomes exactly
// one event on the events topic (wire.Event), keyed by account.
//
// The commands table is the outbox: its rows are written in the deciding
// transaction with their partition and offset, so publishing needs no write
// of its own. The event of a command from commands partition p goes to
// events partition p (the topics have the same partition count), so an
// account's events are in decision order, and each events partition has one
// writer: the owner of commands partition p.
//
// Exactly once in the topic: each owned partition has its own
// transactional producer, with the transactional ID EventsTransactionalID.
// When a partition is claimed, its publisher initialises the producer ID,
// which fences the previous owner's producer and aborts its open
// transaction; then it reads the last committed event of its events
// partition (read_committed), whose HeaderSourceOffset says how far the
// previous owners got, and publishes the partition's commands rows after
// that offset from Postgres, in offset order (resync). From then on, each
// committed batch's events are produced from memory in one Kafka
// transaction. An event is produced only after its decision committed, so
// events lag the commands table and never get ahead of it. When a produce
// or a commit fails, or a batch could not be queued, the publisher starts
// over: a new producer, fencing, and a resync from Postgres.
//
// Concurrency: one goroutine per claimed partition runs its publisher; the
// applier hands it committed batches without blocking. The publisher
// watches its worker's halted flag and ends when the partition is revoked,
// lost or stopped; a late transaction of a publisher that has not noticed
// yet is fenced by the next owner's initialisation.

// EventsTransactionalID is the transactional ID of the events publisher of
// one commands partition: derived from the commands topic and the
// partition, so every owner of that partition, in any process, uses it.
func EventsTransactionalID(commandsTopic string, partition int32) string {
	return "ordo-events-" + commandsTopic + "-" + strconv.Itoa(int(partition))
}

const (
	// eventsPerResync bounds one read of the commands table and one Kafka
	// transaction of a resync.
	eventsPerResync = 1000
	// eventsQueue is how many committed batches a publisher may have
	// queued; a batch that finds the queue full is left to a resync.
	eventsQueue = 256
	// eventsRecheck is how often an idle publisher looks whether its
	// worker was halted.
	eventsRecheck = 200 * time.Millisecond
	// eventsLinger is how long a publisher that has a batch to publish waits
	// for more before it starts the transaction: every Kafka transaction
	// costs three round trips to the brokers whatever it holds, and under
	// load a partition's batches commit every few milliseconds. Events are
	// asynchronous; this is the latency they give up.
	eventsLinger = 20 * time.Millisecond
	// eventsTxnTimeout is the events transactions' timeout: a transaction
	// a crashed owner left open is aborted by the broker after it.
	eventsTxnTimeout = 30 * time.Second
)

// decisions is what a publisher reads from the store.
type decisions interface {
	DecidedAfter(ctx context.Context, topic string, partition int32, after int64, limit int) ([]ledger.Decided, error)
}

// eventSink is the events topic, as the publishers of one process share it.
type eventSink struct {
	brokers       []string
	topic         string // events topic
	commandsTopic string
	store         decisions
	log           *slog.Logger
	published     prometheus.Counter
	// backoff and backoffMax bound the wait before a publisher starts
	// over after a failure.
	backoff, backoffMax time.Duration
	// ctx ends when the processor closes; wg waits for the publishers.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// eventPublisher publishes the events of one claimed partition.
type eventPublisher struct {
	sink      *eventSink
	w         *worker
	partition int32
	in        chan []ledger.Decided
	// behind is set when a committed batch could not be queued: the next
	// step resyncs from Postgres first.
	behind atomic.Bool
	// published is the source offset of the last event known committed in
	// the events partition (-1: none yet, or not read yet).
	published atomic.Int64

	// beforeCommit, in tests, runs between a transaction's produce and
	// its commit.
	beforeCommit func()
}

func (s *eventSink) start(w *worker) *eventPublisher {
	ep := s.newPublisher(w.claim.Partition, w)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); ep.run(s.ctx) }()
	return ep
}

func (s *eventSink) newPublisher(partition int32, w *worker) *eventPublisher {
	ep := &eventPublisher{sink: s, w: w, partition: partition, in: make(chan []ledger.Decided, eventsQueue)}
	ep.published.Store(-1)
	return ep
}

// committed hands a committed batch's stored decisions to the publisher;
// it never blocks the applier.
func (ep *eventPublisher) committed(recs []ledger.Record, results []ledger.Result) {
	var ds []ledger.Decided
	for i, r := range results {
		if r.Stored {
			ds = append(ds, ledger.Decided{Outcome: r.Outcome, Partition: ep.partition, Offset: recs[i].Offset, DecidedAt: r.DecidedAt})
		}
	}
	if len(ds) == 0 {
		return
	}
	select {
	case ep.in <- ds:
	default:
		ep.behind.Store(true)
	}
}

// publishedOffset is the source offset of the last event known committed
// in the partition's events partition; -1: none, or not read yet.
func (ep *eventPublisher) publishedOffset() int64 { return ep.published.Load() }

func (ep *eventPublisher) halted() bool { return ep.w != nil && ep.w.halted.Load() }

// run starts sessions, with backoff between failed ones, until the
// partition's worker is halted.
func (ep *eventPublisher) run(ctx context.Context) {
	log := ep.sink.log.With("partition", ep.partition, "events_topic", ep.sink.topic)
	wait := ep.sink.backoff
	for !ep.halted() && ctx.Err() == nil {
		err := ep.session(ctx)
		if ep.halted() || ctx.Err() != nil {
			return
		}
		log.Warn("publishing events failed; starting over from the events topic and Postgres", "err", err, "retry_in", wait)
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) && !ep.halted() && ctx.Err() == nil {
			time.Sleep(min(eventsRecheck, time.Until(deadline)))
		}
		wait = min(2*wait, ep.sink.backoffMax)
	}
}

// session opens a producer (fencing every earlier one of the partition),
// resyncs from Postgres and then publishes queued batches until the worker
// is halted (nil) or something fails.
func (ep *eventPublisher) session(ctx context.Context) error {
	cl, err := ep.open(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	ep.behind.Store(false)
	if err := ep.resync(ctx, cl); err != nil {
		return err
	}
	tick := time.NewTicker(eventsRecheck)
	defer tick.Stop()
	for {
		var batch []ledger.Decided
		select {
		case batch = <-ep.in:
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if ep.halted() {
				return nil
			}
			if ep.behind.Swap(false) {
				if err := ep.resync(ctx, cl); err != nil {
					return err
				}
			}
			continue
		}
		if ep.halted() {
			return nil
		}
		// Whatever was dropped before this batch committed before it:
		// publish that first, from Postgres (the resync covers this batch
		// too, whose commit preceded it).
		if ep.behind.Swap(false) {
			if err := ep.resync(ctx, cl); err != nil {
				return err
			}
		}
		// Take what else is queued, or arrives within eventsLinger, into
		// the same transaction.
		linger := time.NewTimer(eventsLinger)
	more:
		for len(batch) < eventsPerResync {
			select {
			case b := <-ep.in:
				batch = append(batch, b...)
			case <-linger.C:
				break more
			case <-ctx.Done():
				linger.Stop()
				return nil
			}
		}
		linger.Stop()
		if ep.halted() {
			// The next owner publishes these from Postgres.
			return nil
		}
		after := ep.published.Load()
		fresh := batch[:0]
		for _, d := range batch {
			if d.Offset > after {
				fresh = append(fresh, d)
			}
		}
		if err := ep.publish(ctx, cl, fresh); err != nil {
			return err
		}
	}
}

// open creates the partition's transactional producer and initialises its
// producer ID, which fences every earlier producer with the same
// transactional ID and aborts its open transaction; then it reads how far
// the events partition got.
func (ep *eventPublisher) open(ctx context.Context) (*kgo.Client, error) {
	s := ep.sink
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(s.brokers...),
		kgo.TransactionalID(EventsTransactionalID(s.commandsTopic, ep.partition)),
		kgo.TransactionTimeout(eventsTxnTimeout),
		kgo.DefaultProduceTopic(s.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.WithLogger(kslog.New(chattyClientLogger(s.log))),
	)
	if err != nil {
		return nil, fmt.Errorf("events producer: %w", err)
	}
	initCtx, cancel := context.WithTimeout(ctx, eventsTxnTimeout)
	defer cancel()
	if _, _, err := cl.ProducerID(initCtx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("initialise events producer %s: %w", EventsTransactionalID(s.commandsTopic, ep.partition), err)
	}
	last, err := lastSourceOffset(initCtx, s.brokers, s.topic, ep.partition)
	if err != nil {
		cl.Close()
		return nil, err
	}
	ep.published.Store(last)
	return cl, nil
}

// resync publishes the partition's commands rows after the last published
// offset, in offset order, a bounded transaction at a time.
func (ep *eventPublisher) resync(ctx context.Context, cl *kgo.Client) error {
	for {
		readCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ds, err := ep.sink.store.DecidedAfter(readCtx, ep.sink.commandsTopic, ep.partition, ep.published.Load(), eventsPerResync)
		cancel()
		if err != nil {
			return err
		}
		if err := ep.publish(ctx, cl, ds); err != nil {
			return err
		}
		if len(ds) < eventsPerResync || ep.halted() {
			return nil
		}
	}
}

// publish produces ds, in order, in one transaction, and records how far
// the partition got once it committed.
func (ep *eventPublisher) publish(ctx context.Context, cl *kgo.Client, ds []ledger.Decided) error {
	if len(ds) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(ds))
	for i, d := range ds {
		e := wire.NewEvent(ep.sink.commandsTopic, d)
		value, err := wire.EncodeEvent(e)
		if err != nil {
			return fmt.Errorf("encode event of %q: %w", e.EventID, err)
		}
		version, offset := wire.EventHeaders(e)
		recs[i] = &kgo.Record{
			Partition: ep.partition, Key: []byte(e.AccountID), Value: value,
			Headers: []kgo.RecordHeader{
				{Key: wire.HeaderEventVersion, Value: []byte(version)},
				{Key: wire.HeaderSourceOffset, Value: []byte(offset)},
			},
		}
	}
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin events transaction: %w", err)
	}
	txCtx, cancel := context.WithTimeout(ctx, eventsTxnTimeout)
	defer cancel()
	if err := cl.ProduceSync(txCtx, recs...).FirstErr(); err != nil {
		_ = cl.AbortBufferedRecords(txCtx)
		_ = cl.EndTransaction(txCtx, kgo.TryAbort)
		return fmt.Errorf("produce events: %w", err)
	}
	if ep.beforeCommit != nil {
		ep.beforeCommit()
	}
	if err := cl.EndTransaction(txCtx, kgo.TryCommit); err != nil {
		// The outcome may be unknown: the next session reads it back.
		_ = cl.EndTransaction(txCtx, kgo.TryAbort)
		return fmt.Errorf("commit events transaction: %w", err)
	}
	ep.published.Store(ds[len(ds)-1].Offset)
	ep.sink.published.Add(float64(len(ds)))
	return nil
}

// lastSourceOffset reads the source offset of the last committed event of
// an events partition (read_committed), or -1 if it has none. It reads the
// log's tail backwards in growing windows: transaction markers and aborted
// transactions may sit between the end and the last committed event.
func lastSourceOffset(ctx context.Context, brokers []string, topic string, partition int32) (int64, error) {
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return -1, err
	}
	defer adm.Close()
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return -1, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return -1, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	end, ok := ends.Lookup(topic, partition)
	start, ok2 := starts.Lookup(topic, partition)
	if !ok || !ok2 {
		return -1, fmt.Errorf("events topic %s has no partition %d", topic, partition)
	}
	for window := int64(64); ; window *= 8 {
		from := max(start.Offset, end.Offset-window)
		if from >= end.Offset {
			return -1, nil
		}
		last, err := lastEventIn(ctx, brokers, topic, partition, from, end.Offset)
		if err != nil || last != nil {
			if err != nil {
				return -1, err
			}
			v := header(last, wire.HeaderSourceOffset)
			off, err := wire.ParseSourceOffset(v)
			if err != nil {
				return -1, fmt.Errorf("last event of %s/%d at offset %d: %w", topic, partition, last.Offset, err)
			}
			return off, nil
		}
		if from == start.Offset {
			return -1, nil
		}
	}
}

// lastEventIn reads [from, end) of a partition, read_committed, and returns
// its last committed data record, or nil. Control records are kept so that
// the read knows when it reached end even if the log ends with markers or
// an aborted transaction.
func lastEventIn(ctx context.Context, brokers []string, topic string, partition int32, from, end int64) (*kgo.Record, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var last *kgo.Record
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read the tail of %s/%d: %w", topic, partition, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return nil, fmt.Errorf("read the tail of %s/%d: %w", topic, partition, ferr)
		}
		reached := false
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end {
				reached = true
				return
			}
			if !r.Attrs.IsControl() {
				last = r
			}
			if r.Offset >= end-1 {
				reached = true
			}
		})
		if reached {
			return last, nil
		}
	}
}

// lag is how many offsets of the partition are committed in Postgres but
// not yet published as events (transaction markers in the commands topic
// count as offsets).
func (ep *eventPublisher) lag() int64 {
	next := ep.w.next.Load()
	if next < 0 {
		return 0
	}
	return max(next-1-ep.published.Load(), 0)
}

var eventsLagDesc = prometheus.NewDesc("ordo_consumer_events_lag",
	"Per claimed partition: offsets of the commands partition decided and committed in Postgres whose events are not yet committed to the events topic (transaction markers of the commands topic count).",
	[]string{"partition"}, nil)

// eventsCollector reports each claimed partition's events lag.
type eventsCollector struct{ p *Processor }

func (c eventsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- eventsLagDesc }

func (c eventsCollector) Collect(ch chan<- prometheus.Metric) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	for partition, w := range c.p.workers {
		if w.events != nil {
			ch <- prometheus.MustNewConstMetric(eventsLagDesc, prometheus.GaugeValue, float64(w.events.lag()), strconv.Itoa(int(partition)))
		}
	}
}

// newEventSink sets up the events publishing of a processor, or returns nil
// when Config.EventsTopic is empty.
func newEventSink(p *Processor, store decisions) *eventSink {
	if p.cfg.EventsTopic == "" {
		return nil
	}
	s := &eventSink{
		brokers: p.cfg.Brokers, topic: p.cfg.EventsTopic, commandsTopic: p.cfg.Topic, store: store,
		log: p.log.With("component", "events"), backoff: p.cfg.RetryBackoff, backoffMax: p.cfg.RetryBackoffMax,
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ordo_consumer_events_published_total",
			Help: "Events committed to the events topic by this consumer (each stored decision once, whichever owner publishes it).",
		}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	p.metrics.reg.MustRegister(s.published, eventsCollector{p})
	return s
}

// close ends the publishers and waits for them.
func (s *eventSink) close() {
	s.cancel()
	s.wg.Wait()
}

// checkEventsTopic refuses an events topic whose partition count is not the
// commands topic's.
func (p *Processor) checkEventsTopic(ctx context.Context) error {
	topics, err := p.adm.ListTopics(ctx, p.cfg.EventsTopic)
	if err == nil {
		err = topics.Error()
	}
	if err != nil {
		return fmt.Errorf("consumer: describe events topic %s: %w", p.cfg.EventsTopic, err)
	}
	if n := len(topics[p.cfg.EventsTopic].Partitions); n != p.numPartitions {
		return fmt.Errorf("consumer: events topic %s has %d partitions, commands topic %s has %d: they must match", p.cfg.EventsTopic, n, p.cfg.Topic, p.numPartitions)
	}
	return nil
}
