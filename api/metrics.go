package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ordo-dev/ordo/ledger"
)

// metrics are the API's Prometheus metrics, on a registry of their own so
// that several servers can live in one process (tests).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	outcomes *prometheus.CounterVec
	// overloaded counts commands refused because MaxWaiting were in
	// flight.
	overloaded prometheus.Counter
}

// newMetrics registers the metrics; waiting reports the commands in flight.
func newMetrics(waiting func() int) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ordo_http_request_duration_seconds",
			Help:    "HTTP request latency by route, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordo_command_outcomes_total",
			Help: "Command outcomes answered, by kind, status and code.",
		}, []string{"kind", "status", "code"}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ordo_commands_overloaded_total",
			Help: "Commands refused with 503 overloaded because --max-waiting commands were in flight; none of them was submitted.",
		}),
	}
	waitingGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ordo_commands_waiting",
		Help: "Commands in flight on this instance (waiting for the broker or for their outcomes); at most --max-waiting.",
	}, func() float64 { return float64(waiting()) })
	m.reg.MustRegister(m.requests, m.outcomes, m.overloaded, waitingGauge, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

func (m *metrics) outcome(out ledger.Outcome) {
	m.outcomes.WithLabelValues(string(out.Kind), string(out.Status), string(out.Code)).Inc()
}

// unmatchedRoute labels requests no route matched.
const unmatchedRoute = "unmatched"

// middleware observes each request's latency. Its labels come from closed
// sets, so no request can add a series: the route template among those
// registered on e (else unmatchedRoute), the method among the standard ones
// (else "other"), the status code.
func (m *metrics) middleware(e *echo.Echo) echo.MiddlewareFunc {
	// The routes are read at the first request, when all are registered.
	routes := sync.OnceValue(func() map[string]bool {
		set := map[string]bool{}
		for _, r := range e.Routes() {
			set[r.Path] = true
		}
		return set
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			route := c.Path()
			if !routes()[route] {
				route = unmatchedRoute
			}
			m.requests.WithLabelValues(route, methodLabel(c.Request().Method), strconv.Itoa(c.Response().Status)).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// methodLabel is method if it is one of RFC 9110's (and PATCH), else "other".
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	default:
		return "other"
	}
}
