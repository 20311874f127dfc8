package consumer

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ordo-dev/ordo/ledger/postgres"
)

// metrics are the processor's Prometheus metrics, on a registry of their
// own so that several processors can live in one process (tests, ordo dev).
type metrics struct {
	reg     *prometheus.Registry
	decided atomic.Int64 // commands decided in committed transactions
}

func newMetrics(p *Processor) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	batches := func(way string, n func(postgres.ApplyStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "ordo_consumer_batches_total",
			Help:        "Batch transactions committed: cached (decided from the partition owner's memory, one round trip) or locked (partition rows locked and state read first).",
			ConstLabels: prometheus.Labels{"way": way},
		}, func() float64 { return float64(n(p.store.Stats())) })
	}
	m.reg.MustRegister(
		batches("cached", func(s postgres.ApplyStats) int64 { return s.Cached }),
		batches("locked", func(s postgres.ApplyStats) int64 { return s.Locked }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ordo_consumer_batch_fallbacks_total",
			Help: "Cached attempts that a guard or an error sent back to the locked way. Rising steadily means the caches are wrong: is something else writing the accounts?",
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
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// MetricsHandler serves the processor's metrics in Prometheus' format.
func (p *Processor) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(p.metrics.reg, promhttp.HandlerOpts{})
}

// countDecided counts the commands a committed batch decided.
func (m *metrics) countDecided(results []postgres.Result) {
	var n int64
	for _, r := range results {
		if !r.Skipped {
			n++
		}
	}
	m.decided.Add(n)
}
