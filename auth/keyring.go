package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stateless-go/stateless/store"
)

// The defaults and bounds of KeyRingOptions.
const (
	// DefaultKeyRingKey is the store key of the key ring's one record.
	DefaultKeyRingKey = "auth:keyring"
	// DefaultRotateEvery is how long each key is the active (signing) key.
	DefaultRotateEvery = 24 * time.Hour
	// DefaultJWKSMaxAge is the max-age of the JWKS response.
	DefaultJWKSMaxAge = 5 * time.Minute
	// DefaultRefreshEvery is how often each instance re-reads the ring.
	DefaultRefreshEvery = 30 * time.Second
	// MaxRefreshEvery bounds RefreshEvery.
	MaxRefreshEvery = 10 * time.Minute
	// DefaultStoreTimeout bounds each store call of the key ring.
	DefaultStoreTimeout = 5 * time.Second
	// MinSecretSize is the shortest KeyRingOptions.Secret, in bytes.
	MinSecretSize = 32
	// UnknownKeyRefreshInterval is the least time between two re-reads of
	// the ring caused by an unknown kid (or by a stale view at signing).
	UnknownKeyRefreshInterval = time.Second
	// MaxRingKeys bounds the keys a ring record may hold. Options are
	// checked so that a ring holds at most TokenLifetime/RotateEvery + 3
	// keys (TokenLifetime ≤ 8 × RotateEvery, so at most 11).
	MaxRingKeys = 32
	// minRingTTL is the least life given to the ring's record on each
	// write; every rotation rewrites it.
	minRingTTL = 30 * 24 * time.Hour
)

// KeyRingOptions configure a KeyRing. Secret is required; every instance
// sharing the ring must be given the same Secret and should be given the
// same options.
type KeyRingOptions struct {
	// Secret encrypts the private keys in the store: at least MinSecretSize
	// (32) bytes, from a secret manager, the same on every instance. The
	// ring copies it.
	Secret []byte
	// Algorithm of the keys this instance creates; "" means EdDSA. Keys
	// already in the ring keep theirs. HS256 keys sign and verify but are
	// never published in the JWKS.
	Algorithm Algorithm
	// RotateEvery is how long each key is the active one; 0 means
	// DefaultRotateEvery (24 h). It must exceed PublishAhead (JWKSMaxAge +
	// 2 × RefreshEvery) plus RefreshEvery.
	RotateEvery time.Duration
	// TokenLifetime is the longest token life (exp - iat) the ring plans
	// for: a retired key stays until TokenLifetime + MaxLeeway after its
	// retirement. 0 means DefaultMaxTokenLifetime (10 min). At most 8 ×
	// RotateEvery. A Signer over the ring may not sign longer-lived tokens.
	TokenLifetime time.Duration
	// JWKSMaxAge is the max-age the JWKS handler announces; 0 means
	// DefaultJWKSMaxAge (5 min).
	JWKSMaxAge time.Duration
	// RefreshEvery is how often the ring is re-read from the store in the
	// background; 0 means DefaultRefreshEvery (30 s); at most
	// MaxRefreshEvery.
	RefreshEvery time.Duration
	// StoreTimeout bounds each store call the ring makes on its own (its
	// background refresh, and a refresh on an unknown kid, which many
	// callers may share); 0 means DefaultStoreTimeout (5 s).
	StoreTimeout time.Duration
	// StoreKey is the key of the ring's record; "" means DefaultKeyRingKey.
	StoreKey string
	// Now is the clock; nil means time.Now. The background refresh ticks on
	// the real clock (time.Ticker) in any case.
	Now func() time.Time
	// Logger receives the errors of background refreshes (never a key or
	// the secret); nil means slog.Default().
	Logger *slog.Logger
}

// KeyRing is a set of signing keys every instance agrees on through a
// shared store.Store, with no configuration beyond the store and a secret.
// See the package documentation for its life cycle and record. It is safe
// for concurrent use; Close stops its background refresh.
type KeyRing struct {
	st       store.Store
	key      string
	secret   []byte
	alg      Algorithm
	rotate   time.Duration
	life     time.Duration
	maxAge   time.Duration
	every    time.Duration
	timeout  time.Duration
	ahead    time.Duration // PublishAhead
	now      func() time.Time
	log      *slog.Logger
	view     atomic.Pointer[ringView]
	synced   atomic.Int64 // r.now() of the last successful read, Unix ns
	flight   flight
	sealMu   sync.Mutex
	sealer   *sealer // for the salt of the latest record
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

var (
	_ SigningKeys      = (*KeyRing)(nil)
	_ VerificationKeys = (*KeyRing)(nil)
	_ PublicKeySource  = (*KeyRing)(nil)
)

// ringView is one decoded record: immutable once built.
type ringView struct {
	version uint64
	rec     *ringRecord // for re-encoding
	keys    []*ringKey  // by activation time
	byID    map[string]*ringKey
}

type ringKey struct {
	key       *Key
	activates time.Time
	drops     time.Time // zero while the key has no successor
}

// KeyState is where a key is in its life cycle.
type KeyState string

// The life cycle of a key in a KeyRing.
const (
	KeyNext    KeyState = "next"    // published, not signing yet
	KeyActive  KeyState = "active"  // signing (and published)
	KeyRetired KeyState = "retired" // published until its last token has expired
)

// KeyInfo describes one key of a KeyRing.
type KeyInfo struct {
	ID        string
	Algorithm Algorithm
	State     KeyState
	Activates time.Time // when it starts (or started) signing
	Drops     time.Time // when it leaves the ring; zero while it has no successor
}

// NewKeyRing opens the key ring in st, creating it if this is the first
// instance, and starts its background refresh. Two instances starting at
// once end up with one ring: the store's Create lets one write it, and the
// other reads it. The ring does not own st.
func NewKeyRing(ctx context.Context, st store.Store, opts *KeyRingOptions) (*KeyRing, error) {
	if st == nil {
		return nil, errors.New("auth: NewKeyRing needs a store")
	}
	if opts == nil {
		opts = &KeyRingOptions{}
	}
	if len(opts.Secret) < MinSecretSize {
		return nil, fmt.Errorf("auth: KeyRingOptions.Secret is %d bytes; at least %d are required", len(opts.Secret), MinSecretSize)
	}
	r := &KeyRing{
		st:      st,
		key:     opts.StoreKey,
		secret:  append([]byte(nil), opts.Secret...),
		alg:     opts.Algorithm,
		rotate:  opts.RotateEvery,
		life:    opts.TokenLifetime,
		maxAge:  opts.JWKSMaxAge,
		every:   opts.RefreshEvery,
		timeout: opts.StoreTimeout,
		now:     opts.Now,
		log:     opts.Logger,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if r.key == "" {
		r.key = DefaultKeyRingKey
	}
	if len(r.key) > store.MaxKeyLen {
		return nil, fmt.Errorf("auth: KeyRingOptions.StoreKey is longer than %d bytes", store.MaxKeyLen)
	}
	if r.alg == "" {
		r.alg = EdDSA
	}
	if err := r.alg.check(); err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&r.rotate, DefaultRotateEvery)
	def(&r.life, DefaultMaxTokenLifetime)
	def(&r.maxAge, DefaultJWKSMaxAge)
	def(&r.every, DefaultRefreshEvery)
	def(&r.timeout, DefaultStoreTimeout)
	switch {
	case r.every < time.Second || r.every > MaxRefreshEvery:
		return nil, fmt.Errorf("auth: KeyRingOptions.RefreshEvery %v is outside [1s, %v]", r.every, MaxRefreshEvery)
	case r.maxAge < time.Second:
		return nil, fmt.Errorf("auth: KeyRingOptions.JWKSMaxAge %v is under a second", r.maxAge)
	case r.life < time.Second:
		return nil, fmt.Errorf("auth: KeyRingOptions.TokenLifetime %v is under a second", r.life)
	case r.timeout <= 0:
		return nil, fmt.Errorf("auth: KeyRingOptions.StoreTimeout %v is not positive", r.timeout)
	}
	r.ahead = r.maxAge + 2*r.every
	if r.rotate <= r.ahead+r.every {
		return nil, fmt.Errorf("auth: KeyRingOptions.RotateEvery %v must exceed JWKSMaxAge + 3 × RefreshEvery (%v): a next key is published that long before it signs", r.rotate, r.ahead+r.every)
	}
	if r.life > 8*r.rotate {
		return nil, fmt.Errorf("auth: KeyRingOptions.TokenLifetime %v is over 8 × RotateEvery: retired keys would pile up", r.life)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if err := r.sync(ctx); err != nil {
		return nil, err
	}
	go r.loop()
	return r, nil
}

// Close stops the background refresh. The ring still answers from what it
// last read (and reads again on an unknown kid or a stale view), so Close
// belongs at shutdown. It does not close the store.
func (r *KeyRing) Close() error {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
	return nil
}

func (r *KeyRing) loop() {
	defer close(r.done)
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if err := r.Refresh(context.Background()); err != nil {
				r.log.Warn("auth: key ring refresh failed", "store_key", r.key, "err", err)
			}
		}
	}
}

// Refresh reads the ring from the store now, rotating or pruning keys if
// that is due (one instance's compare-and-swap wins; the others read its
// result). The background refresh calls it every RefreshEvery; tests with a
// fake clock call it to stand in for the ticker.
func (r *KeyRing) Refresh(ctx context.Context) error {
	return r.flight.do(ctx, r.now(), 0, func() error { return r.sync(context.Background()) })
}

// refreshSoon re-reads the ring unless that was done less than
// UnknownKeyRefreshInterval ago (then it answers errSkipped).
func (r *KeyRing) refreshSoon(ctx context.Context) error {
	return r.flight.do(ctx, r.now(), UnknownKeyRefreshInterval, func() error { return r.sync(context.Background()) })
}

// MaxTokenLifetime returns KeyRingOptions.TokenLifetime: Signers over the
// ring may not sign longer-lived tokens, and Verifiers refuse them.
func (r *KeyRing) MaxTokenLifetime() time.Duration { return r.life }

// JWKSMaxAge returns KeyRingOptions.JWKSMaxAge, the JWKS handler's max-age.
func (r *KeyRing) JWKSMaxAge() time.Duration { return r.maxAge }

// PublishAhead returns how long before it signs a next key is in the ring
// (and the JWKS): JWKSMaxAge + 2 × RefreshEvery, so that every instance
// has read it and every JWKS cache has expired a copy without it.
func (r *KeyRing) PublishAhead() time.Duration { return r.ahead }

// JWKSHandler serves the ring's public keys (see JWKSHandler).
func (r *KeyRing) JWKSHandler() http.Handler {
	return JWKSHandler(r, &JWKSOptions{MaxAge: r.maxAge})
}

// SigningKey returns the active key. If the ring has not been read for
// 2 × RefreshEvery it is read first; if that fails and the last good read
// is older than PublishAhead, it answers ErrKeysUnavailable rather than
// sign with a key that may have been retired meanwhile.
func (r *KeyRing) SigningKey(ctx context.Context) (*Key, error) {
	now := r.now()
	age := now.Sub(time.Unix(0, r.synced.Load()))
	if age >= 2*r.every {
		err := r.refreshSoon(ctx)
		if err != nil && !errors.Is(err, errSkipped) && age >= r.ahead {
			return nil, fmt.Errorf("%w: the key ring was last read %v ago: %w", ErrKeysUnavailable, age.Round(time.Second), err)
		}
		if errors.Is(err, errSkipped) && age >= r.ahead {
			return nil, fmt.Errorf("%w: the key ring was last read %v ago", ErrKeysUnavailable, age.Round(time.Second))
		}
		now = r.now()
	}
	v := r.view.Load()
	var active *ringKey
	for _, k := range v.keys {
		if !k.activates.After(now) && (k.drops.IsZero() || now.Before(k.drops)) {
			active = k
		}
	}
	if active == nil {
		// Only a ring whose first key is dated ahead of this instance's
		// clock: that key is the only one there is.
		active = v.keys[0]
	}
	return active.key, nil
}

// VerificationKey returns the ring's key kid (next, active or retired, not
// dropped). An unknown kid makes the ring re-read the store first (one read
// shared by all callers, at most one per UnknownKeyRefreshInterval).
func (r *KeyRing) VerificationKey(ctx context.Context, kid string) (*Key, error) {
	if k, known := r.lookup(kid); known {
		if k == nil {
			return nil, ErrUnknownKey
		}
		return k, nil
	}
	err := r.refreshSoon(ctx)
	if err != nil && !errors.Is(err, errSkipped) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: unknown kid and the key ring could not be read: %w", ErrKeysUnavailable, err)
	}
	if k, _ := r.lookup(kid); k != nil {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// lookup finds kid in the view: known reports whether the ring holds it
// at all, k is nil if it was dropped by now.
func (r *KeyRing) lookup(kid string) (k *Key, known bool) {
	rk := r.view.Load().byID[kid]
	if rk == nil {
		return nil, false
	}
	if !rk.drops.IsZero() && !r.now().Before(rk.drops) {
		return nil, true
	}
	return rk.key, true
}

// PublicKeys returns the public halves of the ring's keys that are not
// dropped (next, active and retired), HS256 keys excepted.
func (r *KeyRing) PublicKeys(context.Context) ([]*Key, error) {
	now := r.now()
	var out []*Key
	for _, k := range r.view.Load().keys {
		if !k.drops.IsZero() && !now.Before(k.drops) {
			continue
		}
		if p := k.key.Public(); p != nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// Keys describes the ring's keys as this instance last read them, by
// activation time.
func (r *KeyRing) Keys() []KeyInfo {
	now := r.now()
	v := r.view.Load()
	out := make([]KeyInfo, 0, len(v.keys))
	for i, k := range v.keys {
		if !k.drops.IsZero() && !now.Before(k.drops) {
			continue
		}
		st := KeyActive
		switch {
		case k.activates.After(now):
			st = KeyNext
		case i+1 < len(v.keys) && !v.keys[i+1].activates.After(now):
			st = KeyRetired
		}
		out = append(out, KeyInfo{ID: k.key.id, Algorithm: k.key.alg, State: st, Activates: k.activates, Drops: k.drops})
	}
	return out
}

// sync reads the ring, creates it if absent, and writes a rotation or a
// pruning if one is due, retrying on a lost compare-and-swap.
func (r *KeyRing) sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	const attempts = 8
	for range attempts {
		now := r.now()
		rec, err := r.st.Get(ctx, r.key)
		if errors.Is(err, store.ErrNotFound) {
			v, value, err := r.newRing(now)
			if err != nil {
				return err
			}
			ver, err := r.st.Create(ctx, r.key, value, r.ttl())
			if errors.Is(err, store.ErrExists) {
				continue // another instance was first: read its ring
			}
			if err != nil {
				return fmt.Errorf("%w: creating the key ring: %w", ErrKeysUnavailable, err)
			}
			v.version = ver
			r.install(v, now)
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: reading the key ring: %w", ErrKeysUnavailable, err)
		}
		v := r.view.Load()
		if v == nil || v.version != rec.Version {
			if v, err = r.decode(rec.Value, v); err != nil {
				return err
			}
			v.version = rec.Version
		}
		r.install(v, now)
		next, value, err := r.plan(v, now)
		if err != nil || next == nil {
			return err
		}
		ver, err := r.st.Replace(ctx, r.key, value, r.ttl(), v.version)
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue // another instance wrote first: read and judge again
		}
		if err != nil {
			return fmt.Errorf("%w: writing the key ring: %w", ErrKeysUnavailable, err)
		}
		next.version = ver
		r.install(next, now)
		return nil
	}
	return fmt.Errorf("%w: the key ring changed under every one of %d attempts to update it", ErrKeysUnavailable, attempts)
}

// install makes v the view. Syncs run one at a time (r.flight), but for
// the first, in NewKeyRing, before anything else can run.
func (r *KeyRing) install(v *ringView, now time.Time) {
	r.view.Store(v)
	if n := now.UnixNano(); n > r.synced.Load() {
		r.synced.Store(n)
	}
}

// ttl is the life of the record on each write: long enough that it never
// expires while any instance runs (each rotation rewrites it).
func (r *KeyRing) ttl() time.Duration {
	return max(minRingTTL, 4*(r.rotate+r.life+r.ahead))
}

// newRing makes the first ring: one key, active at once (no verifier can
// have cached a key set without it, since there was none).
func (r *KeyRing) newRing(now time.Time) (*ringView, []byte, error) {
	s, salt, err := newSealer(r.secret)
	if err != nil {
		return nil, nil, err
	}
	rec := &ringRecord{Format: ringFormat, Salt: b64(salt), TokenLifetime: r.life}
	k, err := GenerateKey(r.alg)
	if err != nil {
		return nil, nil, err
	}
	kr, err := s.seal(k, now)
	if err != nil {
		return nil, nil, err
	}
	rec.Keys = append(rec.Keys, kr)
	r.sealMu.Lock()
	r.sealer = s
	r.sealMu.Unlock()
	return r.viewOf(rec, map[string]*Key{k.id: k})
}

// plan returns the ring that should replace v at now (a next key added,
// dropped keys removed), or nil if v is fine.
func (r *KeyRing) plan(v *ringView, now time.Time) (*ringView, []byte, error) {
	rec := *v.rec
	rec.Keys = nil
	life := max(v.rec.TokenLifetime, r.life)
	changed := life != v.rec.TokenLifetime
	rec.TokenLifetime = life
	keys := make(map[string]*Key, len(v.keys)+1)
	for i, k := range v.keys {
		if !k.drops.IsZero() && !now.Before(k.drops) {
			changed = true
			continue
		}
		rec.Keys = append(rec.Keys, v.rec.Keys[i])
		keys[k.key.id] = k.key
	}
	if len(rec.Keys) == 0 {
		return nil, nil, fmt.Errorf("%w: every key of the ring is past its drop time", ErrKeysUnavailable)
	}
	last := &rec.Keys[len(rec.Keys)-1]
	if !last.Activates.After(now) && !now.Before(last.Activates.Add(r.rotate-r.ahead)) {
		s, err := r.sealerFor(v.rec.Salt)
		if err != nil {
			return nil, nil, err
		}
		k, err := GenerateKey(r.alg)
		if err != nil {
			return nil, nil, err
		}
		activates := last.Activates.Add(r.rotate)
		if a := now.Add(r.ahead); a.After(activates) {
			activates = a
		}
		kr, err := s.seal(k, activates)
		if err != nil {
			return nil, nil, err
		}
		last.Drops = activates.Add(life + MaxLeeway)
		rec.Keys = append(rec.Keys, kr)
		keys[k.id] = k
		changed = true
	}
	if !changed {
		return nil, nil, nil
	}
	return r.viewOf(&rec, keys)
}

// viewOf encodes rec and builds its view from the already-decrypted keys.
func (r *KeyRing) viewOf(rec *ringRecord, keys map[string]*Key) (*ringView, []byte, error) {
	if len(rec.Keys) > MaxRingKeys {
		return nil, nil, fmt.Errorf("%w: the key ring would hold %d keys, more than %d", ErrKeysUnavailable, len(rec.Keys), MaxRingKeys)
	}
	value, err := rec.encode()
	if err != nil {
		return nil, nil, err
	}
	v := &ringView{rec: rec, byID: make(map[string]*ringKey, len(rec.Keys))}
	for _, kr := range rec.Keys {
		rk := &ringKey{key: keys[kr.Kid], activates: kr.Activates, drops: kr.Drops}
		v.keys = append(v.keys, rk)
		v.byID[kr.Kid] = rk
	}
	return v, value, nil
}

// decode reads a record: every private key must decrypt under the secret
// and match its kid. A key the old view already had keeps its *Key (same
// kid, same key: the kid is derived from the key), so the Verifier's cache
// entries made with it stay valid.
func (r *KeyRing) decode(value []byte, old *ringView) (*ringView, error) {
	rec, err := decodeRecord(value)
	if err != nil {
		return nil, err
	}
	s, err := r.sealerFor(rec.Salt)
	if err != nil {
		return nil, err
	}
	keys := make(map[string]*Key, len(rec.Keys))
	for i, kr := range rec.Keys {
		k, err := s.open(kr)
		if err != nil {
			return nil, err
		}
		if _, dup := keys[k.id]; dup {
			return nil, fmt.Errorf("%w: key ring record holds key %d twice", ErrKeysUnavailable, i)
		}
		if old != nil {
			if o := old.byID[k.id]; o != nil && o.key.alg == k.alg {
				k = o.key
			}
		}
		keys[k.id] = k
	}
	slices.SortStableFunc(rec.Keys, func(a, b ringKeyRecord) int { return a.Activates.Compare(b.Activates) })
	v, _, err := r.viewOf(rec, keys)
	return v, err
}

// sealerFor returns the sealer for a record's salt, deriving it once.
func (r *KeyRing) sealerFor(salt string) (*sealer, error) {
	r.sealMu.Lock()
	defer r.sealMu.Unlock()
	if r.sealer != nil && r.sealer.salt == salt {
		return r.sealer, nil
	}
	s, err := sealerFromSalt(r.secret, salt)
	if err != nil {
		return nil, err
	}
	r.sealer = s
	return s, nil
}
