package greeter_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

func keyed(t *testing.T, h http.Handler, path, token, key string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, nil)
	r.Header.Set("X-Session-Token", token)
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestVisitsOncePerKey: POST /session/visits retried 100 times with one
// Idempotency-Key, over two instances, counts one visit; every retry gets
// the first answer, marked replayed. Another session's same key is its
// own.
func TestVisitsOncePerKey(t *testing.T) {
	st := memory.New(nil)
	a, b := greeter.New(st, nil), greeter.New(st, nil)
	alice := loginAs(t, a, "Alice")
	first := keyed(t, a, "/session/visits", alice, "retry-me")
	if got := decodeSession(t, first, http.StatusOK); got.Visits != 1 {
		t.Fatalf("first keyed visit: %+v", got)
	}
	for i := range 100 {
		w := keyed(t, []http.Handler{a, b}[i%2], "/session/visits", alice, "retry-me")
		if w.Code != http.StatusOK || w.Body.String() != `{"name":"Alice","visits":1}`+"\n" || w.Header().Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry %d: %d %q %v, want the first answer replayed", i, w.Code, w.Body, w.Header())
		}
	}
	if got := decodeSession(t, call(t, b, "GET", "/session", "", alice, false), http.StatusOK); got.Visits != 1 {
		t.Errorf("after 101 keyed POSTs the session shows %d visits, want 1", got.Visits)
	}
	// A new key counts again; no key counts every time.
	if got := decodeSession(t, keyed(t, b, "/session/visits", alice, "another"), http.StatusOK); got.Visits != 2 {
		t.Errorf("a new key: %+v, want visit 2", got)
	}
	if got := decodeSession(t, keyed(t, b, "/session/visits", alice, ""), http.StatusOK); got.Visits != 3 {
		t.Errorf("no key: %+v, want visit 3", got)
	}
	// Bob's "retry-me" is not Alice's: scoped by session.
	bob := loginAs(t, a, "Bob")
	if got := decodeSession(t, keyed(t, b, "/session/visits", bob, "retry-me"), http.StatusOK); got != (sessionReply{"Bob", 1}) {
		t.Errorf("Bob with Alice's key: %+v, want his own first visit", got)
	}
	// A malformed key is the client's error.
	if w := keyed(t, a, "/session/visits", alice, `"unterminated`); w.Code != http.StatusBadRequest {
		t.Errorf("malformed key: %d, want 400", w.Code)
	}
	// GET /session/visits is no route for counting.
	if w := call(t, a, "GET", "/session/visits", "", alice, false); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /session/visits: %d, want 405", w.Code)
	}
}

// TestLoginAcceptsAKey: POST /session with an Idempotency-Key is a login
// like any other.
func TestLoginAcceptsAKey(t *testing.T) {
	h := greeter.New(memory.New(nil), nil)
	for range 2 {
		r := httptest.NewRequest(http.MethodPost, "/session", stringsReader(`{"name":"Alice"}`))
		r.Header.Set("Idempotency-Key", "k1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusCreated || w.Header().Get("X-Session-Token") == "" {
			t.Errorf("keyed login: %d %v", w.Code, w.Header())
		}
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// opCounter counts the store calls a Greeter makes, by method.
type opCounter struct {
	store.Store
	mu  sync.Mutex
	ops map[string]int
}

func (c *opCounter) note(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops[op]++
}

func (c *opCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := c.ops
	c.ops = map[string]int{}
	return ops
}

func (c *opCounter) Get(ctx context.Context, key string) (store.Record, error) {
	c.note("get")
	return c.Store.Get(ctx, key)
}

func (c *opCounter) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	c.note("create")
	return c.Store.Create(ctx, key, value, ttl)
}

func (c *opCounter) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	c.note("replace")
	return c.Store.Replace(ctx, key, value, ttl, version)
}

func (c *opCounter) Touch(ctx context.Context, key string, ttl time.Duration) error {
	c.note("touch")
	return c.Store.Touch(ctx, key, ttl)
}

func (c *opCounter) Delete(ctx context.Context, key string) error {
	c.note("delete")
	return c.Store.Delete(ctx, key)
}

// opCounterCOG is opCounter over a store.CreateOrGetter, which it offers.
type opCounterCOG struct{ *opCounter }

func (c opCounterCOG) CreateOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) (store.Record, bool, error) {
	c.note("createOrGet")
	return c.Store.(store.CreateOrGetter).CreateOrGet(ctx, key, value, ttl)
}

// TestReplayCostsOneRead: a replayed POST /session/visits costs one store
// call, the read of its idempotency record, and no session read (the
// scope is a hash of the session token, not the session's ID). A first
// execution costs the key's claim (a Get and a Create, or one CreateOrGet
// where the store offers it), the session's save and the key's
// completion.
func TestReplayCostsOneRead(t *testing.T) {
	for _, withCOG := range []bool{false, true} {
		t.Run(map[bool]string{false: "Get", true: "CreateOrGet"}[withCOG], func(t *testing.T) {
			oc := &opCounter{Store: memory.New(nil), ops: map[string]int{}}
			var st store.Store = oc
			first, replay := map[string]int{"get": 1, "create": 1, "replace": 2}, map[string]int{"get": 1}
			if withCOG {
				st = opCounterCOG{oc}
				first, replay = map[string]int{"createOrGet": 1, "replace": 2}, map[string]int{"createOrGet": 1}
			}
			h := greeter.New(st, nil)
			alice := loginAs(t, h, "Alice")
			oc.take()
			if got := decodeSession(t, keyed(t, h, "/session/visits", alice, "k1"), http.StatusOK); got.Visits != 1 {
				t.Fatalf("first keyed visit: %+v", got)
			}
			if ops := oc.take(); !maps.Equal(ops, first) {
				t.Errorf("first execution made %v; want %v", ops, first)
			}
			for i := range 3 {
				w := keyed(t, h, "/session/visits", alice, "k1")
				if w.Header().Get("Idempotent-Replayed") != "true" {
					t.Fatalf("retry %d not replayed: %d %q", i, w.Code, w.Body)
				}
				if ops := oc.take(); !maps.Equal(ops, replay) {
					t.Errorf("replay %d made %v; want %v", i, ops, replay)
				}
			}
		})
	}
}
