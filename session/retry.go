package session

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// retryRun is a session's state under Manager.Retry.
type retryRun struct {
	active   bool // the wrapper saves, not the response
	attempt  int  // which run of the handler this is
	conflict bool // a save met ErrConflict
}

// Retry marks a handler as safe to run more than once, and makes its
// session changes conflict-free: the handler runs with its response held in
// memory; when the session is saved, if a concurrent request (on any
// instance) changed a value this one read, the response is thrown away and
// the handler runs again on the fresh session, up to Options.MaxAttempts
// times. The client sees exactly one response, computed from the session as
// it was saved. Within one instance, Retry handlers of the same session run
// one at a time (a handler waits at most Options.StoreTimeout for its turn,
// then runs anyway: the compare-and-swap keeps it correct), so conflicts
// come only from other instances.
//
// The first run is speculative: it starts from the version of the session
// this instance last read or wrote, if it still has it, without a store
// read; the save's compare-and-swap (or, when the handler changed nothing, a
// version check) confirms it, and a stale copy just means one more run. So
// a read-modify-write costs a single store operation while one instance
// serves a session, and never returns a stale answer.
//
// Use it for read-modify-write routes whose only side effect is the session
// (a counter, a cart). Retry reads no request body itself: what the handler
// reads is kept, up to Options.MaxRetryBody, and replayed to the next run
// (a handler that reads more cannot be run again, and a conflict fails it
// with 409). Streaming responses are held until the handler returns.
// Without Manager.Handler around it, Retry adds it.
func (m *Manager) Retry(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.find(r.Context())
		if s == nil {
			m.Handler(m.Retry(next)).ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		nested := s.retry.active || s.phase == sealed
		key := s.keyOf()
		s.mu.Unlock()
		if nested {
			next.ServeHTTP(w, r)
			return
		}
		var body *replayBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &replayBody{src: r.Body, limit: m.c.maxRetryBody}
		}
		var held *sessionLock
		if key != "" {
			var err error
			if held, err = m.locks.lock(r.Context(), key, m.c.storeTimeout); err != nil {
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
		defer unlock()
		buf := bufferPool.Get().(*bufferedWriter)
		defer bufferPool.Put(buf)
		for attempt := 1; ; attempt++ {
			buf.reset()
			s.reset(buf.header, attempt)
			if body != nil {
				r.Body = &replayReader{b: body}
			}
			next.ServeHTTP(buf, r)
			s.mu.Lock()
			err := s.save()
			if err == nil {
				s.touchIfDue()
			}
			conflict := s.retry.conflict
			s.phase = sealed
			s.mu.Unlock()
			if conflict && !body.over() && attempt < m.c.maxAttempts {
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
	s.stored = stored{}
	s.pending.reset()
	s.pending.dropped = nil
	s.phase = open
	s.retry = retryRun{active: true, attempt: attempt}
}

// replayBody keeps what a Retry handler reads of the request body, so that
// the next run reads the same bytes, then the rest of the body. Nothing is
// read that the handler does not ask for: a route that takes no body reads
// none, and a broken body is the handler's error to answer, not Retry's.
type replayBody struct {
	src   io.ReadCloser
	limit int64
	kept  []byte
	lost  bool // more than limit was read: the body cannot be replayed
}

func (b *replayBody) over() bool { return b != nil && b.lost }

// replayReader is one run's view of the body.
type replayReader struct {
	b   *replayBody
	pos int
}

func (r *replayReader) Read(p []byte) (int, error) {
	b := r.b
	if !b.lost && r.pos < len(b.kept) {
		n := copy(p, b.kept[r.pos:])
		r.pos += n
		return n, nil
	}
	n, err := b.src.Read(p)
	if n > 0 && !b.lost {
		if int64(len(b.kept)+n) > b.limit {
			b.lost, b.kept = true, nil
		} else {
			b.kept = append(b.kept, p[:n]...)
			r.pos += n
		}
	}
	return n, err
}

// Close is the server's job: the body is shared by every run.
func (r *replayReader) Close() error { return nil }

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

// lock waits for key's lock, at most wait: after that it returns nil, nil
// and the caller runs without it (the lock saves conflicts; the
// compare-and-swap is what keeps data right). It fails only when the
// request ends first.
func (l *sessionLocks) lock(ctx context.Context, key string, wait time.Duration) (*sessionLock, error) {
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
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case e.ch <- struct{}{}:
		return e, nil
	case <-t.C:
		l.drop(key, e)
		return nil, nil
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
