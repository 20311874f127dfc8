package consumer

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordo-dev/ordo/ledger"
)

// metrics are the processor's Prometheus metrics, on a registry of their
// own so that several processors can live in one process (tests, ordo dev).
type metrics struct {
	reg     *prometheus.Registry
	decided atomic.Int64 // commands decided in committed transactions
	// txSeconds, txCommands and commandLatency describe committed
	// transactions: how long each took, how many commands it decided, and
	// how long each command took from the API to its commit.
	txSeconds, txCommands, commandLatency prometheus.Histogram
	// retries counts the attempts to resume a stopped partition, by the
	// reason it was stopped for.
	retries *prometheus.CounterVec
	// refused counts replies not sent because the record asked for a topic
	// not on the allow-list or a partition the topic does not have;
	// repliesFailed counts replies the broker did not take.
	refused       *prometheus.CounterVec
	repliesFailed prometheus.Counter
	// replyRecords counts reply records produced, by format; replies
	// counts the outcomes they carried (more than the records when
	// replies are batched).
	replyRecords *prometheus.CounterVec
	replies      prometheus.Counter
	// holdExpiries counts the expire_hold commands the expiry scan produced.
	holdExpiries prometheus.Counter
	// stepsPublished counts saga steps produced from the outbox.
	stepsPublished prometheus.Counter
	// outcomesPruned counts the commands rows the outcome retention deleted.
	outcomesPruned prometheus.Counter
}

func newMetrics(p *Processor) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		txSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ordo_consumer_transaction_seconds",
			Help:    "Duration of each committed batch transaction, from the start of the attempt that committed to its COMMIT's answer.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 15), // 0.25 ms .. 4 s
		}),
		txCommands: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ordo_consumer_transaction_commands",
			Help:    "Commands decided by each committed batch transaction (group commit: all the partitions an applier had queued).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 .. 1024
		}),
		commandLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ordo_consumer_command_latency_seconds",
			Help:    "From a command's record timestamp (set where it was produced, on that machine's clock, in whole milliseconds, so it reads up to 1 ms high) to the commit of the transaction that decided it: the Kafka hop, waiting for the applier and the transaction.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 15),
		}),
	}
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordo_consumer_partition_retries_total",
		Help: "Attempts to resume a stopped partition (claiming it again), by the reason it was stopped for.",
	}, []string{"reason"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordo_consumer_replies_refused_total",
		Help: "Replies not sent: the record named a reply topic not on --reply-topics (topic_not_allowed), or a partition the topic does not have (partition_out_of_range). The command itself was applied.",
	}, []string{"reason"})
	m.repliesFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ordo_consumer_replies_failed_total",
		Help: "Reply records the broker did not accept (a format 2 record carries several outcomes); their requesters fall back to reading Postgres.",
	})
	m.replyRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordo_consumer_reply_records_total",
		Help: "Reply records produced, by format: 1 carries one outcome, 2 the outcomes of one committed batch for one API instance. ordo_consumer_replies_total / this is the outcomes per record.",
	}, []string{"format"})
	m.replies = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ordo_consumer_replies_total",
		Help: "Outcomes published to requesters in reply records (one per answered command).",
	})
	for _, f := range []string{"1", "2"} {
		m.replyRecords.WithLabelValues(f)
	}
	for _, r := range Reasons {
		m.retries.WithLabelValues(string(r))
	}
	for _, r := range []string{refusedTopic, refusedBadPartition} {
		m.refused.WithLabelValues(r)
	}
	m.holdExpiries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ordo_consumer_hold_expiries_total",
		Help: "expire_hold commands produced by this consumer's scan for open holds past their expiry (one per hold per scan at most; a hold is expired once however many reach it).",
	})
	m.outcomesPruned = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ordo_consumer_outcomes_pruned_total",
		Help: "Stored outcomes (commands rows) deleted by the outcome retention (--outcome-retention).",
	})
	m.stepsPublished = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ordo_consumer_saga_steps_published_total",
		Help: "Saga steps (a transfer's credit and settle) produced from the outbox, right after their commit or by the sweep; a step may be produced more than once and is applied once.",
	})
	batches := func(way string, n func(ledger.ApplyStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "ordo_consumer_batches_total",
			Help:        "Batch transactions committed: cached (decided from the partition owner's memory, one round trip) or locked (partition rows locked and state read first).",
			ConstLabels: prometheus.Labels{"way": way},
		}, func() float64 { return float64(n(p.store.Stats())) })
	}
	m.reg.MustRegister(
		batches("cached", func(s ledger.ApplyStats) int64 { return s.Cached }),
		batches("locked", func(s ledger.ApplyStats) int64 { return s.Locked }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ordo_consumer_batch_fallbacks_total",
			Help: "Cached attempts sent back to the locked way: a command ID decided before this owner claimed its partition (a retry of an older command; remembered from then on), a claim lost to another consumer, a guard finding the database other than the owner's memory (something else writing the accounts), or a database error. Retries of commands decided under the current claim are answered from memory and never count.",
		}, func() float64 { return float64(p.store.Stats().Fallbacks) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ordo_consumer_commands_decided_total",
			Help: "Commands decided (applied or rejected) in committed transactions; records applied before and skipped are not counted.",
		}, func() float64 { return float64(m.decided.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ordo_consumer_partitions_owned",
			Help: "Partitions of the commands topic this consumer has claimed and is applying.",
		}, func() float64 { return float64(len(p.Owned())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ordo_consumer_partitions_stopped",
			Help: "Partitions assigned to this consumer that are stopped, whatever the reason (see ordo_consumer_partition_stopped).",
		}, func() float64 { return float64(len(p.Stopped())) }),
		m.txSeconds, m.txCommands, m.commandLatency, m.holdExpiries, m.stepsPublished, m.outcomesPruned, m.retries, m.refused, m.repliesFailed, m.replyRecords, m.replies,
		partitionCollector{p},
	)
	return m
}

// Gatherer is the processor's metrics, without Go runtime and process
// collectors (the process serving them adds those once).
func (p *Processor) Gatherer() prometheus.Gatherer { return p.metrics.reg }

func (m *metrics) replyRefused(reason string) { m.refused.WithLabelValues(reason).Inc() }

// replySent counts a reply record of format carrying n outcomes.
func (m *metrics) replySent(format string, n int) {
	m.replyRecords.WithLabelValues(format).Inc()
	m.replies.Add(float64(n))
}

var (
	stoppedDesc = prometheus.NewDesc("ordo_consumer_partition_stopped",
		"1 for each partition assigned here that is stopped, labelled with why: claim_lost, stale_generation, claim_failed, guard_failed and apply_failed are retried with backoff; offset_out_of_range and topic_recreated wait for an operator (ordo partitions release).",
		[]string{"partition", "reason"}, nil)
	lagDesc = prometheus.NewDesc("ordo_consumer_partition_lag",
		"Records of each partition assigned here not applied yet: the log's last stable offset minus the stored next offset (transaction markers count as records).",
		[]string{"partition"}, nil)
)

// partitionCollector reports each assigned partition's state and lag when
// scraped. The lag costs one ListOffsets request per scrape.
type partitionCollector struct{ p *Processor }

func (c partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- stoppedDesc
	ch <- lagDesc
}

func (c partitionCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.p
	p.mu.Lock()
	next := make(map[int32]int64, len(p.assigned))
	for partition := range p.assigned {
		next[partition] = -1
		if w := p.workers[partition]; w != nil {
			next[partition] = w.next.Load()
		}
	}
	for partition, s := range p.stalls {
		ch <- prometheus.MustNewConstMetric(stoppedDesc, prometheus.GaugeValue, 1, strconv.Itoa(int(partition)), string(s.reason))
		if next[partition] < 0 {
			next[partition] = s.next
		}
	}
	p.mu.Unlock()
	if len(next) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ends, err := p.adm.ListCommittedOffsets(ctx, p.cfg.Topic)
	if err != nil {
		return
	}
	for partition, n := range next {
		end, ok := ends.Lookup(p.cfg.Topic, partition)
		if !ok || end.Err != nil {
			continue
		}
		if n < 0 {
			n = 0 // nothing applied: the whole log is behind (from offset 0; a log start above 0 reads high)
		}
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(max(end.Offset-n, 0)), strconv.Itoa(int(partition)))
	}
}

// committed records a committed transaction that began at began: each
// partition's records and their results.
func (m *metrics) committed(began time.Time, parts []*pending, results [][]ledger.Result) {
	now := time.Now()
	var n int64
	for i, pt := range parts {
		for j, r := range results[i] {
			if r.Skipped {
				continue
			}
			n++
			m.commandLatency.Observe(now.Sub(pt.recs[j].Timestamp).Seconds())
		}
	}
	m.decided.Add(n)
	m.txSeconds.Observe(now.Sub(began).Seconds())
	m.txCommands.Observe(float64(n))
}
