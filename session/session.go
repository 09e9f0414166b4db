package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stateless-go/stateless/store"
)

// Session is one request's view of its session (or, from Manager.Load,
// one piece of code's). Its methods are safe for concurrent use by the
// goroutines serving the request.
//
// It holds three things: what the store held when the session was loaded
// (stored), what this request will save (pending), and where the request
// is in its life (phase).
type Session struct {
	m   *Manager
	ctx context.Context
	mu  sync.Mutex

	token string // as the client sent it, if of token shape, else ""
	key   string // the store key of token, derived once

	stored  stored
	pending pending
	phase   phase
	retry   retryRun    // under Manager.Retry
	rw      retryWriter // Retry's writer, allocated with the session

	// HTTP only; zero for a session from Manager.Load.
	w         responseWriter
	out       http.Header // where token headers go: the response's, or a Retry run's buffer
	hadCookie bool        // the request carried our cookie: clear it when the session ends
	outer     *Session    // an enclosing Manager's session in the same request
}

// phase is where a session is in its request.
type phase uint8

const (
	// open: changes are taken and saved when the response begins.
	open phase = iota
	// sealed: the response has begun (or a Retry run has ended); the
	// session can still be read, but a change can no longer be saved
	// before the client sees a status, so it is dropped and reported.
	sealed
)

// stored is the session as the store holds it, as this request last saw it.
type stored struct {
	loaded      bool
	err         error // the store's error when loading failed
	exists      bool
	version     uint64
	hdr         header
	values      []entry // sorted by key
	speculative bool    // from this instance's cache, not yet confirmed by the store
}

// life is what a save does to the session's identity.
type life uint8

const (
	keep  life = iota // same token, same record
	renew             // a new token for the same session (same ID, values, start)
	fresh             // the old session ends; with pending.create a new one begins
)

// pending is what this request will save.
type pending struct {
	life     life
	create   bool    // with fresh: start a new session
	clear    bool    // values start empty instead of from stored.values
	writes   []entry // sorted by key; typ 0 deletes
	reads    []string
	readsBuf [4]string
	readAll  bool // Keys was called: every value counts as read
	remember int8 // 0 unchanged, 1 on, -1 off
	deadline int64
	setDL    bool   // deadline (Unix ms, 0 for none) replaces the stored one
	token    string // minted for a renewed or new session
	id       string // minted for a new session, or for a stored one without an ID
	dropped  error  // a change made after the response began
}

func (p *pending) any() bool {
	return p.life != keep || p.clear || len(p.writes) > 0 || p.remember != 0 || p.setDL || p.id != ""
}

// reset forgets every change, keeping the reads buffer.
func (p *pending) reset() {
	dropped := p.dropped
	*p = pending{reads: p.readsBuf[:0], dropped: dropped}
}

// Status says what saving a session will do.
type Status uint8

const (
	// Unmodified: nothing to save.
	Unmodified Status = iota
	// Modified: values, the token or the cookie will change.
	Modified
	// Destroyed: the session ends and no new one begins.
	Destroyed
)

func (st Status) String() string {
	switch st {
	case Unmodified:
		return "Unmodified"
	case Modified:
		return "Modified"
	case Destroyed:
		return "Destroyed"
	}
	return "Status(" + strconv.Itoa(int(st)) + ")"
}

// keyOf returns the store key of the request's token, derived once.
func (s *Session) keyOf() string {
	if s.key == "" && s.token != "" {
		s.key = storeKey(s.m.c.prefix, s.token)
	}
	return s.key
}

// TokenHash returns a digest of the token the request presented: 43
// characters of base64url (a SHA-256 of the token, distinct from the one
// that names its store record), "" when the request carried no token of
// the right shape. It reads nothing from the store, so
// it says nothing about whether the session is live: use it to key or
// scope other records by "whoever holds this token" before, or without,
// loading the session (the Greeter scopes Idempotency-Key records by it,
// so that a replay costs one store read). It is stable for as long as the
// token is: Renew and Login hand the client a new token and so a new
// TokenHash; use ID for a binding that survives Renew. It is not a secret:
// neither the token nor the store key can be derived from it.
func (s *Session) TokenHash() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" {
		return ""
	}
	const domain = "stateless session.TokenHash\x00"
	var buf [len(domain) + tokenLen]byte
	sum := sha256.Sum256(append(append(buf[:0], domain...), s.token...))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// LogValue keeps tokens out of logs even when a Session is logged whole.
func (s *Session) LogValue() slog.Value { return slog.StringValue("session") }

// Live loads the session if it is not loaded yet and reports whether it
// names a live session in the store. err is the store's error: the session
// then reads as empty, and any change fails to save.
func (s *Session) Live() (live bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	return s.stored.exists && s.pending.life != fresh, s.stored.err
}

// Status reports what saving the session will do: Destroyed after
// Destroy (unless values set since start a new session), Modified after
// any other change, else Unmodified.
func (s *Session) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.pending.life == fresh && !s.pending.create:
		return Destroyed
	case s.pending.any():
		return Modified
	}
	return Unmodified
}

// Token returns the token the client holds once this request's changes
// are saved: the request's own, a new one after Renew or Login, or "" when
// there is no session (or it is destroyed). Code outside HTTP (see
// Manager.Load) hands it to the client by its own means.
func (s *Session) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	switch {
	case s.pending.token != "":
		return s.pending.token
	case s.pending.life == fresh || !s.stored.exists:
		return ""
	}
	return s.token
}

// ID returns the session's stable identifier: 128 random bits, unrelated
// to the token, kept in the stored record and unchanged by Renew (Login
// and Destroy end the session, and a new session gets a new ID). It is
// not a secret and grants nothing: log it, or bind other records to it
// (access tokens, to revoke them when the session ends). Neither the token
// nor the store key can be derived from it. "" when there is no session.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	switch {
	case s.pending.life == fresh && s.pending.create:
		return s.pending.id
	case s.pending.life == fresh || !s.stored.exists:
		return ""
	case s.pending.id != "":
		return s.pending.id
	}
	return string(s.stored.hdr.id)
}

// Deadline returns when the session ends however busy it is: its start
// plus Options.Lifetime, or the earlier time SetDeadline gave it. The zero
// time when there is no session.
func (s *Session) Deadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	var h header
	switch {
	case s.pending.life == fresh && s.pending.create:
		h.created = time.Now().UnixMilli()
	case s.pending.life == fresh || !s.stored.exists:
		return time.Time{}
	default:
		h = s.stored.hdr
	}
	if s.pending.setDL {
		h.deadline = s.pending.deadline
	}
	return time.UnixMilli(s.m.end(h))
}

// SetDeadline makes the session end at t (to the millisecond) however
// busy it is, if that is before its start plus Options.Lifetime, which it
// can never outlive; the zero time removes a deadline set earlier. A time
// already past ends the session as Destroy does.
func (s *Session) SetDeadline(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.changeable("SetDeadline") {
		return
	}
	var ms int64
	if !t.IsZero() {
		if ms = t.UnixMilli(); ms <= time.Now().UnixMilli() {
			s.destroy()
			return
		}
	}
	s.pending.deadline, s.pending.setDL = ms, true
}

// load reads the session from the store, once. s.mu must be held.
func (s *Session) load() {
	if s.stored.loaded {
		return
	}
	s.stored.loaded = true
	if s.out != nil {
		// The response now depends on the session, so caches must key on it.
		if v := s.out["Vary"]; len(v) == 0 {
			s.out["Vary"] = s.m.c.vary // shared: Header.Add copies before appending
		} else {
			s.out["Vary"] = append(v, s.m.c.vary[0])
		}
	}
	if s.token == "" {
		return
	}
	rec, ok := s.speculate()
	if !ok {
		ctx, done := s.m.observe(s.ctx, EventLoad)
		var err error
		rec, err = s.m.st.Get(ctx, s.keyOf())
		if done != nil {
			done(err)
		}
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				s.m.forget(s.key)
			} else {
				s.stored.err = err
				s.m.storeError(s.ctx, "session: load failed", err)
			}
			return
		}
		s.m.remember(s.key, rec.Version, rec.Value)
	}
	h, values, err := decode(rec.Value)
	if err != nil {
		s.m.logUndecodable(s.ctx, err)
		return
	}
	if h.flags&flagTombstone != 0 || time.Now().UnixMilli() >= s.m.end(h) {
		return
	}
	s.stored = stored{loaded: true, exists: true, version: rec.Version, hdr: h, values: values, speculative: ok}
	if len(h.id) == 0 {
		// Written before sessions had IDs: give it one, saved with this
		// request.
		s.pending.id = newID()
	}
}

// value returns the entry under key as this request sees it. s.mu must be
// held.
func (s *Session) value(key string) (entry, bool) {
	s.load()
	if i := find(s.pending.writes, key); i >= 0 {
		e := s.pending.writes[i]
		return e, e.typ != 0
	}
	if s.pending.clear {
		return entry{}, false
	}
	if !slices.Contains(s.pending.reads, key) {
		s.pending.reads = append(s.pending.reads, key)
	}
	if i := find(s.stored.values, key); i >= 0 {
		return s.stored.values[i], true
	}
	return entry{}, false
}

func (s *Session) get(key string, typ byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.value(key)
	return e.raw, ok && e.typ == typ
}

// Exists reports whether the session holds a value under key, of any type.
func (s *Session) Exists(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.value(key)
	return ok
}

// Keys returns the keys of the session's values, sorted. It counts as
// reading every value.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	s.pending.readAll = true
	var keys []string
	for _, e := range merge(s.base(), s.pending.writes) {
		keys = append(keys, e.key)
	}
	return keys
}

// base is what this request's writes apply to. s.mu must be held.
func (s *Session) base() []entry {
	if s.pending.clear {
		return nil
	}
	return s.stored.values
}

// set records a change of key (typ 0 deletes it). s.mu must be held.
func (s *Session) set(key string, typ byte, raw []byte) {
	if !s.changeable("a change of " + strconv.Quote(key)) {
		return
	}
	if !s.stored.exists && s.pending.life == keep || s.pending.life == fresh && !s.pending.create {
		// No live session (or it was destroyed): this starts a new one.
		s.begin()
	}
	e := entry{key: key, typ: typ, raw: raw}
	w := s.pending.writes
	i, found := slices.BinarySearchFunc(w, key, func(e entry, k string) int { return strings.Compare(e.key, k) })
	if found {
		w[i] = e
	} else {
		s.pending.writes = slices.Insert(w, i, e)
	}
}

func (s *Session) setLocked(key string, typ byte, raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set(key, typ, raw)
}

// Delete removes the value under key.
func (s *Session) Delete(key string) { s.setLocked(key, 0, nil) }

// changeable loads the session for a change, or, once the response has
// begun and the change can no longer be saved before the client sees a
// status, records and logs what was dropped and reports false. s.mu must
// be held.
func (s *Session) changeable(what string) bool {
	if s.phase == sealed {
		err := fmt.Errorf("%w: %s", ErrResponseStarted, what)
		if s.pending.dropped == nil {
			s.pending.dropped = err
		}
		s.m.c.log.LogAttrs(s.ctx, slog.LevelError, "session: change dropped: the response had begun", slog.String("change", what))
		return false
	}
	s.load()
	return true
}

// begin makes the pending change a new session under a new token: the old
// one, if any, ends with the save. s.mu must be held.
func (s *Session) begin() {
	s.pending.life, s.pending.create, s.pending.clear = fresh, true, true
	s.pending.token, s.pending.id = newToken(), newID()
}

// destroy ends the session with the save, and every change before it.
// s.mu must be held.
func (s *Session) destroy() {
	s.pending.life, s.pending.create, s.pending.clear = fresh, false, true
	s.pending.writes, s.pending.token, s.pending.id = nil, "", ""
	s.pending.remember, s.pending.setDL = 0, false
}

// Renew gives the session a new token, keeping its ID and values, and
// kills the old token: call it when the user gains privileges, so that a
// token planted before (session fixation) is worth nothing. To log a user
// in, use Login, which also drops the values of whoever held the session
// before. Renew of no live session, or after Destroy, does nothing: the
// next value set starts a new session under a new token anyway. The
// absolute Lifetime keeps counting from the session's start.
func (s *Session) Renew() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changeable("Renew") && s.stored.exists && s.pending.life == keep {
		s.pending.life, s.pending.token = renew, newToken()
	}
}

// Login starts a new session for a user who has just authenticated: a new
// token, a new ID, no values, and a Lifetime counted from now; the
// request's old session, if any, ends. Set the user's values after it.
// It is the fixation defence and keeps one user's data (a cart, a flash)
// from ever reaching the next user of the same browser.
func (s *Session) Login() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changeable("Login") {
		s.destroy()
		s.begin()
	}
}

// Clear removes every value and keeps the session: same token, same ID.
func (s *Session) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changeable("Clear") {
		s.pending.clear, s.pending.writes = true, nil
	}
}

// Destroy ends the session (log out): its record is deleted, so its token
// is refused by every instance at once, and the cookie is cleared. Every
// change made before it is dropped. A value set after it starts a new
// session under a new token, holding only the values set after Destroy.
func (s *Session) Destroy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changeable("Destroy") {
		s.destroy()
	}
}

// RememberMe chooses a persistent cookie (true: it lasts until the
// session's Deadline, across browser restarts) or a browser-session cookie
// (false) for this session.
func (s *Session) RememberMe(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.changeable("RememberMe") {
		return
	}
	if on {
		s.pending.remember = 1
	} else {
		s.pending.remember = -1
	}
}

// Save stores pending changes now, so a handler can handle a failure
// itself before writing its response; without it, changes are saved when
// the response begins. After the response has begun, Save saves nothing
// and reports any change made since as an error wrapping
// ErrResponseStarted. Under Retry it does nothing: the wrapper saves when
// the handler returns. For a session from Manager.Load, Save is the
// commit.
func (s *Session) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.phase == sealed:
		return s.pending.dropped
	case s.retry.active:
		return nil
	}
	return s.save()
}
