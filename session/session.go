package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stateless-go/stateless/store"
)

// Errors a save can fail with; the default ErrorHandler maps them to
// statuses. Check them with errors.Is.
var (
	// ErrConflict: a concurrent request changed a value this request had
	// read (or ended the session), so its own changes could not be applied
	// without overwriting that change. Nothing was saved. Under Retry the
	// handler is run again instead.
	ErrConflict = errors.New("session: changed by a concurrent request")
	// ErrTooLarge: the encoded session is over Options.MaxSize. Nothing was
	// saved.
	ErrTooLarge = errors.New("session: too large")
)

// Manager is the session middleware over one store. Create it with New; it
// is safe for concurrent use.
type Manager struct {
	st          store.SessionStore
	c           config
	touched     *boundedMap[int64]        // when this instance last touched a session (Unix ms)
	cache       *boundedMap[cachedRecord] // nil when speculation is off
	locks       sessionLocks
	undecodable atomic.Int64

	errMu         sync.Mutex
	errNext       time.Time // no store error is logged before this
	errSuppressed int
}

// storeError logs a store failure, at most one line every few seconds: when
// the store is down every request fails the same way, and the log must not
// grow with the traffic. The line says how many were left out.
func (m *Manager) storeError(ctx context.Context, msg string, err error) {
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

// New returns a Manager keeping sessions in st. opts may be nil; an invalid
// option is an error naming it.
func New(st store.SessionStore, opts *Options) (*Manager, error) {
	if st == nil {
		return nil, errors.New("session: New with a nil store")
	}
	c, err := opts.config()
	if err != nil {
		return nil, err
	}
	m := &Manager{st: boundedStore{st, c.storeTimeout}, c: c, touched: newBoundedMap[int64](touchedGen)}
	if !c.noSpeculation {
		m.cache = newBoundedMap[cachedRecord](cacheGen)
	}
	return m, nil
}

type ctxKey struct{}

// From returns the request's session. It panics if the request did not pass
// through Manager.Handler: that is a wiring mistake, found on first use.
func From(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	if s == nil {
		panic("session: From on a request that did not pass through session.Manager.Handler")
	}
	return s
}

// Handler is the middleware. It reads the token from the request, loads the
// session on first use (a request that never looks at its session costs no
// store operation), and saves changes before the response status is
// written: if the save fails the client gets an error status, never a 2xx
// for a change that was not stored.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, _ := r.Context().Value(ctxKey{}).(*Session); s != nil && s.m == m {
			next.ServeHTTP(w, r) // already under this manager
			return
		}
		s := &Session{m: m}
		s.reads = s.readsBuf[:0]
		s.token, s.fromCookie = tokenFrom(r, m.c.cookie.Name, m.c.header)
		s.hadCookie = s.fromCookie
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		s.ctx = r.Context()
		s.w = responseWriter{ResponseWriter: w, s: s, r: r}
		s.out = w.Header()
		next.ServeHTTP(&s.w, r)
		s.w.done()
	})
}

// Session is one request's view of its session. Its methods are safe for
// concurrent use by the goroutines serving the request. Values are typed: a
// value read with a getter of another type counts as absent.
type Session struct {
	m          *Manager
	ctx        context.Context
	w          responseWriter
	out        http.Header // where token headers go
	mu         sync.Mutex
	token      string // "" if none (or not of token shape)
	fromCookie bool
	hadCookie  bool
	key        string

	loaded  bool
	loadErr error
	exists  bool
	version uint64
	hdr     header
	base    []entry // as stored, sorted

	reads    []string // keys whose stored value this request saw
	readsBuf [4]string
	writes   []entry // pending, sorted; typ 0 marks a delete
	renew    bool
	destroy  bool
	remember int8 // 0 unchanged, 1 on, -1 off

	frozen      bool // response began: no more saves
	retrying    bool // under Retry: saving is the wrapper's job
	attempt     int  // which run of a Retry handler this is
	speculative bool // loaded from this instance's cache, not yet confirmed
	conflict    bool // a save met ErrConflict
}

// keyOf returns the store key of the request's token, derived once.
func (s *Session) keyOf() string {
	if s.key == "" && s.token != "" {
		s.key = storeKey(s.m.c.prefix, s.token)
	}
	return s.key
}

// LogValue keeps tokens out of logs even when a Session is logged whole.
func (s *Session) LogValue() slog.Value { return slog.StringValue("session") }

// Load loads the session if it is not loaded yet and reports whether the
// request has a live one. err is the store's error (the session then reads
// as empty and any change fails to save).
func (s *Session) Load() (exists bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	return s.exists, s.loadErr
}

func (s *Session) load() {
	if s.loaded {
		return
	}
	s.loaded = true
	// The response now depends on the session, so caches must key on it.
	if v := s.out["Vary"]; len(v) == 0 {
		s.out["Vary"] = s.m.c.vary // shared: Header.Add copies before appending
	} else {
		s.out["Vary"] = append(v, s.m.c.vary[0])
	}
	if s.token == "" {
		return
	}
	var rec store.Record
	if c, ok := s.speculate(); ok {
		rec, s.speculative = store.Record{Value: c.value, Version: c.version}, true
	} else {
		var err error
		if rec, err = s.m.st.Get(s.ctx, s.keyOf()); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				s.m.forget(s.key)
			} else {
				s.loadErr = err
				s.m.storeError(s.ctx, "session: load failed", err)
			}
			return
		}
		s.m.remember(s.key, rec.Version, rec.Value)
	}
	h, entries, err := decode(rec.Value)
	if err != nil {
		s.m.logUndecodable(s.ctx, err)
		return
	}
	if h.flags&flagTombstone != 0 || time.Now().UnixMilli() >= h.created+s.m.c.lifetime.Milliseconds() {
		return
	}
	s.exists, s.version, s.hdr, s.base = true, rec.Version, h, entries
}

// speculate returns the cached record of the session for the first run of
// a Retry handler: the save's compare-and-swap (or, for a handler that
// changes nothing, a version check) then tells whether it was current, and
// if not the handler runs again on the stored record. A read-modify-write
// thus costs one store operation when this instance served the session
// last, instead of two.
func (s *Session) speculate() (cachedRecord, bool) {
	if !s.retrying || s.attempt > 1 || s.m.cache == nil {
		return cachedRecord{}, false
	}
	return s.m.cache.get(s.keyOf())
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

// validate checks, for a speculative run that changed nothing, that the
// cached record it read was the stored one.
func (s *Session) validate() error {
	rec, err := s.m.st.Get(s.ctx, s.key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.m.forget(s.key)
		return s.conflicted("the session ended")
	case err != nil:
		return fmt.Errorf("session: load: %w", err)
	case rec.Version != s.version:
		s.m.remember(s.key, rec.Version, rec.Value)
		return s.conflicted("it changed")
	}
	s.speculative = false
	return nil
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

func (s *Session) get(key string, typ byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	if i := find(s.writes, key); i >= 0 {
		e := s.writes[i]
		return e.raw, e.typ == typ
	}
	if !slices.Contains(s.reads, key) {
		s.reads = append(s.reads, key)
	}
	if i := find(s.base, key); i >= 0 {
		e := s.base[i]
		return e.raw, e.typ == typ
	}
	return nil, false
}

// GetString returns the string value under key.
func (s *Session) GetString(key string) (string, bool) {
	raw, ok := s.get(key, typeString)
	if !ok {
		return "", false
	}
	return string(raw), true
}

// GetInt returns the integer value under key.
func (s *Session) GetInt(key string) (int64, bool) {
	raw, ok := s.get(key, typeInt)
	if !ok {
		return 0, false
	}
	return int64Of(raw), true
}

// GetBool returns the boolean value under key.
func (s *Session) GetBool(key string) (value, ok bool) {
	raw, ok := s.get(key, typeBool)
	return ok && raw[0] == 1, ok
}

// GetFloat returns the float value under key.
func (s *Session) GetFloat(key string) (float64, bool) {
	raw, ok := s.get(key, typeFloat)
	if !ok {
		return 0, false
	}
	return math.Float64frombits(uint64(int64Of(raw))), true
}

// GetBytes returns a copy of the byte-slice value under key.
func (s *Session) GetBytes(key string) ([]byte, bool) {
	raw, ok := s.get(key, typeBytes)
	if !ok {
		return nil, false
	}
	return append([]byte{}, raw...), true
}

// GetTime returns the time value under key, in UTC.
func (s *Session) GetTime(key string) (time.Time, bool) {
	raw, ok := s.get(key, typeTime)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, int64Of(raw)).UTC(), true
}

// Keys returns the keys of the session's values, sorted. It counts as
// reading every value.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	s.reads = append(s.reads[:0], "\x00all")
	var keys []string
	for _, e := range merge(s.base, s.writes) {
		keys = append(keys, e.key)
	}
	return keys
}

func (s *Session) set(key string, typ byte, raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.changeable("a change of " + strconv.Quote(key)) {
		return
	}
	e := entry{key: key, typ: typ, raw: raw}
	i, found := slices.BinarySearchFunc(s.writes, key, func(e entry, k string) int { return strings.Compare(e.key, k) })
	if found {
		s.writes[i] = e
	} else {
		s.writes = slices.Insert(s.writes, i, e)
	}
}

// SetString stores a string value under key.
func (s *Session) SetString(key, value string) { s.set(key, typeString, []byte(value)) }

// SetInt stores an integer value under key.
func (s *Session) SetInt(key string, value int64) { s.set(key, typeInt, rawInt(value)) }

// SetBool stores a boolean value under key.
func (s *Session) SetBool(key string, value bool) {
	var b byte
	if value {
		b = 1
	}
	s.set(key, typeBool, []byte{b})
}

// SetFloat stores a float value under key.
func (s *Session) SetFloat(key string, value float64) { s.set(key, typeFloat, rawFloat(value)) }

// SetBytes stores a copy of value under key.
func (s *Session) SetBytes(key string, value []byte) {
	s.set(key, typeBytes, append([]byte{}, value...))
}

// SetTime stores a time value under key, to the nanosecond, as UTC.
func (s *Session) SetTime(key string, value time.Time) { s.set(key, typeTime, rawTime(value)) }

// Delete removes the value under key.
func (s *Session) Delete(key string) { s.set(key, 0, nil) }

// changeable loads the session for a change, or, once the response has
// begun and the change can no longer be saved before the client sees a
// status, logs that what was dropped and reports false. s.mu must be held.
func (s *Session) changeable(what string) bool {
	if s.frozen {
		s.m.c.log.LogAttrs(s.ctx, slog.LevelError, "session: change dropped: the response had begun", slog.String("change", what))
		return false
	}
	s.load()
	return true
}

// Renew gives the session a new token, keeping its values, and kills the
// old token: call it when the user logs in or gains privileges, so that a
// token planted before login (session fixation) is worth nothing. With no
// live session, it makes sure the next save starts a new one. The absolute
// Lifetime keeps counting from the session's start.
func (s *Session) Renew() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changeable("Renew") {
		s.renew, s.destroy = true, false
	}
}

// Destroy ends the session (log out): its record is deleted, so its token is
// refused by every instance at once, and the cookie is cleared. Changes made
// after Destroy start a new session.
func (s *Session) Destroy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changeable("Destroy") {
		s.destroy, s.renew, s.writes = true, false, nil
	}
}

// RememberMe chooses a persistent cookie (true: it lasts until the session's
// Lifetime ends, across browser restarts) or a browser-session cookie
// (false) for this session.
func (s *Session) RememberMe(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.changeable("RememberMe") {
		return
	}
	if on {
		s.remember = 1
	} else {
		s.remember = -1
	}
}

// Save stores pending changes now, so a handler can handle a failure
// itself before writing its response; without it, changes are saved when
// the response begins. Under Retry it does nothing: the wrapper saves when
// the handler returns.
func (s *Session) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retrying || s.frozen {
		return nil
	}
	return s.save()
}

// finish saves what is pending (or touches the session) and freezes it; the
// response may begin after it returns nil.
func (s *Session) finish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen {
		return nil
	}
	err := s.save()
	if err == nil {
		s.touchIfDue()
	}
	s.frozen = true
	return err
}

func (s *Session) pending() bool {
	return len(s.writes) > 0 || s.renew || s.destroy || s.remember != 0
}

// ttl is the life a write gives the session: the idle timeout, or what is
// left of the lifetime if that is less. ok is false once the lifetime is
// over.
func (s *Session) ttl(now int64) (time.Duration, bool) {
	left := time.Duration(s.hdr.created+s.m.c.lifetime.Milliseconds()-now) * time.Millisecond
	if left <= 0 {
		return 0, false
	}
	return min(s.m.c.idle, left), true
}

func (s *Session) touchIfDue() {
	if !s.exists || s.token == "" {
		return
	}
	now := time.Now().UnixMilli()
	every := s.m.c.touchEvery.Milliseconds()
	if now-s.hdr.written < every {
		return
	}
	if last, _ := s.m.touched.get(s.key); now-last < every {
		return
	}
	ttl, ok := s.ttl(now)
	if !ok {
		return
	}
	if err := s.m.st.Touch(s.ctx, s.key, ttl); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.m.storeError(s.ctx, "session: extending expiry failed", err)
		}
		return
	}
	s.m.touched.put(s.key, now)
}

// save writes pending changes. s.mu must be held.
func (s *Session) save() error {
	if !s.loaded {
		return nil
	}
	if !s.pending() {
		if s.speculative {
			return s.validate()
		}
		return nil
	}
	if s.loadErr != nil {
		return fmt.Errorf("session: cannot save, the session could not be loaded: %w", s.loadErr)
	}
	if s.destroy {
		return s.saveDestroy()
	}
	if s.renew || !s.exists {
		if !s.exists && len(s.writes) == 0 {
			// Nothing to keep: Renew or RememberMe on no session.
			s.renew, s.remember = false, 0
			return nil
		}
		return s.saveNew()
	}
	return s.saveReplace()
}

func (s *Session) saveDestroy() error {
	if s.key != "" {
		if err := s.m.st.Delete(s.ctx, s.key); err != nil {
			return fmt.Errorf("session: destroy: %w", err)
		}
		s.m.forget(s.key)
	}
	if s.hadCookie || s.exists {
		s.setCookie("", -1)
	}
	s.out.Del(s.m.c.header)
	s.token, s.key, s.exists, s.version, s.hdr, s.base = "", "", false, 0, header{}, nil
	s.destroy, s.remember, s.reads = false, 0, nil
	return nil
}

// next builds the record a save writes: the stored values with this
// request's changes on top.
func (s *Session) next(now int64) (header, []entry, []byte, error) {
	h := s.hdr
	if !s.exists {
		h = header{created: now}
		if s.m.c.cookie.Persistent {
			h.flags |= flagPersist
		}
	}
	h.written = now
	h.flags &^= flagTombstone
	switch s.remember {
	case 1:
		h.flags |= flagPersist
	case -1:
		h.flags &^= flagPersist
	}
	entries := merge(s.base, s.writes)
	n := encodedLen(h, entries)
	if n > s.m.c.maxSize {
		return h, nil, nil, fmt.Errorf("%w: %d bytes encoded, limit %d", ErrTooLarge, n, s.m.c.maxSize)
	}
	return h, entries, encode(make([]byte, 0, n), h, entries), nil
}

func (s *Session) saveReplace() error {
	for attempt := 1; ; attempt++ {
		now := time.Now().UnixMilli()
		ttl, ok := s.ttl(now)
		if !ok {
			return s.conflicted("the session reached its lifetime")
		}
		h, entries, val, err := s.next(now)
		if err != nil {
			return err
		}
		v, err := s.m.st.Replace(s.ctx, s.key, val, ttl, s.version)
		switch {
		case err == nil:
			cookieChanged := (h.flags^s.hdr.flags)&flagPersist != 0
			s.version, s.hdr, s.base, s.writes, s.remember = v, h, entries, nil, 0
			s.speculative = false
			s.m.touched.put(s.key, now)
			s.m.remember(s.key, v, val)
			if cookieChanged {
				s.sendToken(now)
			}
			return nil
		case errors.Is(err, store.ErrConflict) && attempt < s.m.c.maxAttempts:
			if err := s.refresh(); err != nil {
				return err
			}
		case errors.Is(err, store.ErrConflict):
			return s.conflicted("too many concurrent changes")
		case errors.Is(err, store.ErrNotFound):
			s.m.forget(s.key)
			return s.conflicted("the session ended")
		default:
			return fmt.Errorf("session: save: %w", err)
		}
	}
}

// refresh reloads the stored session after a conflict. If every value this
// request read is unchanged, its changes still apply on top of the fresh
// record (the outcome is as if the requests had run one after the other)
// and refresh returns nil; otherwise ErrConflict.
func (s *Session) refresh() error {
	rec, err := s.m.st.Get(s.ctx, s.key)
	if errors.Is(err, store.ErrNotFound) {
		return s.conflicted("the session ended")
	}
	if err != nil {
		return fmt.Errorf("session: reload after a conflict: %w", err)
	}
	h, entries, err := decode(rec.Value)
	if err != nil || h.flags&flagTombstone != 0 {
		return s.conflicted("the session ended")
	}
	s.m.remember(s.key, rec.Version, rec.Value)
	for _, k := range s.reads {
		if k == "\x00all" {
			if !sameEntries(s.base, entries) {
				return s.conflicted("values it read were changed")
			}
			continue
		}
		i, j := find(s.base, k), find(entries, k)
		if (i < 0) != (j < 0) || i >= 0 && (s.base[i].typ != entries[j].typ || string(s.base[i].raw) != string(entries[j].raw)) {
			return s.conflicted("values it read were changed")
		}
	}
	s.version, s.hdr, s.base, s.speculative = rec.Version, h, entries, false
	return nil
}

func (s *Session) conflicted(why string) error {
	s.conflict = true
	return fmt.Errorf("%w: %s", ErrConflict, why)
}

// saveNew writes the session under a new token: a new session, or a renewed
// one, whose old record is then retired.
func (s *Session) saveNew() error {
	now := time.Now().UnixMilli()
	if !s.exists {
		s.hdr = header{}
	}
	for attempt := 1; ; attempt++ {
		var ttl time.Duration
		if s.exists {
			var ok bool
			if ttl, ok = s.ttl(now); !ok {
				return s.conflicted("the session reached its lifetime")
			}
		} else {
			ttl = min(s.m.c.idle, s.m.c.lifetime)
		}
		h, entries, val, err := s.next(now)
		if err != nil {
			return err
		}
		token := newToken()
		key := storeKey(s.m.c.prefix, token)
		v, err := s.m.st.Create(s.ctx, key, val, ttl)
		if errors.Is(err, store.ErrExists) && attempt < 3 {
			continue // 2⁻²⁵⁶; but never take over another session
		}
		if err != nil {
			return fmt.Errorf("session: save: %w", err)
		}
		if s.exists {
			retry, err := s.retire(h, now)
			if err != nil || retry {
				// The new record was built from stale values, or the old
				// session is gone: take the new one back.
				s.m.st.Delete(context.WithoutCancel(s.ctx), key)
				if err != nil {
					return err
				}
				continue
			}
			s.m.forget(s.key)
		}
		s.token, s.key, s.exists, s.version, s.hdr, s.base = token, key, true, v, h, entries
		s.writes, s.renew, s.remember, s.speculative = nil, false, 0, false
		s.m.touched.put(key, now)
		s.m.remember(key, v, val)
		s.sendToken(now)
		return nil
	}
}

// retire kills the old token of a renewed session by swapping its record
// for a short-lived tombstone — a compare-and-swap, so a change another
// request made meanwhile is not lost with it. retry reports that the
// session changed but this request's changes still apply: build the new
// record again.
func (s *Session) retire(h header, now int64) (retry bool, err error) {
	tomb := encode(nil, header{created: h.created, written: now, flags: flagTombstone}, nil)
	_, err = s.m.st.Replace(s.ctx, s.key, tomb, time.Minute, s.version)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, store.ErrConflict):
		if err := s.refresh(); err != nil {
			return false, err
		}
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, s.conflicted("the session ended")
	default:
		return false, fmt.Errorf("session: retire the old token: %w", err)
	}
}

// sendToken puts the session's token in the response: the cookie and the
// header. Responses that carry a token must not be cached.
func (s *Session) sendToken(now int64) {
	maxAge := 0
	if s.hdr.flags&flagPersist != 0 {
		maxAge = int((time.Duration(s.hdr.created+s.m.c.lifetime.Milliseconds()-now) * time.Millisecond).Seconds())
		maxAge = max(maxAge, 1)
	}
	s.setCookie(s.token, maxAge)
	s.out.Set(s.m.c.header, s.token)
	s.out.Set("Cache-Control", `no-store`)
}

// setCookie sets the session cookie; maxAge < 0 deletes it, 0 makes it a
// browser-session cookie.
func (s *Session) setCookie(value string, maxAge int) {
	c := &s.m.c.cookie
	ck := http.Cookie{
		Name: c.Name, Value: value, Path: c.Path, Domain: c.Domain, MaxAge: maxAge,
		Secure: c.Secure, HttpOnly: !c.ScriptReadable, SameSite: c.SameSite, Partitioned: c.Partitioned,
	}
	// Replace, not add: a renewed session must not send its old cookie too.
	prefix := c.Name + "="
	cookies := s.out["Set-Cookie"][:0:0]
	for _, v := range s.out["Set-Cookie"] {
		if !strings.HasPrefix(v, prefix) {
			cookies = append(cookies, v)
		}
	}
	s.out["Set-Cookie"] = append(cookies, ck.String())
}

// merge returns base with the changes applied; both are sorted by key.
func merge(base, changes []entry) []entry {
	if len(changes) == 0 {
		return base
	}
	out := make([]entry, 0, len(base)+len(changes))
	i, j := 0, 0
	for i < len(base) || j < len(changes) {
		switch {
		case j == len(changes) || i < len(base) && base[i].key < changes[j].key:
			out = append(out, base[i])
			i++
		case i == len(base) || changes[j].key < base[i].key:
			if changes[j].typ != 0 {
				out = append(out, changes[j])
			}
			j++
		default: // same key: the change wins
			if changes[j].typ != 0 {
				out = append(out, changes[j])
			}
			i++
			j++
		}
	}
	return out
}

func sameEntries(a, b []entry) bool {
	return slices.EqualFunc(a, b, func(x, y entry) bool {
		return x.key == y.key && x.typ == y.typ && string(x.raw) == string(y.raw)
	})
}

// writeError is the default ErrorHandler.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusServiceUnavailable, "session store unavailable"
	switch {
	case errors.Is(err, ErrConflict):
		status, msg = http.StatusConflict, "session changed by a concurrent request; try again"
	case errors.Is(err, ErrTooLarge), errors.Is(err, store.ErrTooLarge):
		status, msg = http.StatusInternalServerError, "session too large to save"
	case errors.Is(err, context.Canceled):
		status, msg = 499, "request canceled"
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%q}\n", msg)
}
