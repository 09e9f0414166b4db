package idempotency_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stateless-go/stateless/idempotency"
)

type evRecorder struct {
	mu     sync.Mutex
	events []string
}

type evKey struct{}

func (r *evRecorder) observe(ctx context.Context, ev idempotency.Event) (context.Context, func(error)) {
	return context.WithValue(ctx, evKey{}, ev), func(err error) {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		r.mu.Lock()
		r.events = append(r.events, string(ev)+":"+outcome)
		r.mu.Unlock()
	}
}

func (r *evRecorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.events, " ")
	r.events = nil
	return s
}

func TestObserverEvents(t *testing.T) {
	rec := &evRecorder{}
	f := &failing{Store: newMemory()}
	var underExecute bool
	h := newMiddleware(t, f, &idempotency.Options{Observer: rec.observe, MaxRequestBody: 8}).Handler(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			underExecute = r.Context().Value(evKey{}) == idempotency.EventExecute
			if r.URL.Path == "/fail" {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusCreated)
		}))
	steps := []struct {
		r    *http.Request
		down bool
		code int
		want string
	}{
		{req("POST", "/", `"a"`, "x"), false, 201, "claim:ok execute:ok record:ok"},
		{req("POST", "/", `"a"`, "x"), false, 201, "claim:ok replay:ok"},
		{req("POST", "/", `"a"`, "y"), false, 422, "claim:ok mismatch:ok"},
		{req("POST", "/", `"b"`, "too long a body"), false, 413, "too_large:ok"},
		{req("POST", "/", `bad key`, "x"), false, 400, "invalid:ok"},
		{req("POST", "/fail", `"c"`, "x"), false, 503, "claim:ok execute:ok record:ok release:ok"},
		{req("POST", "/", `"d"`, "x"), true, 503, "claim:error store_error:error unavailable:ok"},
		{req("POST", "/", "", "x"), false, 201, ""},
	}
	for i, s := range steps {
		f.down.Store(s.down)
		w := serve(h, s.r)
		if w.Code != s.code {
			t.Errorf("step %d: status %d; want %d", i, w.Code, s.code)
		}
		if got := rec.take(); got != s.want {
			t.Errorf("step %d: events %q; want %q", i, got, s.want)
		}
		if i == 0 && !underExecute {
			t.Error("the handler did not run under the execute event's context")
		}
	}
}

func TestObserverInFlight(t *testing.T) {
	rec := &evRecorder{}
	started, release := make(chan struct{}), make(chan struct{})
	h := newMiddleware(t, newMemory(), &idempotency.Options{Observer: rec.observe}).Handler(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
		}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(h, req("POST", "/", `"k"`, ""))
	}()
	<-started
	if w := serve(h, req("POST", "/", `"k"`, "")); w.Code != http.StatusConflict {
		t.Errorf("concurrent retry: %d; want 409", w.Code)
	}
	close(release)
	<-done
	got := rec.take()
	if !strings.Contains(got, "in_flight:ok") || strings.Count(got, "execute:ok") != 1 {
		t.Errorf("events %q; want one execution and one in_flight", got)
	}
}
