package session

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stateless-go/stateless/store"
)

// Manager is the session middleware over one store. Create it with New; it
// is safe for concurrent use.
type Manager struct {
	st          store.Store // every operation bounded by Options.StoreTimeout
	c           config
	touched     *boundedMap[int64]        // when this instance last touched a session (Unix ms)
	cache       *boundedMap[cachedRecord] // nil when speculation is off
	locks       sessionLocks
	undecodable atomic.Int64

	errMu         sync.Mutex
	errNext       time.Time // no store error is logged before this
	errSuppressed int
}

// New returns a Manager keeping sessions in st. opts may be nil; an invalid
// option is an error naming it.
func New(st store.Store, opts *Options) (*Manager, error) {
	if st == nil {
		return nil, errors.New("session: New with a nil store")
	}
	c, err := opts.config()
	if err != nil {
		return nil, err
	}
	m := &Manager{st: st, c: c, touched: newBoundedMap[int64](touchedGen)}
	if _, ok := st.(store.NonBlocking); !ok {
		m.st = boundedStore{st, c.storeTimeout}
	}
	if !c.noSpeculation {
		m.cache = newBoundedMap[cachedRecord](cacheGen)
	}
	return m, nil
}

type ctxKey struct{}

// From returns the request's session: that of the innermost Manager whose
// Handler the request passed through. It panics if there is none: that is
// a wiring mistake, found on first use. With several Managers in one
// request, use Manager.From.
func From(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	if s == nil {
		panic("session: From on a request that did not pass through session.Manager.Handler")
	}
	return s
}

// From returns the request's session of this Manager. It panics if the
// request did not pass through m.Handler.
func (m *Manager) From(ctx context.Context) *Session {
	if s := m.find(ctx); s != nil {
		return s
	}
	panic("session: Manager.From on a request that did not pass through that Manager's Handler")
}

func (m *Manager) find(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	for s != nil && s.m != m {
		s = s.outer
	}
	return s
}

// Handler is the middleware. It reads the token from the request, loads the
// session on first use (a request that never looks at its session costs no
// store operation), and saves changes before the response status is
// written: if the save fails the client gets an error status, never a 2xx
// for a change that was not stored. Managers with different cookie names
// nest: each keeps its own session, found with Manager.From.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outer, _ := r.Context().Value(ctxKey{}).(*Session)
		if m.find(r.Context()) != nil {
			next.ServeHTTP(w, r) // already under this manager
			return
		}
		s := &Session{m: m, outer: outer}
		s.pending.reads = s.pending.readsBuf[:0]
		s.token, s.hadCookie = m.c.tokenFrom(r)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		s.ctx = r.Context()
		s.w = responseWriter{ResponseWriter: w, s: s, r: r}
		s.out = w.Header()
		next.ServeHTTP(&s.w, r)
		s.w.done()
	})
}

// Load returns the session that token names, for code outside an HTTP
// request: a background job, a websocket after its upgrade, a test. Store
// operations use ctx. err is the store's error; a token that names no live
// session is not an error: Live reports it, and values set on it start a
// new session, whose token Token returns. Nothing is saved until Save,
// which is the commit; no cookie or header is sent anywhere.
func (m *Manager) Load(ctx context.Context, token string) (*Session, error) {
	s := &Session{m: m, ctx: ctx}
	s.pending.reads = s.pending.readsBuf[:0]
	if validToken(token) {
		s.token = token
	}
	s.mu.Lock()
	s.load()
	err := s.stored.err
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// storeError logs a store failure, at most one line every few seconds: when
// the store is down every request fails the same way, and the log must not
// grow with the traffic. The line says how many were left out.
func (m *Manager) storeError(ctx context.Context, msg string, err error) {
	m.observeStoreError(ctx, err)
	m.errMu.Lock()
	now := time.Now()
	if now.Before(m.errNext) {
		m.errSuppressed++
		m.errMu.Unlock()
		return
	}
	n := m.errSuppressed
	m.errNext, m.errSuppressed = now.Add(5*time.Second), 0
	m.errMu.Unlock()
	m.c.log.LogAttrs(ctx, slog.LevelError, msg, slog.String("error", err.Error()), slog.Int("similar_errors_not_logged", n))
}

// logUndecodable logs the first session that cannot be decoded, then only
// at debug level: one bad record, read on every request, must not flood the
// log. The session counts as absent.
func (m *Manager) logUndecodable(ctx context.Context, err error) {
	level := slog.LevelDebug
	if m.undecodable.Add(1) == 1 {
		level = slog.LevelWarn
	}
	m.c.log.LogAttrs(ctx, level, "session: stored session cannot be decoded; treating it as absent (later ones are logged at debug level)", slog.String("error", err.Error()))
}

// speculate returns the cached record of the session for the first run of
// a Retry handler: the save's compare-and-swap (or, for a handler that
// changes nothing, a version check) then tells whether it was current, and
// if not the handler runs again on the stored record. A read-modify-write
// thus costs one store operation when this instance served the session
// last, instead of two.
func (s *Session) speculate() (store.Record, bool) {
	if !s.retry.active || s.retry.attempt > 1 || s.m.cache == nil {
		return store.Record{}, false
	}
	c, ok := s.m.cache.get(s.keyOf())
	return store.Record{Value: c.value, Version: c.version}, ok
}

// remember caches a record this instance read or wrote, for speculate.
func (m *Manager) remember(key string, version uint64, value []byte) {
	if m.cache != nil && len(value) <= maxCachedRecord {
		m.cache.put(key, cachedRecord{version, value})
	}
}

// forget drops what this instance knows of a session that ended.
func (m *Manager) forget(key string) {
	m.touched.forget(key)
	if m.cache != nil {
		m.cache.forget(key)
	}
}
