package session

import (
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
// session changes conflict-free: when the handler begins its response (or
// returns without one), the session is saved, as everywhere; if a
// concurrent request (on any instance) changed a value this one read, the
// save is refused, the rest of this run's response is thrown away unsent,
// and the handler runs again on the fresh session, up to
// Options.MaxAttempts times. The client sees exactly one response, computed
// from the session as it was saved; nothing is held in memory, and a
// response that may go out is not delayed. Within one instance, Retry
// handlers of the same session run one at a time (a handler waits at most
// Options.StoreTimeout for its turn, then runs anyway: the compare-and-swap
// keeps it correct), so conflicts come only from other instances.
//
// The first run is speculative: it starts from the version of the session
// this instance last read or wrote, if it still has it, without a store
// read; the save's compare-and-swap (or, when the handler changed nothing, a
// version check) confirms it, and a stale copy just means one more run. So
// a read-modify-write costs a single store operation while one instance
// serves a session, and never returns a stale answer.
//
// Use it for read-modify-write routes whose only side effect is the session
// (a counter, a cart), and make session changes before writing the
// response. Retry reads no request body itself: what the handler reads is
// kept, up to Options.MaxRetryBody, and replayed to the next run (a handler
// that reads more cannot be run again, and a conflict fails it with 409).
// Response headers set before Retry are restored for each run. Without
// Manager.Handler around it, Retry adds it.
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
		rw := &s.rw
		*rw = retryWriter{ResponseWriter: w, s: s, r: r, lockKey: key}
		if r.Body != nil && r.Body != http.NoBody {
			rw.body = &replayBody{src: r.Body, limit: m.c.maxRetryBody}
		}
		if key != "" {
			var err error
			if rw.lock, err = m.locks.lock(r.Context(), key, m.c.storeTimeout, &rw.own); err != nil {
				m.fail(w, r, err)
				return
			}
		}
		defer rw.unlock()
		var kept http.Header // headers set before Retry, for the next run
		if h := w.Header(); len(h) > 0 {
			kept = h.Clone()
		}
		for attempt := 1; ; attempt++ {
			if attempt > 1 {
				h := w.Header()
				clear(h)
				for k, v := range kept {
					h[k] = v
				}
				// Other instances are the only competitors; a short random
				// pause keeps two of them from colliding in step.
				time.Sleep(rand.N(time.Duration(attempt-1) * 200 * time.Microsecond))
				m.event(r.Context(), EventRetry, nil)
			}
			rw.state, rw.attempt = undecided, attempt
			s.reset(w.Header(), attempt)
			if rw.body != nil {
				r.Body = &replayReader{b: rw.body}
			}
			next.ServeHTTP(rw, r)
			if rw.state == undecided {
				rw.decide() // the handler wrote nothing
			}
			if rw.state != discarding {
				return
			}
		}
	})
}

// retryWriter saves the session of a Retry run when the response begins,
// and decides the fate of the rest of the run's response: sent, thrown away
// for another run, or replaced by an error.
type retryWriter struct {
	http.ResponseWriter
	s       *Session
	r       *http.Request
	body    *replayBody
	lock    *sessionLock
	own     sessionLock // the lock, if this request is the first to take it
	lockKey string      // the key locked: a save under a new token changes s.key
	attempt int
	state   runState
}

type runState uint8

const (
	undecided  runState = iota // nothing written yet
	passing                    // saved: the response goes out
	discarding                 // a conflict another run resolves: nothing goes out
	failed                     // an error response went out instead
)

// decide saves the run's changes and sets its state.
func (w *retryWriter) decide() {
	s, m := w.s, w.s.m
	s.mu.Lock()
	err := s.save()
	if err == nil {
		s.touchIfDue()
	}
	conflict := s.retry.conflict
	s.phase = sealed
	s.mu.Unlock()
	switch {
	case conflict && !w.body.over() && w.attempt < m.c.maxAttempts:
		w.state = discarding
		return
	case err == nil && conflict:
		err = ErrConflict
	}
	w.unlock()
	if err != nil {
		w.state = failed
		m.fail(w.ResponseWriter, w.r, err)
		return
	}
	w.state = passing
}

func (w *retryWriter) unlock() {
	if w.lock != nil {
		w.s.m.locks.unlock(w.lockKey, w.lock)
		w.lock = nil
	}
}

func (w *retryWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if w.state != discarding && w.state != failed {
			w.ResponseWriter.WriteHeader(code) // interim: may go out before the save
		}
		return
	}
	if w.state == undecided {
		w.decide()
	}
	if w.state == passing {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *retryWriter) Write(b []byte) (int, error) {
	if w.state == undecided {
		w.WriteHeader(http.StatusOK)
	}
	switch w.state {
	case discarding:
		return len(b), nil // this run's answer is thrown away; the next one counts
	case failed:
		return 0, errNotSaved
	}
	return w.ResponseWriter.Write(b)
}

// Flush begins the response (saving the session first) and flushes it.
func (w *retryWriter) Flush() {
	if w.state == undecided {
		w.WriteHeader(http.StatusOK)
	}
	if w.state == passing {
		http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *retryWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
// for one another. Entries live only while a handler holds or awaits them;
// the usual one, a single handler and no waiter, costs no allocation: its
// entry is part of the request's session, and the channel waiters block on
// is made by the first waiter.
type sessionLocks struct {
	shards [16]lockShard
}

// lockShard holds the locks of the keys whose last byte falls to it: store
// keys end in hash bits, so no instance-wide mutex is taken per request.
type lockShard struct {
	mu sync.Mutex
	m  map[string]*sessionLock
}

func (l *sessionLocks) shard(key string) *lockShard {
	return &l.shards[key[len(key)-1]%uint8(len(l.shards))]
}

type sessionLock struct {
	refs int           // holders and waiters; guarded by sessionLocks.mu
	ch   chan struct{} // made by the first waiter; holds a token while the lock is held
}

// Locks are not pooled: a channel belongs to the testing/synctest bubble it
// was made in, and a pooled one would hang a user's synctest test.

// lock takes key's lock, waiting at most wait: after that it returns nil,
// nil and the caller runs without it (the lock saves conflicts; the
// compare-and-swap is what keeps data right). It fails only when the
// request ends first. own is where an uncontended lock lives.
func (ls *sessionLocks) lock(ctx context.Context, key string, wait time.Duration, own *sessionLock) (*sessionLock, error) {
	l := ls.shard(key)
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*sessionLock)
	}
	e := l.m[key]
	if e == nil {
		*own = sessionLock{refs: 1}
		l.m[key] = own
		l.mu.Unlock()
		return own, nil
	}
	e.refs++
	if e.ch == nil {
		// The first waiter: the entry's only other user holds the lock.
		e.ch = make(chan struct{}, 1)
		e.ch <- struct{}{}
	}
	ch := e.ch
	l.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return e, nil
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ch <- struct{}{}:
		return e, nil
	case <-t.C:
		l.drop(key, e)
		return nil, nil
	case <-ctx.Done():
		l.drop(key, e)
		return nil, ctx.Err()
	}
}

func (ls *sessionLocks) unlock(key string, e *sessionLock) {
	l := ls.shard(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.ch != nil {
		<-e.ch // this holder's token: never blocks
	}
	l.release(key, e)
}

func (l *lockShard) drop(key string, e *sessionLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.release(key, e)
}

// release counts one user of e out. l.mu must be held.
func (l *lockShard) release(key string, e *sessionLock) {
	if e.refs--; e.refs == 0 {
		delete(l.m, key)
	}
}
