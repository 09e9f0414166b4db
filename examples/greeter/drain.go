package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
)

// drainer passes every request on to next until start is called. From then
// on GET and HEAD /readyz answer 503 {"error":"draining"}, so that load
// balancers polling it stop sending requests, while every other request is
// still served; each response then carries Connection: close, so that
// clients holding a connection to this instance open a new one, which the
// balancer sends elsewhere.
type drainer struct {
	draining atomic.Bool
	next     http.Handler
}

// bodyDraining is the JSON error /readyz answers while draining.
var bodyDraining = []byte(`{"error":"draining"}` + "\n")

func (d *drainer) start() { d.draining.Store(true) }

func (d *drainer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.draining.Load() {
		h := w.Header()
		h.Set("Connection", "close")
		if r.URL.Path == "/readyz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			h.Set("Content-Type", "application/json")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Length", strconv.Itoa(len(bodyDraining)))
			w.WriteHeader(http.StatusServiceUnavailable)
			if r.Method != http.MethodHead {
				_, _ = w.Write(bodyDraining) // an error means the client has gone
			}
			return
		}
	}
	d.next.ServeHTTP(w, r)
}

// errLeftRunning: a start-up step was still running when ctx ended, and
// was left to finish alone.
var errLeftRunning = errors.New("interrupted; left running")

// unlessStopped runs f, a start-up step that may wait on the store for
// long, and returns what it returns; or, as soon as ctx ends first,
// errLeftRunning, leaving f to finish alone and hand what it returns to
// release, which frees it. So a signal ends the start-up at once, whether
// or not the step honours ctx.
func unlessStopped[T any](ctx context.Context, f func() (T, error), release func(T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		go func() {
			r := <-done
			release(r.v, r.err)
		}()
		var zero T
		return zero, errLeftRunning
	}
}
