package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-dev/ordo/consumer"
)

// telemetry is a process's OpenTelemetry tracing: a trace from the HTTP
// request through the command's produce, its apply (and the database
// statements of its transaction) and its reply, carried between processes
// in W3C traceparent headers (HTTP and Kafka record headers). nil: off, at
// no cost.
type telemetry struct {
	provider trace.TracerProvider
	tracer   *kotel.Tracer
	shutdown func(context.Context) error
}

// newTelemetry is tracing on provider, with the W3C propagators.
func newTelemetry(provider trace.TracerProvider, shutdown func(context.Context) error) *telemetry {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(prop)
	return &telemetry{
		provider: provider,
		tracer:   kotel.NewTracer(kotel.TracerProvider(provider), kotel.TracerPropagator(prop)),
		shutdown: shutdown,
	}
}

// tracingFromEnv sets tracing up from the standard OpenTelemetry variables,
// off unless asked for: OTEL_TRACES_EXPORTER=otlp (OTLP over HTTP,
// configured by OTEL_EXPORTER_OTLP_* as the SDK documents) or console
// (spans as JSON on stderr), or an OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT without OTEL_TRACES_EXPORTER.
// OTEL_SDK_DISABLED=true turns it off; OTEL_SERVICE_NAME names the service
// (default ordo-<role>); OTEL_TRACES_SAMPLER and OTEL_RESOURCE_ATTRIBUTES
// apply as usual.
func tracingFromEnv(ctx context.Context, role string) (*telemetry, error) {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return nil, nil
	}
	exporter := strings.ToLower(os.Getenv("OTEL_TRACES_EXPORTER"))
	if exporter == "" && (os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "") {
		exporter = "otlp"
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch exporter {
	case "", "none":
		return nil, nil
	case "otlp":
		proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if proto == "" {
			proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		if proto != "" && proto != "http/protobuf" {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: Ordo exports OTLP over HTTP only (http/protobuf)", proto)
		}
		exp, err = otlptracehttp.New(ctx)
	case "console":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(os.Stderr))
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: want otlp, console or none", exporter)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	if os.Getenv("OTEL_SERVICE_NAME") == "" {
		_ = os.Setenv("OTEL_SERVICE_NAME", "ordo-"+role)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(resource.Default()))
	return newTelemetry(tp, tp.Shutdown), nil
}

// kafkaOpts are the Kafka client hooks that carry the trace in record
// headers.
func (t *telemetry) kafkaOpts() []kgo.Opt {
	if t == nil {
		return nil
	}
	return []kgo.Opt{kgo.WithHooks(kotel.NewKotel(kotel.WithTracer(t.tracer)).Hooks()...)}
}

// pgxTracer traces the database statements; nil when off.
func (t *telemetry) pgxTracer() pgx.QueryTracer {
	if t == nil {
		return nil
	}
	return otelpgx.NewTracer(otelpgx.WithTracerProvider(t.provider), otelpgx.WithDisableConnectionDetailsInAttributes())
}

// recordTracer starts the consumer's processing spans; nil when off.
func (t *telemetry) recordTracer() consumer.RecordTracer {
	if t == nil {
		return nil
	}
	return t.tracer
}

// close flushes the spans not exported yet.
func (t *telemetry) close(ctx context.Context) {
	if t != nil && t.shutdown != nil {
		_ = t.shutdown(ctx)
	}
}
