package tracing

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
)

// sessionSpans are the session events that take time and get a span of
// their own ("session.load", "session.save", "session.touch"), under which
// their store operations nest. The others (create, renew, destroy,
// conflict, retry, store_error) are instants: they become events of that
// name on the span in their context, the request's or a save's.
var sessionSpans = map[session.Event]string{
	session.EventLoad:  "session.load",
	session.EventSave:  "session.save",
	session.EventTouch: "session.touch",
}

// SessionObserver returns a session.Observer, for session.Options.Observer,
// that traces the session layer under a recording span: loads, saves and
// touches as spans, the rest as span events. A save refused by a
// concurrent change carries stateless.store.outcome=conflict rather than
// an error status (under Manager.Retry a retry follows, as a
// "session.retry" event). The no-op provider gets nil.
func (t *Tracer) SessionObserver() session.Observer {
	if t.off {
		return nil
	}
	internal := trace.WithSpanKind(trace.SpanKindInternal)
	events := map[session.Event]string{}
	for _, ev := range []session.Event{session.EventCreate, session.EventRenew, session.EventDestroy,
		session.EventConflict, session.EventRetry, session.EventStoreError} {
		events[ev] = "session." + string(ev)
	}
	return func(ctx context.Context, ev session.Event) (context.Context, func(error)) {
		parent := trace.SpanFromContext(ctx)
		if !parent.IsRecording() {
			return ctx, nil
		}
		if name, ok := sessionSpans[ev]; ok {
			ctx, span := t.tracer.Start(ctx, name, internal)
			return ctx, func(err error) { endSessionSpan(span, err) }
		}
		name, ok := events[ev]
		if !ok {
			name = "session." + string(ev)
		}
		return ctx, func(err error) {
			if err == nil {
				parent.AddEvent(name)
				return
			}
			parent.AddEvent(name, trace.WithAttributes(errorAttr(err)))
		}
	}
}

func endSessionSpan(span trace.Span, err error) {
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		span.SetAttributes(outcomeNotFound)
	case errors.Is(err, store.ErrConflict) || errors.Is(err, session.ErrConflict):
		span.SetAttributes(outcomeConflict)
	default:
		setError(span, err)
	}
	span.End()
}

// errorAttr is error.type for err: its class, never its message.
func errorAttr(err error) attribute.KeyValue {
	switch {
	case errors.Is(err, store.ErrConflict) || errors.Is(err, session.ErrConflict):
		return outcomeConflict
	case errors.Is(err, session.ErrTooLarge):
		return errorTypeKey.String("too_large")
	}
	return errorTypeKey.String(errorClass(err))
}
