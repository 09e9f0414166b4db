package session_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

// spy wraps a store: it counts operations, records every key and value
// written, and can run a hook before a Replace or fail operations.
type spy struct {
	store.Store
	mu      sync.Mutex
	ops     map[string]int
	written []string // keys and values, as strings
	// beforeReplace runs (once, then is cleared) before a Replace reaches
	// the store, to let a "concurrent request" get in first.
	beforeReplace func()
	fail          map[string]error // op name → error to return
}

func newSpy(s store.Store) *spy {
	if s == nil {
		s = memory.New(nil)
	}
	return &spy{Store: s, ops: map[string]int{}, fail: map[string]error{}}
}

func (s *spy) count(op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[op]++
	return s.fail[op]
}

func (s *spy) record(kv ...string) {
	s.mu.Lock()
	s.written = append(s.written, kv...)
	s.mu.Unlock()
}

// total returns the number of operations since the last reset, and resets.
func (s *spy) total() (int, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	ops := s.ops
	for _, c := range ops {
		n += c
	}
	s.ops = map[string]int{}
	return n, ops
}

func (s *spy) Get(ctx context.Context, key string) (store.Record, error) {
	if err := s.count("Get"); err != nil {
		return store.Record{}, err
	}
	return s.Store.Get(ctx, key)
}

func (s *spy) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	if err := s.count("Create"); err != nil {
		return 0, err
	}
	s.record(key, string(value))
	return s.Store.Create(ctx, key, value, ttl)
}

func (s *spy) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	if err := s.count("Replace"); err != nil {
		return 0, err
	}
	s.mu.Lock()
	hook := s.beforeReplace
	s.beforeReplace = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	s.record(key, string(value))
	return s.Store.Replace(ctx, key, value, ttl, version)
}

func (s *spy) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.count("Touch"); err != nil {
		return err
	}
	return s.Store.Touch(ctx, key, ttl)
}

func (s *spy) Delete(ctx context.Context, key string) error {
	if err := s.count("Delete"); err != nil {
		return err
	}
	return s.Store.Delete(ctx, key)
}

func mustManager(t testing.TB, st store.Store, opts *session.Options) *session.Manager {
	t.Helper()
	m, err := session.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// app is a small session-using service, the kind the middleware serves.
func app(m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Renew()
		s.SetString("user", r.URL.Query().Get("user"))
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		u, ok := s.GetString("user")
		if !ok {
			http.Error(w, "nobody", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, u)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Destroy()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /nothing", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "no session used")
	})
	return m.Handler(mux)
}

// do sends a request with an optional token (in the cookie) and returns the
// recorded response.
func do(t testing.TB, h http.Handler, method, target, token string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.AddCookie(&http.Cookie{Name: "session", Value: token})
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// tokenOf returns the token a response sets, checking the cookie and the
// header agree.
func tokenOf(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	var cookie string
	for _, c := range w.Result().Cookies() {
		if c.Name == "session" {
			cookie = c.Value
		}
	}
	if h := w.Header().Get("X-Session-Token"); h != "" && h != cookie {
		t.Fatalf("X-Session-Token %q and cookie %q differ", h, cookie)
	}
	if cookie == "" {
		t.Fatalf("response sets no session token; headers: %v", w.Header())
	}
	return cookie
}

func login(t testing.TB, h http.Handler, user string) string {
	t.Helper()
	w := do(t, h, "POST", "/login?user="+user, "")
	if w.Code != http.StatusCreated {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	return tokenOf(t, w)
}

func whoami(t testing.TB, h http.Handler, token string) (string, int) {
	t.Helper()
	w := do(t, h, "GET", "/whoami", token)
	return strings.TrimSpace(w.Body.String()), w.Code
}
