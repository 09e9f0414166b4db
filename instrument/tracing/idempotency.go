package tracing

import (
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/store"
)

// idempotencySpans are the phases of a keyed request that take time and
// get a span: claiming the key, running the handler as its owner,
// recording the outcome. Their store operations nest under them, and the
// whole handler (session, store) under "idempotency.execute". The other
// events (replay, release, takeover, the refusals, store_error) become
// span events of their name on the span in their context.
var idempotencySpans = map[idempotency.Event]string{
	idempotency.EventClaim:   "idempotency.claim",
	idempotency.EventExecute: "idempotency.execute",
	idempotency.EventRecord:  "idempotency.record",
}

// IdempotencyObserver returns an idempotency.Observer, for
// idempotency.Options.Observer, that traces the phases of a keyed request
// under a recording span. The key itself is never recorded. A record that
// lost its key to a takeover carries stateless.store.outcome (conflict or
// not_found) rather than an error status. The no-op provider gets nil.
func (t *Tracer) IdempotencyObserver() idempotency.Observer {
	if t.off {
		return nil
	}
	return layerObserver(t, "idempotency.", idempotencySpans, []idempotency.Event{
		idempotency.EventTakeover, idempotency.EventRelease, idempotency.EventReplay, idempotency.EventInFlight,
		idempotency.EventMismatch, idempotency.EventTooLarge, idempotency.EventNotReplayable, idempotency.EventAbandoned,
		idempotency.EventInvalid, idempotency.EventUnavailable, idempotency.EventStoreError,
	}, classifyIdempotency, func(err error) attribute.KeyValue { return errorTypeKey.String(errorClass(err)) })
}

// classifyIdempotency marks a phase's span: a record that lost its key
// to a takeover (a conflict, or the key gone) is an outcome, not an error.
func classifyIdempotency(span trace.Span, err error) {
	switch {
	case err == nil:
	case errors.Is(err, store.ErrConflict):
		span.SetAttributes(outcomeConflict)
	case errors.Is(err, store.ErrNotFound):
		span.SetAttributes(outcomeNotFound)
	default:
		setError(span, err)
	}
}
