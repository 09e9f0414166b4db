package idempotency

import (
	"context"
	"net/http"

	"github.com/stateless-go/stateless/internal/hook"
)

// Event names what the middleware did with a keyed request, for an
// Observer. Its values are short lower-case words, fit for a metric label
// or a span name as they are.
type Event string

// The events an Observer sees. A keyed request of a covered method has one
// claim and then one of: an execution (with its record), a replay, or a
// refusal (in_flight, mismatch, too_large, not_replayable, abandoned,
// invalid, unavailable).
const (
	// EventClaim (timed): the key's record is read and, if free, claimed
	// for this request. done gets the store's error, or nil (whatever was
	// found).
	EventClaim Event = "claim"
	// EventExecute (timed): the handler runs as the key's owner, under
	// the context the Observer returns. done gets nil when the handler
	// returns (or panics: the panic goes on).
	EventExecute Event = "execute"
	// EventTakeover (instant): the execution is a run again, after the
	// lease of an owner that stopped renewing it lapsed.
	EventTakeover Event = "takeover"
	// EventRecord (timed): the outcome of an execution is written for
	// replay (or the key released). done gets the store's error: nil,
	// store.ErrConflict or store.ErrNotFound when the key was taken over
	// meanwhile, or a failure.
	EventRecord Event = "record"
	// EventRelease (instant): the key was freed for a retry instead of
	// recording the outcome (a 5xx, 408, 425 or 429 answer, or a panic).
	EventRelease Event = "release"
	// EventReplay (instant): a retry got the recorded response.
	EventReplay Event = "replay"
	// Refusals (instant), each with its status.
	EventInFlight      Event = "in_flight"      // 409: the key's first request is still running
	EventMismatch      Event = "mismatch"       // 422: the key was used with another request
	EventTooLarge      Event = "too_large"      // 413: the request body is over MaxRequestBody
	EventNotReplayable Event = "not_replayable" // 409: completed, but its response cannot be replayed
	EventAbandoned     Event = "abandoned"      // 409: StrictAtMostOnce and the owner stopped
	EventInvalid       Event = "invalid"        // 400 or 403: a bad or missing key, a bad body, a refused scope
	EventUnavailable   Event = "unavailable"    // 503: the store failed (after EventStoreError)
	// EventStoreError (instant): a store operation failed (not a request
	// whose client hung up). done gets the error. Every one is reported,
	// while the log keeps one line a second.
	EventStoreError Event = "store_error"
)

// Observer is told what the middleware does; set it in Options.Observer.
// It is called when an event starts, with the request's context, and
// returns the context the work continues with (a tracer returns one
// carrying a child span; return ctx unchanged otherwise) and a done func
// called exactly once with the outcome; done may be nil. Instant events
// call done at once. It is the shape of store.Hook and session.Observer,
// so one function can count, time and trace.
//
// An Observer never sees an Idempotency-Key, a request or a response. It
// must be safe for concurrent use, and fast.
type Observer func(ctx context.Context, ev Event) (context.Context, func(err error))

// observe starts ev; done is nil when there is nothing to call.
func (m *Middleware) observe(ctx context.Context, ev Event) (context.Context, func(error)) {
	return hook.Start(m.c.observe, ctx, ev)
}

// event reports an instant event.
func (m *Middleware) event(ctx context.Context, ev Event, err error) {
	hook.Instant(m.c.observe, ctx, ev, err)
}

// refuse reports the refusal p and answers with it.
func (m *Middleware) refuse(ctx context.Context, w http.ResponseWriter, p *problem) {
	if m.c.observe != nil {
		ev := EventInvalid
		switch p.Type {
		case ProblemInFlight:
			ev = EventInFlight
		case ProblemMismatch:
			ev = EventMismatch
		case ProblemTooLarge:
			ev = EventTooLarge
		case ProblemNotReplayable:
			ev = EventNotReplayable
		case ProblemAbandoned:
			ev = EventAbandoned
		case ProblemUnavailable:
			ev = EventUnavailable
		}
		m.event(ctx, ev, nil)
	}
	p.write(w)
}

// observedAcquire is acquire within EventClaim.
func (m *Middleware) observedAcquire(ctx context.Context, skey string, fp *[32]byte) claim {
	if m.c.observe == nil {
		return m.acquire(ctx, skey, fp)
	}
	c, done := m.observe(ctx, EventClaim)
	cl := m.acquire(c, skey, fp)
	if done != nil {
		done(cl.err)
	}
	if cl.err == nil && cl.prob == nil && cl.attempt > 1 {
		m.event(ctx, EventTakeover, nil)
	}
	return cl
}
