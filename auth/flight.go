package auth

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errSkipped: a refresh was not attempted, the last one being too recent.
var errSkipped = errors.New("auth: refresh skipped (rate limit)")

// flight runs one refresh at a time (single-flight) and at most one every
// min interval (rate limit): callers that arrive during a refresh wait for
// its result, callers that arrive too soon after one get errSkipped. The
// refresh runs in its own goroutine, so a caller that gives up (its context
// ends) stops waiting without cancelling it for the others; fn must bound
// its own duration.
type flight struct {
	mu   sync.Mutex
	call *flightCall
	last time.Time // start of the last refresh
}

type flightCall struct {
	done chan struct{}
	err  error
}

// do runs fn unless a refresh started less than minInterval before now, or
// joins the refresh in progress.
func (f *flight) do(ctx context.Context, now time.Time, minInterval time.Duration, fn func() error) error {
	f.mu.Lock()
	c := f.call
	if c == nil {
		if !f.last.IsZero() && now.Sub(f.last) < minInterval && now.Sub(f.last) >= 0 {
			f.mu.Unlock()
			return errSkipped
		}
		f.last = now
		c = &flightCall{done: make(chan struct{})}
		f.call = c
		go func() {
			defer close(c.done)
			c.err = fn()
			f.mu.Lock()
			f.call = nil
			f.mu.Unlock()
		}()
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
