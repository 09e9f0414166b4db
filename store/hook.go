package store

import (
	"context"
	"time"

	"github.com/stateless-go/stateless/internal/hook"
)

// Op names a store operation, for instrumentation. Its values are short
// lower-case words, fit for a metric label or a span name as they are.
type Op string

// The operations a Hook sees.
const (
	OpGet              Op = "get"
	OpCreate           Op = "create"
	OpReplace          Op = "replace"
	OpTouch            Op = "touch"
	OpDelete           Op = "delete"
	OpCompareAndDelete Op = "compare_and_delete"
	OpCreateOrGet      Op = "create_or_get"
	OpPing             Op = "ping"
)

// Hook observes store operations; WithHook calls it. It is called when an
// operation starts, with the caller's context and the operation, and
// returns the context the operation continues with (a tracer returns one
// carrying a child span; return ctx unchanged otherwise) and a done func
// that is called exactly once, when the operation returns, with its error
// (nil on success). done may be nil: nothing is called.
//
// The error is the store's answer as the contract gives it: ErrNotFound,
// ErrExists and ErrConflict are answers, not failures, and instrumentation
// should count them apart from other errors (see Stats.Errors for the same
// rule).
//
// A Hook never sees a key or a value: keys carry session IDs and token
// hashes. It must be safe for concurrent use, and fast: it runs on every
// operation.
//
// This is the one shape every hook point of this module has
// (session.Observer, and the observers of auth and idempotency): a start
// that may return a new context, and a done that gets the outcome, so that
// one function serves a metrics counter, a latency histogram and a tracer.
type Hook func(ctx context.Context, op Op) (context.Context, func(err error))

// WithHook returns s with h called around every operation but Close. The
// result offers exactly the optional capabilities s offers (NonBlocking,
// StatsReporter, CompareAndDeleter, CreateOrGetter), forwarded to s, so
// callers that probe for them behave as they do with s. Close closes s. A
// nil h returns s.
func WithHook(s Store, h Hook) Store {
	if h == nil || s == nil {
		return s
	}
	return withCaps(&hooked{s: s, h: h})
}

type hooked struct {
	s Store
	h Hook
}

func (w *hooked) start(ctx context.Context, op Op) (context.Context, func(error)) {
	return hook.Start(w.h, ctx, op)
}

func (w *hooked) Get(ctx context.Context, key string) (Record, error) {
	ctx, done := w.start(ctx, OpGet)
	rec, err := w.s.Get(ctx, key)
	if done != nil {
		done(err)
	}
	return rec, err
}

func (w *hooked) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	ctx, done := w.start(ctx, OpCreate)
	v, err := w.s.Create(ctx, key, value, ttl)
	if done != nil {
		done(err)
	}
	return v, err
}

func (w *hooked) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	ctx, done := w.start(ctx, OpReplace)
	v, err := w.s.Replace(ctx, key, value, ttl, version)
	if done != nil {
		done(err)
	}
	return v, err
}

func (w *hooked) Touch(ctx context.Context, key string, ttl time.Duration) error {
	ctx, done := w.start(ctx, OpTouch)
	err := w.s.Touch(ctx, key, ttl)
	if done != nil {
		done(err)
	}
	return err
}

func (w *hooked) Delete(ctx context.Context, key string) error {
	ctx, done := w.start(ctx, OpDelete)
	err := w.s.Delete(ctx, key)
	if done != nil {
		done(err)
	}
	return err
}

func (w *hooked) Ping(ctx context.Context) error {
	ctx, done := w.start(ctx, OpPing)
	err := w.s.Ping(ctx)
	if done != nil {
		done(err)
	}
	return err
}

func (w *hooked) Close() error { return w.s.Close() }

type hookedCAD struct {
	w   *hooked
	cad CompareAndDeleter
}

func (c hookedCAD) CompareAndDelete(ctx context.Context, key string, version uint64) error {
	ctx, done := c.w.start(ctx, OpCompareAndDelete)
	err := c.cad.CompareAndDelete(ctx, key, version)
	if done != nil {
		done(err)
	}
	return err
}

type hookedCOG struct {
	w   *hooked
	cog CreateOrGetter
}

func (g hookedCOG) CreateOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) (Record, bool, error) {
	ctx, done := g.w.start(ctx, OpCreateOrGet)
	rec, created, err := g.cog.CreateOrGet(ctx, key, value, ttl)
	if done != nil {
		done(err)
	}
	return rec, created, err
}

type hookedStats struct{ sr StatsReporter }

func (s hookedStats) Stats() Stats { return s.sr.Stats() }

type nonBlocking struct{}

func (nonBlocking) NonBlocking() {}
