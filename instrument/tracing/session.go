package tracing

import (
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
	return layerObserver(t, "session.", sessionSpans, []session.Event{session.EventCreate, session.EventRenew,
		session.EventDestroy, session.EventConflict, session.EventRetry, session.EventStoreError},
		classifySession, errorAttr)
}

// classifySession marks a load, save or touch span: a session not found
// and a save refused by a concurrent change are outcomes, not errors.
func classifySession(span trace.Span, err error) {
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		span.SetAttributes(outcomeNotFound)
	case errors.Is(err, store.ErrConflict) || errors.Is(err, session.ErrConflict):
		span.SetAttributes(outcomeConflict)
	default:
		setError(span, err)
	}
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
