package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// layerObserver is the observer of a layer whose hook point has the
// shape every one of this module has (session, idempotency): under a
// recording span, an event named in spans starts a child span of that
// name, which classify marks with the outcome before it ends; any other
// event becomes a span event "<prefix><event>" on the span in its
// context, carrying errAttr(err) when it failed. instants are the layer's
// other events, named once here rather than on every call.
func layerObserver[E ~string](t *Tracer, prefix string, spans map[E]string, instants []E,
	classify func(trace.Span, error), errAttr func(error) attribute.KeyValue) func(context.Context, E) (context.Context, func(error)) {
	internal := trace.WithSpanKind(trace.SpanKindInternal)
	names := make(map[E]string, len(instants))
	for _, ev := range instants {
		names[ev] = prefix + string(ev)
	}
	return func(ctx context.Context, ev E) (context.Context, func(error)) {
		parent := trace.SpanFromContext(ctx)
		if !parent.IsRecording() {
			return ctx, nil
		}
		if name, ok := spans[ev]; ok {
			ctx, span := t.tracer.Start(ctx, name, internal)
			return ctx, func(err error) {
				classify(span, err)
				span.End()
			}
		}
		name, ok := names[ev]
		if !ok {
			name = prefix + string(ev) // an event added after this package
		}
		return ctx, func(err error) {
			if err == nil {
				parent.AddEvent(name)
				return
			}
			parent.AddEvent(name, trace.WithAttributes(errAttr(err)))
		}
	}
}
