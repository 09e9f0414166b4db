package prom

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stateless-go/stateless/auth"
	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
)

var sessionEvents = [...]session.Event{session.EventLoad, session.EventSave, session.EventCreate, session.EventRenew,
	session.EventDestroy, session.EventConflict, session.EventRetry, session.EventTouch, session.EventStoreError}

// sessionResults: what a session event ended with.
var sessionResults = [...]string{"ok", "not_found", "conflict", "too_large", "error"}

func sessionResult(ev session.Event, err error) int {
	switch {
	case err == nil:
		return 0
	case ev == session.EventConflict, ev == session.EventStoreError:
		return 0 // the event is the outcome; its error is the cause
	case errors.Is(err, store.ErrNotFound):
		return 1
	case errors.Is(err, session.ErrConflict):
		return 2
	case errors.Is(err, session.ErrTooLarge), errors.Is(err, store.ErrTooLarge):
		return 3
	}
	return 4
}

// SessionObserver returns a session.Observer, for session.Options.Observer,
// counting every event by result. It times nothing (the store operations
// under a load, save or touch are timed by StoreHook; a tracer times the
// events themselves) and allocates nothing: it costs a session read one
// map lookup and one counter increment.
func (m *Metrics) SessionObserver() session.Observer {
	dones := make(map[session.Event]func(error), len(sessionEvents))
	for _, ev := range sessionEvents {
		var results [len(sessionResults)]prometheus.Counter
		for i, r := range sessionResults {
			results[i] = m.sessEvents.WithLabelValues(string(ev), r)
		}
		dones[ev] = func(err error) { results[sessionResult(ev, err)].Inc() }
	}
	return func(ctx context.Context, ev session.Event) (context.Context, func(error)) {
		return ctx, dones[ev]
	}
}

// AuthObserver returns an auth.Observer, for auth.VerifierOptions.Observer
// and auth.RevocationOptions.Observer, counting verifications by
// auth.Result, cache hits and misses, and revocations. It allocates
// nothing.
func (m *Metrics) AuthObserver() auth.Observer {
	hit, miss := m.authCache.WithLabelValues("hit"), m.authCache.WithLabelValues("miss")
	revOK, revErr := m.authRevoke.WithLabelValues("ok"), m.authRevoke.WithLabelValues("error")
	verify := func(err error) { m.authVerify.WithLabelValues(auth.Result(err)).Inc() }
	verifyOK := m.authVerify.WithLabelValues("ok")
	verifyFast := func(err error) {
		if err == nil {
			verifyOK.Inc() // the common case, without a label lookup
			return
		}
		verify(err)
	}
	cacheHit := func(error) { hit.Inc() }
	cacheMiss := func(error) { miss.Inc() }
	revoke := func(err error) {
		if err != nil {
			revErr.Inc()
			return
		}
		revOK.Inc()
	}
	return func(ctx context.Context, ev auth.Event) (context.Context, func(error)) {
		switch ev {
		case auth.EventVerify:
			return ctx, verifyFast
		case auth.EventCacheHit:
			return ctx, cacheHit
		case auth.EventCacheMiss:
			return ctx, cacheMiss
		case auth.EventRevoke:
			return ctx, revoke
		}
		return ctx, nil
	}
}

var idempotencyEvents = [...]idempotency.Event{idempotency.EventExecute, idempotency.EventTakeover, idempotency.EventRelease,
	idempotency.EventReplay, idempotency.EventInFlight, idempotency.EventMismatch, idempotency.EventTooLarge,
	idempotency.EventNotReplayable, idempotency.EventAbandoned, idempotency.EventInvalid, idempotency.EventUnavailable}

// IdempotencyObserver returns an idempotency.Observer, for
// idempotency.Options.Observer, counting executions, replays and each
// refusal, and store errors. It allocates nothing.
func (m *Metrics) IdempotencyObserver() idempotency.Observer {
	dones := make(map[idempotency.Event]func(error), len(idempotencyEvents)+1)
	for _, ev := range idempotencyEvents {
		c := m.idemEvents.WithLabelValues(string(ev))
		dones[ev] = func(error) { c.Inc() }
	}
	dones[idempotency.EventStoreError] = func(error) { m.idemStoreErrs.Inc() }
	return func(ctx context.Context, ev idempotency.Event) (context.Context, func(error)) {
		return ctx, dones[ev] // nil for claim and record: counted as store operations
	}
}
