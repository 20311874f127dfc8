package consumer

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	// holdExpiries counts the expire_hold commands the expiry scan produced.
	holdExpiries prometheus.Counter
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
	m.holdExpiries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ordo_consumer_hold_expiries_total",
		Help: "expire_hold commands produced by this consumer's scan for open holds past their expiry (one per hold per scan at most; a hold is expired once however many reach it).",
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
			Help: "Partitions halted by an error that needs an operator (a stored offset outside the log, a recreated topic); see the logs.",
		}, func() float64 { return float64(len(p.Stopped())) }),
		m.txSeconds, m.txCommands, m.commandLatency, m.holdExpiries,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// MetricsHandler serves the processor's metrics in Prometheus' format.
func (p *Processor) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(p.metrics.reg, promhttp.HandlerOpts{})
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
