package idempotency

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/stateless-go/stateless/store"
)

// Middleware runs each keyed request once across every instance sharing
// its store and replays the outcome to retries. It is safe for concurrent
// use; make one per store and configuration and wrap any number of
// handlers with it.
type Middleware struct {
	st      store.Store
	cad     store.CompareAndDeleter // nil if st cannot delete on a version
	cog     store.CreateOrGetter    // nil if st cannot create-or-read in one call
	bounded bool                    // give store calls a StoreTimeout deadline
	c       config

	lastLog    atomic.Int64 // Unix ns of the last store-error line
	suppressed atomic.Int64 // store-error lines not logged since
}

// New returns a Middleware keeping its records in st. opts may be nil; an
// invalid option is an error naming it.
func New(st store.Store, opts *Options) (*Middleware, error) {
	if st == nil {
		return nil, errors.New("idempotency: New with a nil store")
	}
	c, err := opts.config()
	if err != nil {
		return nil, err
	}
	m := &Middleware{st: st, c: c}
	m.cad, _ = st.(store.CompareAndDeleter)
	m.cog, _ = st.(store.CreateOrGetter)
	_, nb := st.(store.NonBlocking)
	m.bounded = !nb
	return m, nil
}

// Handler wraps next: requests of a covered method that carry an
// Idempotency-Key run next at most once per lease (see the package
// documentation); the rest go straight to next.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, next) })
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if !m.c.covers(r.Method) {
		next.ServeHTTP(w, r)
		return
	}
	key, present, err := parseKey(r.Header.Values(HeaderKey))
	switch {
	case !present && m.c.required:
		m.refuse(r.Context(), w, probKeyRequired)
		return
	case !present:
		next.ServeHTTP(w, r)
		return
	case err != nil:
		m.refuse(r.Context(), w, invalidKey(err))
		return
	}
	var scope string
	if m.c.scope != nil {
		if scope, err = m.c.scope(r); err != nil {
			m.refuse(r.Context(), w, probScope)
			return
		}
	}
	body, p := m.readBody(r)
	if p != nil {
		m.refuse(r.Context(), w, p)
		return
	}
	fp := fingerprint(r, m.c.fpHeaders, body)
	skey := storageKey(scope, key)

	c := m.observedAcquire(r.Context(), skey, &fp)
	switch {
	case c.err != nil:
		m.storeError(r.Context(), "idempotency: the key could not be read or claimed", c.err)
		if m.c.failOpen {
			next.ServeHTTP(w, withBody(r, r.Context(), body))
			return
		}
		m.refuse(r.Context(), w, probUnavailable)
	case c.prob != nil:
		m.refuse(r.Context(), w, c.prob)
	case c.rec.state == stateCompleted:
		m.event(r.Context(), EventReplay, nil)
		replay(w, &c.rec)
	default:
		m.run(w, r, next, body, skey, &fp, c)
	}
}

// readBody reads the request body whole, up to MaxRequestBody: a longer
// one answers 413 having read at most one byte over the limit, and before
// anything reaches the store.
func (m *Middleware) readBody(r *http.Request) ([]byte, *problem) {
	limit := m.c.maxRequestBody
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	size := int64(512)
	if r.ContentLength >= 0 {
		size = r.ContentLength + 1 // room to see the EOF without growing
	}
	buf := make([]byte, 0, min(size, limit+1))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):min(int64(cap(buf)), limit+1)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, tooLarge(limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge(mbe.Limit)
			}
			return nil, probInvalidBody
		}
	}
}

// claim is what acquire found: a store error, a problem to answer, a
// completed record to replay, or else the key's lease for this request.
type claim struct {
	err       error
	prob      *problem
	rec       record
	version   uint64
	attempt   uint64
	leaseFrom time.Time
}

// maxRaces bounds the compare-and-swaps one request loses to others
// before it answers 409 rather than keep trying.
const maxRaces = 4

// The backoff of a request waiting (Options.Wait) for another to finish.
const (
	minPoll = 10 * time.Millisecond
	maxPoll = 250 * time.Millisecond
)

// acquire reads the key's record and acts on it: no record, or a released
// one, is claimed for this request (attempt 1); a lapsed lease is taken
// over (attempt + 1) unless strict; a live one is waited for or refused.
// Every claim is a Create or a compare-and-swap, so of any number of
// requests racing for the key exactly one wins.
func (m *Middleware) acquire(ctx context.Context, skey string, fp *[32]byte) claim {
	races := 0
	var waitStart time.Time
	poll := minPoll
	for {
		var got store.Record
		var err error
		if m.cog != nil {
			// One call claims a free key or reads a taken one.
			now := m.c.now()
			var created bool
			got, created, err = m.createOrGet(ctx, skey, encodeInFlight(fp, 1, now.Add(m.c.lease).UnixMilli()))
			if err == nil && created {
				return claim{version: got.Version, attempt: 1, leaseFrom: now}
			}
		} else {
			got, err = m.get(ctx, skey)
		}
		if errors.Is(err, store.ErrNotFound) {
			now := m.c.now()
			v, err := m.create(ctx, skey, encodeInFlight(fp, 1, now.Add(m.c.lease).UnixMilli()))
			switch {
			case err == nil:
				return claim{version: v, attempt: 1, leaseFrom: now}
			case !errors.Is(err, store.ErrExists):
				return claim{err: err}
			}
			if races++; races > maxRaces {
				return claim{prob: probInFlight}
			}
			continue
		}
		if err != nil {
			return claim{err: err}
		}
		rec, err := decodeRecord(got.Value)
		if err != nil {
			return claim{err: err}
		}
		var attempt uint64
		switch {
		case rec.state == stateReleased:
			attempt = 1 // the key is free, for any request
		case rec.fp != *fp:
			return claim{prob: probMismatch}
		case rec.state == stateCompleted:
			return claim{rec: rec}
		case rec.state == stateNotReplayable:
			return claim{prob: notReplayable(rec.status, rec.reason)}
		case m.c.now().UnixMilli() < rec.deadline: // in flight, lease live
			if m.c.wait > 0 {
				if waitStart.IsZero() {
					waitStart = time.Now()
				}
				if left := m.c.wait - time.Since(waitStart); left > 0 {
					if !sleep(ctx, min(poll, left)) {
						return claim{prob: probInFlight}
					}
					poll = min(2*poll, maxPoll)
					continue
				}
			}
			return claim{prob: probInFlight}
		case m.c.strict:
			return claim{prob: probAbandoned}
		default:
			attempt = rec.attempt + 1
		}
		now := m.c.now()
		v, err := m.claim(ctx, skey, encodeInFlight(fp, attempt, now.Add(m.c.lease).UnixMilli()), got.Version)
		switch {
		case err == nil:
			if attempt > 1 {
				m.c.log.LogAttrs(ctx, slog.LevelWarn, "idempotency: took over a key whose owner stopped renewing its lease; running the request again",
					slog.Uint64("attempt", attempt))
			}
			return claim{version: v, attempt: attempt, leaseFrom: now}
		case !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound):
			return claim{err: err}
		}
		if races++; races > maxRaces {
			return claim{prob: probInFlight}
		}
	}
}

// sleep waits d, or less if ctx ends first (then it reports false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// run executes next as the key's owner and records its outcome.
func (m *Middleware) run(w http.ResponseWriter, r *http.Request, next http.Handler, body []byte, skey string, fp *[32]byte, c claim) {
	// The handler runs under the Observer's context, so that its own spans
	// nest under the execution's.
	ctx, done := m.observe(r.Context(), EventExecute)
	ctx, cancel := context.WithCancelCause(ctx)
	o := &owner{Context: ctx, cancel: cancel, req: r.Context(), m: m, key: skey, fp: *fp, attempt: c.attempt, version: c.version}
	o.startLease(c.leaseFrom)
	cw := &captureWriter{ResponseWriter: w, o: o}
	panicked := true
	defer func() {
		// On a panic (or runtime.Goexit) the key is released and the
		// panic goes on: it is never recovered here.
		if done != nil {
			done(nil)
		}
		m.finish(o, cw, panicked)
		cancel(context.Canceled)
	}()
	next.ServeHTTP(cw, withBody(r, o, body))
	panicked = false
}

// finish records the outcome with a compare-and-swap on the owner's
// version, so an owner whose lease was taken over never overwrites. The
// writes outlive the request's context (a client that hung up still gets
// its outcome recorded), each bounded by StoreTimeout.
func (m *Middleware) finish(o *owner, cw *captureWriter, panicked bool) {
	version, held := o.stop()
	if !held {
		return
	}
	ctx, cancel := m.opCtx(context.WithoutCancel(o.req))
	defer cancel()
	status := cw.status
	if !cw.wrote {
		status = http.StatusOK
	}
	release := panicked || m.releases(status)
	if !release {
		cw.finish()
	}
	ctx, done := m.observe(ctx, EventRecord)
	var err error
	switch {
	case release:
		err = m.release(ctx, o, version)
	case cw.why != reasonNone:
		_, err = m.st.Replace(ctx, o.key, encodeNotReplayable(&o.fp, o.attempt, status, cw.why), m.c.retention, version)
	default:
		_, err = m.st.Replace(ctx, o.key, cw.rec, m.c.retention, version)
		if errors.Is(err, store.ErrTooLarge) {
			_, err = m.st.Replace(ctx, o.key, encodeNotReplayable(&o.fp, o.attempt, status, reasonTooLarge), m.c.retention, version)
		}
	}
	if done != nil {
		done(err)
	}
	if release && err == nil {
		m.event(o.req, EventRelease, nil)
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		m.c.log.LogAttrs(o.req, slog.LevelWarn, "idempotency: the key was taken over before the request finished; its outcome is not recorded",
			slog.Uint64("attempt", o.attempt))
	default:
		m.storeError(o.req, "idempotency: the outcome could not be recorded; a retry after the lease runs the request again", err)
	}
}

// releases reports whether a response of this status frees the key for a
// retry rather than being replayed: server errors (unless
// ReplayServerErrors), and the statuses that themselves say "try again
// later" (408, 425, 429), which replayed would make the key useless.
func (m *Middleware) releases(status int) bool {
	switch {
	case status >= 500:
		return !m.c.replayServerErrors
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status == http.StatusTooManyRequests:
		return true
	}
	return false
}

// release frees the key if the owner still holds it: CompareAndDelete
// where the store offers it, else a compare-and-swap to a "released"
// record (which readers treat as absent) living min(Lease, Retention). An
// unconditional Delete could remove the record of an instance that took
// the key over; a Get then Delete would leave that race open.
func (m *Middleware) release(ctx context.Context, o *owner, version uint64) error {
	if m.cad != nil {
		return m.cad.CompareAndDelete(ctx, o.key, version)
	}
	_, err := m.st.Replace(ctx, o.key, encodeReleased(&o.fp, o.attempt), min(m.c.lease, m.c.retention), version)
	return err
}

// replay answers with a completed record: its status, its allow-listed
// headers and its body, byte for byte.
func replay(w http.ResponseWriter, rec *record) {
	h := w.Header()
	for k, v := range rec.header {
		h[k] = v
	}
	h.Set(HeaderReplayed, "true")
	if s := rec.status; s != http.StatusNoContent && s != http.StatusNotModified && s >= 200 {
		h.Set("Content-Length", strconv.Itoa(len(rec.body)))
	}
	w.WriteHeader(rec.status)
	w.Write(rec.body)
}

// bodyReader hands the buffered body to the handler.
type bodyReader struct{ bytes.Reader }

func (*bodyReader) Close() error { return nil }

// withBody is r under ctx with the buffered body to read again.
func withBody(r *http.Request, ctx context.Context, body []byte) *http.Request {
	r2 := r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		br := &bodyReader{}
		br.Reset(body)
		r2.Body = br
	}
	return r2
}

// The store calls, each bounded by StoreTimeout.

func (m *Middleware) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if !m.bounded {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, m.c.storeTimeout)
}

func (m *Middleware) get(ctx context.Context, key string) (store.Record, error) {
	ctx, cancel := m.opCtx(ctx)
	defer cancel()
	return m.st.Get(ctx, key)
}

// create, createOrGet and claim write in-flight records.

func (m *Middleware) create(ctx context.Context, key string, value []byte) (uint64, error) {
	ctx, cancel := m.opCtx(ctx)
	defer cancel()
	return m.st.Create(ctx, key, value, m.c.inFlightTTL())
}

func (m *Middleware) createOrGet(ctx context.Context, key string, value []byte) (store.Record, bool, error) {
	ctx, cancel := m.opCtx(ctx)
	defer cancel()
	return m.cog.CreateOrGet(ctx, key, value, m.c.inFlightTTL())
}

func (m *Middleware) claim(ctx context.Context, key string, value []byte, version uint64) (uint64, error) {
	ctx, cancel := m.opCtx(ctx)
	defer cancel()
	return m.st.Replace(ctx, key, value, m.c.inFlightTTL(), version)
}

// storeError logs a store failure, at most one line a second (a store
// outage would otherwise log every request), counting those it skips. A
// request whose client hung up is not the store's failure and is not
// logged.
func (m *Middleware) storeError(ctx context.Context, msg string, err error) {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return
	}
	m.event(ctx, EventStoreError, err)
	now := time.Now().UnixNano()
	last := m.lastLog.Load()
	if now-last < int64(time.Second) || !m.lastLog.CompareAndSwap(last, now) {
		m.suppressed.Add(1)
		return
	}
	m.c.log.LogAttrs(ctx, slog.LevelError, msg, slog.String("error", err.Error()),
		slog.Int64("similar_errors_not_logged", m.suppressed.Swap(0)))
}
