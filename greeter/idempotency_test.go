package greeter_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stateless-go/stateless/greeter"
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
