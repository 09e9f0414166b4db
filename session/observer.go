package session

import (
	"context"
	"errors"

	"github.com/stateless-go/stateless/internal/hook"
)

// Event names what the session layer did, for an Observer. Its values are
// short lower-case words, fit for a metric label or a span name as they
// are.
type Event string

// The events an Observer sees. Timed events span work that touches the
// store (done is called when it ends, with its error); instant events call
// done at once.
const (
	// EventLoad (timed): the session is read from the store, on first use
	// in a request. done gets nil, store.ErrNotFound when the token names
	// no record, or the store's error. A speculative run of a Retry
	// handler, which starts from this instance's copy, reads nothing and
	// has no load.
	EventLoad Event = "load"
	// EventSave (timed): the changes of a request are written (every save
	// that has something to write or to check, whatever it writes: create,
	// compare-and-swap, renew, delete). done gets what the save returns:
	// nil, an error wrapping ErrConflict or ErrTooLarge, or the store's.
	EventSave Event = "save"
	// EventCreate (instant): a new session was stored (a login, or values
	// set on a request without a session).
	EventCreate Event = "create"
	// EventRenew (instant): a session moved to a new token (Renew).
	EventRenew Event = "renew"
	// EventDestroy (instant): a stored session was deleted (Destroy, or the
	// old session of a Login).
	EventDestroy Event = "destroy"
	// EventConflict (instant): a save was refused because a concurrent
	// request changed or ended the session; done gets the error, which
	// wraps ErrConflict. A conflicting compare-and-swap whose changes could
	// be merged is no event: it succeeds. Under Retry, a retry follows.
	EventConflict Event = "conflict"
	// EventRetry (instant): Retry runs a handler again after a conflict.
	EventRetry Event = "retry"
	// EventTouch (timed): the idle expiry of a session that was only read
	// is pushed back (at most once per TouchInterval). done gets the
	// store's answer.
	EventTouch Event = "touch"
	// EventStoreError (instant): a store operation failed: a load, a save
	// answered with an error status, a touch. done gets the error. It is
	// reported for every failure, while the log keeps one line every few
	// seconds.
	EventStoreError Event = "store_error"
)

// Observer is told what the session layer does; set it in
// Options.Observer. It is called when an event starts, with the request's
// context, and returns the context the work continues with (a tracer
// returns one carrying a child span, whose store operations then nest
// under it; return ctx unchanged otherwise) and a done func called exactly
// once with the outcome; done may be nil. It is the same shape as
// store.Hook, so one function can count, time and trace.
//
// An Observer never sees a token, a store key or a value. It must be safe
// for concurrent use, and fast: it runs on every request that uses its
// session.
type Observer func(ctx context.Context, ev Event) (context.Context, func(err error))

// observe starts ev; done is nil when there is nothing to call.
func (m *Manager) observe(ctx context.Context, ev Event) (context.Context, func(error)) {
	return hook.Start(m.c.observe, ctx, ev)
}

// event reports an instant event.
func (m *Manager) event(ctx context.Context, ev Event, err error) {
	hook.Instant(m.c.observe, ctx, ev, err)
}

// observedSave is save within EventSave, when there is work for the store.
// s.mu must be held.
func (s *Session) observedSave() error {
	if s.m.c.observe == nil || !s.stored.loaded || !s.pending.any() && !s.stored.speculative {
		return s.saveNow()
	}
	ctx := s.ctx
	c, done := s.m.observe(ctx, EventSave)
	s.ctx = c
	err := s.saveNow()
	s.ctx = ctx
	if done != nil {
		done(err)
	}
	return err
}

// observeStoreError reports a store failure; errors of the session's own
// making are not the store's.
func (m *Manager) observeStoreError(ctx context.Context, err error) {
	if m.c.observe != nil && !errors.Is(err, ErrTooLarge) {
		m.event(ctx, EventStoreError, err)
	}
}
