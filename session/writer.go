package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

var errNotSaved = errors.New("session: response replaced: the session could not be saved")

// responseWriter saves the session at the moment the response begins, so
// that a failed save can still turn into an error status.
type responseWriter struct {
	http.ResponseWriter
	s      *Session
	r      *http.Request
	wrote  bool
	failed bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wrote || code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational, or net/http's to complain about
		return
	}
	w.wrote = true
	if err := w.s.finish(); err != nil {
		w.failed = true
		w.s.m.fail(w.ResponseWriter, w.r, err)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return 0, errNotSaved
	}
	return w.ResponseWriter.Write(b)
}

// Flush begins the response (saving the session first) and flushes it.
func (w *responseWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !w.failed {
		http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// done runs after the handler: a handler that wrote nothing still has its
// session saved, and still gets an error status if that fails.
func (w *responseWriter) done() {
	if w.wrote {
		return
	}
	if err := w.s.finish(); err != nil {
		w.wrote, w.failed = true, true
		w.s.m.fail(w.ResponseWriter, w.r, err)
	}
}

// fail answers with the error handler, dropping headers the handler had set
// for the response it meant to send.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, ErrConflict) && !errors.Is(err, context.Canceled) {
		m.storeError(r.Context(), "session: save failed; answered with an error status", err)
	}
	clear(w.Header())
	if m.c.onError != nil {
		m.c.onError(w, r, err)
		return
	}
	writeError(w, r, err)
}

// Retry marks a handler as safe to run more than once, and makes its
// session changes conflict-free: the handler runs with its response held in
// memory; when the session is saved, if a concurrent request (on any
// instance) changed a value this one read, the response is thrown away and
// the handler runs again on the fresh session, up to Options.MaxAttempts
// times. The client sees exactly one response, computed from the session as
// it was saved. Within one instance, Retry handlers of the same session run
// one at a time, so conflicts come only from other instances.
//
// The first run is speculative: it starts from the version of the session
// this instance last read or wrote, if it still has it, without a store
// read; the save's compare-and-swap (or, when the handler changed nothing, a
// version check) confirms it, and a stale copy just means one more run. So
// a read-modify-write costs a single store operation while one instance
// serves a session, and never returns a stale answer.
//
// Use it for read-modify-write routes whose only side effect is the session
// (a counter, a cart). The request body is kept for the re-runs, up to
// Options.MaxRetryBody; streaming responses are held until the handler
// returns. Without Manager.Handler around it, Retry adds it.
func (m *Manager) Retry(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := r.Context().Value(ctxKey{}).(*Session)
		if s == nil || s.m != m {
			m.Handler(m.Retry(next)).ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		nested := s.retrying || s.frozen
		s.mu.Unlock()
		if nested {
			next.ServeHTTP(w, r)
			return
		}
		body, canRetry, err := keepBody(r, m.c.maxRetryBody)
		if err != nil {
			m.fail(w, r, err)
			return
		}
		var held *sessionLock
		key := s.keyOf()
		if key != "" {
			if held, err = m.locks.lock(r.Context(), key); err != nil {
				m.fail(w, r, err)
				return
			}
		}
		unlock := func() {
			if held != nil {
				m.locks.unlock(key, held)
				held = nil
			}
		}
		buf := bufferPool.Get().(*bufferedWriter)
		defer bufferPool.Put(buf)
		for attempt := 1; ; attempt++ {
			buf.reset()
			s.reset(buf.header, attempt)
			if body != nil {
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			next.ServeHTTP(buf, r)
			s.mu.Lock()
			err := s.save()
			if err == nil {
				s.touchIfDue()
			}
			conflict := s.conflict
			s.frozen = true
			s.mu.Unlock()
			if conflict && canRetry && attempt < m.c.maxAttempts {
				// Other instances are the only competitors; a short random
				// pause keeps two of them from colliding in step.
				time.Sleep(rand.N(time.Duration(attempt) * 200 * time.Microsecond))
				continue
			}
			unlock()
			if err == nil && conflict {
				err = ErrConflict // a Save the handler ignored
			}
			if err != nil {
				m.fail(s.w.ResponseWriter, r, err)
				s.w.wrote, s.w.failed = true, true
				return
			}
			buf.sendTo(w)
			return
		}
	})
}

// reset readies the session for a fresh run of a Retry handler: loaded
// anew, no changes, token headers going to out.
func (s *Session) reset(out http.Header, attempt int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = out
	s.loaded, s.loadErr, s.exists, s.version, s.hdr, s.base = false, nil, false, 0, header{}, nil
	s.reads, s.writes, s.renew, s.destroy, s.remember = s.readsBuf[:0], nil, false, false, 0
	s.frozen, s.retrying, s.conflict = false, true, false
	s.attempt, s.speculative = attempt, false
}

// keepBody reads the request body into memory so it can be replayed, if it
// is no larger than limit. A larger body is left readable once and the
// request cannot be retried.
func keepBody(r *http.Request, limit int64) ([]byte, bool, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(b)) > limit {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		return nil, false, nil
	}
	return b, true, nil
}

// sessionLocks serialise Retry handlers of one session within this
// instance, so that they queue instead of conflicting; sessions never wait
// for one another. Entries live only while a handler holds or awaits them.
type sessionLocks struct {
	mu sync.Mutex
	m  map[string]*sessionLock
}

type sessionLock struct {
	ch   chan struct{} // one token while held
	refs int           // holders and waiters; guarded by sessionLocks.mu
}

// lock waits for key's lock, or for the request to end.
func (l *sessionLocks) lock(ctx context.Context, key string) (*sessionLock, error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*sessionLock)
	}
	e := l.m[key]
	if e == nil {
		e = &sessionLock{ch: make(chan struct{}, 1)}
		l.m[key] = e
	}
	e.refs++
	l.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
		return e, nil
	case <-ctx.Done():
		l.drop(key, e)
		return nil, ctx.Err()
	}
}

func (l *sessionLocks) unlock(key string, e *sessionLock) {
	<-e.ch
	l.drop(key, e)
}

func (l *sessionLocks) drop(key string, e *sessionLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(l.m, key)
	}
}

// bufferedWriter holds a Retry handler's response until the session is
// saved.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

var bufferPool = sync.Pool{New: func() any { return &bufferedWriter{header: http.Header{}} }}

func (b *bufferedWriter) reset() {
	clear(b.header)
	b.status = 0
	if b.body.Cap() > 64<<10 {
		b.body = bytes.Buffer{} // don't keep a huge response's buffer
	}
	b.body.Reset()
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 && code >= 200 {
		b.status = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) sendTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes())
}
