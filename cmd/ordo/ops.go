package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ordo-dev/ordo/api"
)

// opsServer serves a role's operational endpoints on --ops-addr:
//
//   - GET /livez: 200 while the process serves HTTP;
//   - GET /readyz: 200 when every check passes, else 503 (problem+json);
//   - GET /metrics: the role's Prometheus metrics.
type opsServer struct {
	ln  net.Listener
	srv *http.Server
}

// readiness is one role's readiness check: nil when ready.
type readiness func(ctx context.Context) error

// readyTimeout bounds a /readyz check.
const readyTimeout = 2 * time.Second

// newOps binds addr and builds the server; Run serves it.
func newOps(addr string, ready []readiness, metrics prometheus.Gatherer) (*opsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--ops-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		for _, check := range ready {
			if err := check(ctx); err != nil {
				writeUnavailable(w, r, err.Error())
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	return &opsServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// Addr is the address the ops endpoints are served on.
func (o *opsServer) Addr() string { return o.ln.Addr().String() }

// Run serves until Close.
func (o *opsServer) Run() { _ = o.srv.Serve(o.ln) }

// Close stops serving.
func (o *opsServer) Close() {
	_ = o.srv.Close()
	_ = o.ln.Close() // in case Run never served it
}

func writeUnavailable(w http.ResponseWriter, r *http.Request, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(api.Problem{
		Type: api.ProblemTypeBase + "unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable,
		Detail: detail, Code: "unavailable", Instance: r.URL.Path,
	})
}

// processMetrics is the Go runtime and process collectors, once per
// process.
func processMetrics() prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// handlerReady checks readiness through an HTTP handler's /readyz (the
// API's own, so the ops endpoint and the API's port always agree).
func handlerReady(h http.Handler) readiness {
	return func(ctx context.Context) error {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/readyz", nil))
		if rec.Code != http.StatusOK {
			var p api.Problem
			if json.Unmarshal(rec.Body.Bytes(), &p) == nil && p.Detail != "" {
				return errors.New(p.Detail)
			}
			return fmt.Errorf("api not ready (%d)", rec.Code)
		}
		return nil
	}
}
