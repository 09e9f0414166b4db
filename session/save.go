package session

import (
	"context"
	"errors"
	"fmt"
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
	// ErrResponseStarted: a change was made after the response had begun,
	// when it could no longer be saved before the client saw a status. It
	// was dropped; Save reports it.
	ErrResponseStarted = errors.New("session: change made after the response began was not saved")
)

// save writes pending changes. s.mu must be held.
func (s *Session) save() error { return s.observedSave() }

// saveNow is save without the Observer. s.mu must be held.
func (s *Session) saveNow() error {
	if !s.stored.loaded {
		return nil // neither read nor changed
	}
	if !s.pending.any() {
		if s.stored.speculative {
			return s.validate()
		}
		return nil
	}
	if s.stored.err != nil {
		return fmt.Errorf("session: cannot save, the session could not be loaded: %w", s.stored.err)
	}
	switch {
	case s.pending.life == fresh:
		return s.saveFresh()
	case !s.stored.exists:
		// RememberMe, SetDeadline or Clear of no session: nothing to keep.
		s.pending.reset()
		return nil
	case s.pending.life == renew:
		return s.saveRenewed()
	}
	return s.saveReplace()
}

// end is when a session with header h ends however busy it is (Unix ms).
func (m *Manager) end(h header) int64 {
	end := h.created + m.c.lifetime.Milliseconds()
	if h.deadline != 0 && h.deadline < end {
		end = h.deadline
	}
	return end
}

// ttl is the life a write gives a session with header h: the idle timeout,
// or what is left before its end if that is less. ok is false once it has
// ended.
func (s *Session) ttl(h header, now int64) (time.Duration, bool) {
	left := time.Duration(s.m.end(h)-now) * time.Millisecond
	if left <= 0 {
		return 0, false
	}
	return min(s.m.c.idle, left), true
}

// next builds the record a save writes from h: the values this request
// sees, its changes to the header, the encoded form, and the life the
// write gives it.
func (s *Session) next(h header, now int64) (header, []entry, []byte, time.Duration, error) {
	h.written = now
	h.flags &^= flagTombstone
	switch s.pending.remember {
	case 1:
		h.flags |= flagPersist
	case -1:
		h.flags &^= flagPersist
	}
	if s.pending.setDL {
		h.deadline = s.pending.deadline
	}
	if s.pending.id != "" {
		h.id = []byte(s.pending.id)
	}
	ttl, ok := s.ttl(h, now)
	if !ok {
		return h, nil, nil, 0, s.conflicted("the session reached its end")
	}
	values := merge(s.base(), s.pending.writes)
	n := encodedLen(h, values)
	if n > s.m.c.maxSize {
		return h, nil, nil, 0, fmt.Errorf("%w: %d bytes encoded, limit %d", ErrTooLarge, n, s.m.c.maxSize)
	}
	return h, values, encode(make([]byte, 0, n), h, values), ttl, nil
}

// saved records a successful write of the session under token and key.
func (s *Session) saved(token, key string, version uint64, h header, values []entry, val []byte, now int64) {
	cookieChanged := token != s.token || (h.flags^s.stored.hdr.flags)&flagPersist != 0 || h.deadline != s.stored.hdr.deadline
	s.token, s.key = token, key
	s.stored = stored{loaded: true, exists: true, version: version, hdr: h, values: values}
	s.pending.reset()
	// No note in m.touched: the record's written time says it all.
	s.m.remember(key, version, val)
	if cookieChanged {
		s.sendToken(now)
	}
}

func (s *Session) saveReplace() error {
	for attempt := 1; ; attempt++ {
		now := time.Now().UnixMilli()
		h, values, val, ttl, err := s.next(s.stored.hdr, now)
		if err != nil {
			return err
		}
		v, err := s.m.st.Replace(s.ctx, s.key, val, ttl, s.stored.version)
		switch {
		case err == nil:
			s.saved(s.token, s.key, v, h, values, val, now)
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

// saveFresh ends the request's session (Destroy, Login) and, when a new
// one begins, creates it under its new token.
func (s *Session) saveFresh() error {
	if s.stored.exists {
		if err := s.m.st.Delete(s.ctx, s.key); err != nil {
			return fmt.Errorf("session: end the old session: %w", err)
		}
		s.m.forget(s.key)
		s.m.event(s.ctx, EventDestroy, nil)
	}
	if !s.pending.create {
		s.clearToken()
		s.token, s.key = "", ""
		s.stored = stored{loaded: true}
		s.pending.reset()
		return nil
	}
	now := time.Now().UnixMilli()
	h := header{created: now}
	if s.m.c.cookie.Persistent {
		h.flags |= flagPersist
	}
	h, values, val, ttl, err := s.next(h, now)
	if err != nil {
		return err
	}
	token := s.pending.token
	key := storeKey(s.m.c.prefix, token)
	v, err := s.m.st.Create(s.ctx, key, val, ttl)
	if err != nil {
		// ErrExists too: a 256-bit token met another; never take it over.
		return fmt.Errorf("session: save a new session: %w", err)
	}
	s.saved(token, key, v, h, values, val, now)
	s.m.event(s.ctx, EventCreate, nil)
	return nil
}

// saveRenewed moves the session to its new token: the new record is
// created first, then the old one is retired by compare-and-swap, so a
// change another request made meanwhile is merged or refused, never lost.
func (s *Session) saveRenewed() error {
	token := s.pending.token
	key := storeKey(s.m.c.prefix, token)
	for attempt := 1; ; attempt++ {
		now := time.Now().UnixMilli()
		h, values, val, ttl, err := s.next(s.stored.hdr, now)
		if err != nil {
			return err
		}
		v, err := s.m.st.Create(s.ctx, key, val, ttl)
		if err != nil {
			return fmt.Errorf("session: save: %w", err)
		}
		retry, err := s.retire(h, now)
		if err != nil || retry {
			// The new record was built from stale values, or the old
			// session is gone: take the new one back.
			s.m.st.Delete(context.WithoutCancel(s.ctx), key)
			if err == nil && attempt >= s.m.c.maxAttempts {
				err = s.conflicted("too many concurrent changes")
			}
			if err != nil {
				return err
			}
			continue
		}
		s.m.forget(s.key)
		s.saved(token, key, v, h, values, val, now)
		s.m.event(s.ctx, EventRenew, nil)
		return nil
	}
}

// retire kills the old token of a renewed session by swapping its record
// for a short-lived tombstone: a compare-and-swap, so a change another
// request made meanwhile is not lost with it. retry reports that the
// session changed but this request's changes still apply: build the new
// record again.
func (s *Session) retire(h header, now int64) (retry bool, err error) {
	tomb := encode(nil, header{created: h.created, written: now, flags: flagTombstone}, nil)
	_, err = s.m.st.Replace(s.ctx, s.key, tomb, time.Minute, s.stored.version)
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
	h, values, err := decode(rec.Value)
	if err != nil || h.flags&flagTombstone != 0 {
		return s.conflicted("the session ended")
	}
	s.m.remember(s.key, rec.Version, rec.Value)
	if s.pending.readAll && !sameEntries(s.stored.values, values) {
		return s.conflicted("values it read were changed")
	}
	for _, k := range s.pending.reads {
		i, j := find(s.stored.values, k), find(values, k)
		if (i < 0) != (j < 0) || i >= 0 && !sameEntry(s.stored.values[i], values[j]) {
			return s.conflicted("values it read were changed")
		}
	}
	s.stored = stored{loaded: true, exists: true, version: rec.Version, hdr: h, values: values}
	return nil
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
	case rec.Version != s.stored.version:
		s.m.remember(s.key, rec.Version, rec.Value)
		return s.conflicted("it changed")
	}
	s.stored.speculative = false
	return nil
}

func (s *Session) conflicted(why string) error {
	s.retry.conflict = true
	err := fmt.Errorf("%w: %s", ErrConflict, why)
	s.m.event(s.ctx, EventConflict, err)
	return err
}

// touchIfDue pushes back the idle expiry of a session that was only read,
// at most once per TouchInterval across this instance's requests.
func (s *Session) touchIfDue() {
	if !s.stored.exists || s.token == "" {
		return
	}
	now := time.Now().UnixMilli()
	every := s.m.c.touchEvery.Milliseconds()
	if now-s.stored.hdr.written < every {
		return
	}
	if last, _ := s.m.touched.get(s.key); now-last < every {
		return
	}
	ttl, ok := s.ttl(s.stored.hdr, now)
	if !ok {
		return
	}
	ctx, done := s.m.observe(s.ctx, EventTouch)
	err := s.m.st.Touch(ctx, s.key, ttl)
	if done != nil {
		done(err)
	}
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.m.storeError(s.ctx, "session: extending expiry failed", err)
		}
		return
	}
	s.m.touched.put(s.key, now)
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

func sameEntry(x, y entry) bool {
	return x.key == y.key && x.typ == y.typ && string(x.raw) == string(y.raw)
}

func sameEntries(a, b []entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameEntry(a[i], b[i]) {
			return false
		}
	}
	return true
}
