package session_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

// recorder is an Observer that writes down each event with the class of
// its outcome, and checks that every done is called once.
type recorder struct {
	mu     sync.Mutex
	events []string
	open   int
}

type spanKey struct{}

func (r *recorder) observe(ctx context.Context, ev session.Event) (context.Context, func(error)) {
	r.mu.Lock()
	r.open++
	r.mu.Unlock()
	called := false
	return context.WithValue(ctx, spanKey{}, ev), func(err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if called {
			panic("done called twice")
		}
		called = true
		r.open--
		outcome := "ok"
		switch {
		case errors.Is(err, store.ErrNotFound):
			outcome = "not_found"
		case errors.Is(err, session.ErrConflict):
			outcome = "conflict"
		case err != nil:
			outcome = "error"
		}
		r.events = append(r.events, string(ev)+":"+outcome)
	}
}

// take returns the events since the last take.
func (r *recorder) take(t *testing.T) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open != 0 {
		t.Errorf("%d events started and not done", r.open)
	}
	s := strings.Join(r.events, " ")
	r.events = nil
	return s
}

// ctxStore records whether store operations ran under the Observer's
// context.
type ctxStore struct {
	store.Store
	mu   sync.Mutex
	seen []string
}

func (c *ctxStore) note(ctx context.Context, op string) {
	ev, _ := ctx.Value(spanKey{}).(session.Event)
	c.mu.Lock()
	c.seen = append(c.seen, op+" in "+string(ev))
	c.mu.Unlock()
}

func (c *ctxStore) Get(ctx context.Context, key string) (store.Record, error) {
	c.note(ctx, "get")
	return c.Store.Get(ctx, key)
}

func (c *ctxStore) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	c.note(ctx, "create")
	return c.Store.Create(ctx, key, value, ttl)
}

func TestObserverEvents(t *testing.T) {
	ctx := t.Context()
	rec := &recorder{}
	st := &ctxStore{Store: memory.New(nil)}
	m := mustManager(t, st, &session.Options{Observer: rec.observe})

	s, _ := m.Load(ctx, "")
	if got := rec.take(t); got != "" {
		t.Errorf("Load of no token: %q; want no event", got)
	}
	s.SetString("name", "a")
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.take(t), "create:ok save:ok"; got != want {
		t.Errorf("new session: %q; want %q", got, want)
	}
	token := s.Token()

	a, _ := m.Load(ctx, token)
	b, _ := m.Load(ctx, token)
	a.GetString("name")
	a.SetString("name", "x")
	b.GetString("name")
	b.SetString("name", "y")
	if err := a.Save(); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("second save: %v", err)
	}
	if got, want := rec.take(t), "load:ok load:ok save:ok conflict:conflict save:conflict"; got != want {
		t.Errorf("conflict: %q; want %q", got, want)
	}

	c, _ := m.Load(ctx, token)
	c.Renew()
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	token = c.Token()
	c.Destroy()
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.take(t), "load:ok renew:ok save:ok destroy:ok save:ok"; got != want {
		t.Errorf("renew, destroy: %q; want %q", got, want)
	}
	m.Load(ctx, token)
	if got, want := rec.take(t), "load:not_found"; got != want {
		t.Errorf("dead token: %q; want %q", got, want)
	}

	st.mu.Lock()
	seen := strings.Join(st.seen, ", ")
	st.mu.Unlock()
	if !strings.HasPrefix(seen, "create in save, get in load, get in load") {
		t.Errorf("store calls ran under %s; want each under its event's context", seen)
	}

	broken := newSpy(nil)
	broken.fail["Get"] = errors.New("store down")
	mb := mustManager(t, broken, &session.Options{Observer: rec.observe, Logger: quietLog()})
	if _, err := mb.Load(ctx, token); err == nil {
		t.Fatal("Load on a failing store: no error")
	}
	if got, want := rec.take(t), "load:error store_error:error"; got != want {
		t.Errorf("store failure: %q; want %q", got, want)
	}
}

// Two instances (Managers) on one store: a Retry handler that starts from
// its instance's stale copy conflicts, and runs again.
func TestObserverRetry(t *testing.T) {
	rec := &recorder{}
	st := memory.New(nil)
	counter := func(m *session.Manager) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
			session.From(r.Context()).Login()
			session.From(r.Context()).SetInt("n", 0)
			w.WriteHeader(http.StatusCreated)
		})
		mux.Handle("POST /inc", m.Retry(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r.Context())
			n, _ := s.GetInt("n")
			s.SetInt("n", n+1)
			fmt.Fprint(w, n+1)
		})))
		return m.Handler(mux)
	}
	one := counter(mustManager(t, st, &session.Options{Observer: rec.observe}))
	two := counter(mustManager(t, st, nil))
	w := do(t, one, "POST", "/login", "")
	token := tokenOf(t, w)
	rec.take(t)
	do(t, one, "POST", "/inc", token) // speculative: no load
	do(t, two, "POST", "/inc", token)
	w = do(t, one, "POST", "/inc", token)
	if b, _ := io.ReadAll(w.Body); string(b) != "3" {
		t.Fatalf("third increment answered %q", b)
	}
	if got, want := rec.take(t), "save:ok conflict:conflict save:conflict retry:ok load:ok save:ok"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func BenchmarkObserver(b *testing.B) {
	st := memory.New(nil)
	nop := func(ctx context.Context, ev session.Event) (context.Context, func(error)) { return ctx, nil }
	timed := func(ctx context.Context, ev session.Event) (context.Context, func(error)) {
		start := time.Now()
		return ctx, func(error) { _ = time.Since(start) }
	}
	for _, bc := range []struct {
		name string
		obs  session.Observer
	}{{"none", nil}, {"nil-done", nop}, {"timed-done", timed}} {
		b.Run(bc.name, func(b *testing.B) {
			m, _ := session.New(st, &session.Options{Observer: bc.obs, DisableSpeculation: true})
			h := app(m)
			token := login(b, h, "alice")
			b.ReportAllocs()
			for b.Loop() {
				if _, code := whoami(b, h, token); code != http.StatusOK {
					b.Fatal(code)
				}
			}
		})
	}
}
