package idempotency_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// quiet is a logger for tests that provoke warnings on purpose.
var quiet = slog.New(slog.DiscardHandler)

// counting counts the calls made on a store. It offers CompareAndDelete
// (counted apart) since what it wraps must.
type counting struct {
	store.CompareAndDeleter
	gets, creates, replaces, touches, deletes, cads atomic.Int64
}

func newCounting(st store.CompareAndDeleter) *counting { return &counting{CompareAndDeleter: st} }

func (c *counting) Get(ctx context.Context, key string) (store.Record, error) {
	c.gets.Add(1)
	return c.CompareAndDeleter.Get(ctx, key)
}

func (c *counting) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	c.creates.Add(1)
	return c.CompareAndDeleter.Create(ctx, key, value, ttl)
}

func (c *counting) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	c.replaces.Add(1)
	return c.CompareAndDeleter.Replace(ctx, key, value, ttl, version)
}

func (c *counting) Touch(ctx context.Context, key string, ttl time.Duration) error {
	c.touches.Add(1)
	return c.CompareAndDeleter.Touch(ctx, key, ttl)
}

func (c *counting) Delete(ctx context.Context, key string) error {
	c.deletes.Add(1)
	return c.CompareAndDeleter.Delete(ctx, key)
}

func (c *counting) CompareAndDelete(ctx context.Context, key string, version uint64) error {
	c.cads.Add(1)
	return c.CompareAndDeleter.CompareAndDelete(ctx, key, version)
}

// countingCOG is counting plus CreateOrGet, counted apart: a store that
// claims or reads a key in one call.
type countingCOG struct {
	*counting
	cogs atomic.Int64
}

func newCountingCOG(st interface {
	store.CompareAndDeleter
	store.CreateOrGetter
}) *countingCOG {
	return &countingCOG{counting: newCounting(st)}
}

func (c *countingCOG) CreateOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) (store.Record, bool, error) {
	c.cogs.Add(1)
	return c.CompareAndDeleter.(store.CreateOrGetter).CreateOrGet(ctx, key, value, ttl)
}

// writes is every call that can change the store.
func (c *counting) writes() int64 {
	return c.creates.Load() + c.replaces.Load() + c.touches.Load() + c.deletes.Load() + c.cads.Load()
}

func (c *counting) calls() int64 { return c.gets.Load() + c.writes() }

// plain hides every capability of the store it wraps: a store that cannot
// delete on a version, as memcached cannot.
type plain struct{ store.Store }

var errDown = errors.New("store down (test)")

// failing fails every call while down is set: a store that stopped
// answering, or the process that used it stopped reaching it.
type failing struct {
	store.Store
	down atomic.Bool
}

func (f *failing) err() error {
	if f.down.Load() {
		return errDown
	}
	return nil
}

func (f *failing) Get(ctx context.Context, key string) (store.Record, error) {
	if err := f.err(); err != nil {
		return store.Record{}, err
	}
	return f.Store.Get(ctx, key)
}

func (f *failing) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	if err := f.err(); err != nil {
		return 0, err
	}
	return f.Store.Create(ctx, key, value, ttl)
}

func (f *failing) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	if err := f.err(); err != nil {
		return 0, err
	}
	return f.Store.Replace(ctx, key, value, ttl, version)
}

func (f *failing) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.Touch(ctx, key, ttl)
}

func (f *failing) Delete(ctx context.Context, key string) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.Delete(ctx, key)
}

func newMiddleware(t testing.TB, st store.Store, opts *idempotency.Options) *idempotency.Middleware {
	t.Helper()
	if opts == nil {
		opts = &idempotency.Options{}
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	m, err := idempotency.New(st, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// req is a request with an Idempotency-Key (none if key is "").
func req(method, target, key, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if key != "" {
		r.Header.Set(idempotency.HeaderKey, key)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// problemOf checks that w is a problem+json answer of the given status and
// type, and returns it decoded.
func problemOf(t testing.TB, w *httptest.ResponseRecorder, status int, typ string) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var p map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", w.Body, err)
	}
	if p["type"] != typ || p["status"] != float64(status) || p["title"] == "" {
		t.Errorf("problem %v, want type %s and status %d", p, typ, status)
	}
	return p
}

// counter is a handler that counts its runs and answers 201 with the
// request body echoed after "ran:".
type counter struct{ runs atomic.Int64 }

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.runs.Add(1)
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusCreated)
	w.Write(append([]byte("ran:"), b...))
}

func newMemory() *memory.Store { return memory.New(nil) }

func isReplay(w *httptest.ResponseRecorder) bool {
	return w.Header().Get(idempotency.HeaderReplayed) == "true"
}

func bodyEq(t testing.TB, got *bytes.Buffer, want string) {
	t.Helper()
	if got.String() != want {
		t.Errorf("body %q, want %q", got, want)
	}
}
