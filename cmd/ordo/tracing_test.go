package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestOneRequestOneTrace: with tracing on, one deposit request yields one
// connected trace that continues the caller's traceparent: the HTTP span,
// the command's publish to Kafka, its processing and the transaction that
// applied it (with its database statements) in the consumer, and the reply's
// publish and receipt back in the API. Every span's parent is in the trace.
func TestOneRequestOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })
	e := newEnv(t, 2)
	e.opts.telemetry = newTelemetry(tp, tp.Shutdown)
	base := e.startAPI()
	e.startConsumer()
	openAccount(t, base, "traced", 0)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := post(t, base+"/v1/accounts/traced/deposits", `{"amount":5}`,
		map[string]string{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"})
	if r.Status != http.StatusOK {
		t.Fatalf("deposit: %d %s", r.Status, r.Raw)
	}
	commands, replies := e.opts.CommandsTopic, e.opts.RepliesTopic
	want := []string{
		"POST /v1/accounts/:id/deposits",
		commands + " publish", commands + " receive", commands + " process",
		"ordo apply", "COMMIT",
		replies + " publish", replies + " receive",
	}
	var spans tracetest.SpanStubs
	var missing []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		spans = inTrace(exp.GetSpans(), traceID)
		missing = missing[:0]
		for _, w := range want {
			if !slices.ContainsFunc(spans, func(s tracetest.SpanStub) bool { return strings.HasPrefix(s.Name, w) }) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	ids := map[trace.SpanID]bool{}
	for _, s := range spans {
		ids[s.SpanContext.SpanID()] = true
	}
	for _, s := range spans {
		if p := s.Parent.SpanID(); !ids[p] && s.Name != "POST /v1/accounts/:id/deposits" {
			t.Errorf("span %q: parent %s is not in the trace", s.Name, p)
		}
	}
	if t.Failed() || len(missing) > 0 {
		for _, s := range spans {
			t.Logf("span %q parent %s", s.Name, s.Parent.SpanID())
		}
		t.Fatalf("missing spans %q", missing)
	}
}

func inTrace(spans tracetest.SpanStubs, traceID string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if s.SpanContext.TraceID().String() == traceID {
			out = append(out, s)
		}
	}
	return out
}
