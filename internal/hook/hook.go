// Package hook calls the hook points of this module's packages, which all
// have one shape: func(ctx, event) (ctx, done func(error)). A nil hook,
// a nil context or a nil done are allowed and mean "nothing to do".
package hook

import "context"

// Start calls f for ev and returns the context the work continues with
// (ctx when f is nil or returns none) and the done func to call with the
// outcome (nil when there is none).
func Start[E any, F ~func(context.Context, E) (context.Context, func(error))](f F, ctx context.Context, ev E) (context.Context, func(error)) {
	if f == nil {
		return ctx, nil
	}
	c, done := f(ctx, ev)
	if c == nil {
		c = ctx
	}
	return c, done
}

// Instant reports ev, which has no duration, with its outcome err.
func Instant[E any, F ~func(context.Context, E) (context.Context, func(error))](f F, ctx context.Context, ev E, err error) {
	if f == nil {
		return
	}
	if _, done := f(ctx, ev); done != nil {
		done(err)
	}
}
