package consumer

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// traceBatch starts the processing span of every record of parts (each
// record's Context then carries it, for its reply) and the transaction's
// span: a child of the first record's, linked to the others'. end ends
// them all. Without a Tracer it returns context.Background and does
// nothing.
func (p *Processor) traceBatch(parts []*pending) (ctx context.Context, end func()) {
	if p.cfg.Tracer == nil {
		return context.Background(), func() {}
	}
	var (
		spans []trace.Span
		links []trace.Link
		first context.Context
	)
	for _, pt := range parts {
		for _, r := range pt.recs {
			rctx, span := p.cfg.Tracer.WithProcessSpan(r)
			r.Context = rctx
			spans = append(spans, span)
			if first == nil {
				first = rctx
			} else {
				links = append(links, trace.Link{SpanContext: span.SpanContext()})
			}
		}
	}
	ctx, batch := otel.Tracer("github.com/ordo-dev/ordo/consumer").Start(first, "ordo apply",
		trace.WithLinks(links...), trace.WithAttributes(attribute.Int("ordo.commands", len(spans)), attribute.Int("ordo.partitions", len(parts))))
	return ctx, func() {
		batch.End()
		for _, s := range spans {
			s.End()
		}
	}
}

// replyContext is what a record's reply is produced under: its processing
// span (set by traceBatch) when tracing, otherwise no context at all.
func (p *Processor) replyContext(r *kgo.Record) context.Context {
	if p.cfg.Tracer != nil && r.Context != nil {
		return r.Context
	}
	return context.Background()
}
