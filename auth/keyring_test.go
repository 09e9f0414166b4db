package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

// countingStore counts calls and can fail them or hold Gets at a barrier.
type countingStore struct {
	store.Store
	gets, creates, replaces atomic.Int64
	fail                    atomic.Bool
	// The first holdN Gets wait until all of them have arrived.
	holdN   int64
	arrived atomic.Int64
	gate    chan struct{}
}

var errDown = errors.New("store unreachable")

func (s *countingStore) Get(ctx context.Context, key string) (store.Record, error) {
	s.gets.Add(1)
	if s.holdN > 0 {
		switch n := s.arrived.Add(1); {
		case n == s.holdN:
			close(s.gate)
		case n < s.holdN:
			<-s.gate
		}
	}
	if s.fail.Load() {
		return store.Record{}, errDown
	}
	return s.Store.Get(ctx, key)
}

func (s *countingStore) Create(ctx context.Context, key string, v []byte, ttl time.Duration) (uint64, error) {
	if s.fail.Load() {
		return 0, errDown
	}
	ver, err := s.Store.Create(ctx, key, v, ttl)
	if err == nil {
		s.creates.Add(1)
	}
	return ver, err
}

func (s *countingStore) Replace(ctx context.Context, key string, v []byte, ttl time.Duration, ver uint64) (uint64, error) {
	if s.fail.Load() {
		return 0, errDown
	}
	nv, err := s.Store.Replace(ctx, key, v, ttl, ver)
	if err == nil {
		s.replaces.Add(1)
	}
	return nv, err
}

func ringRecordOf(t *testing.T, st store.Store) *ringRecord {
	t.Helper()
	rec, err := st.Get(context.Background(), DefaultKeyRingKey)
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeRecord(rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKeyRingSecret(t *testing.T) {
	st := memory.New(nil)
	ctx := context.Background()
	if _, err := NewKeyRing(ctx, st, &KeyRingOptions{Secret: []byte("short")}); err == nil || !strings.Contains(err.Error(), "32") {
		t.Errorf("a 5-byte secret: err = %v, want one naming the 32-byte minimum", err)
	} else {
		assertNoLeak(t, err, "short")
	}
	if _, err := NewKeyRing(ctx, st, nil); err == nil {
		t.Error("no options (no secret) accepted")
	}

	clock := newFakeClock()
	ring := mustRing(t, st, ringOpts(clock))
	wrong := ringOpts(clock)
	wrong.Secret = []byte("another secret that is long enough, 32+ bytes")
	_, err := NewKeyRing(ctx, st, wrong)
	if !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("wrong secret: err = %v, want ErrWrongSecret", err)
	}
	assertNoLeak(t, err, string(wrong.Secret), string(testSecret), "another secret")

	// The instance with the wrong secret wrote nothing: the ring is intact.
	again := mustRing(t, st, ringOpts(clock))
	if a, b := ring.Keys()[0].ID, again.Keys()[0].ID; a != b {
		t.Errorf("ring changed after a wrong-secret instance: %s then %s", a, b)
	}
}

// TestKeyRingRecordEncrypted: the record holds no private key in the clear,
// and flipping a byte of a sealed key is detected.
func TestKeyRingRecordEncrypted(t *testing.T) {
	st := memory.New(nil)
	ring := mustRing(t, st, ringOpts(newFakeClock()))
	k, _ := ring.SigningKey(context.Background())
	seed := k.private.(ed25519.PrivateKey).Seed()
	rec, _ := st.Get(context.Background(), DefaultKeyRingKey)
	for _, enc := range []string{b64(seed), string(seed), b64(k.private.(ed25519.PrivateKey))} {
		if strings.Contains(string(rec.Value), enc) {
			t.Fatal("the record holds the private key in the clear")
		}
	}
	if strings.Contains(string(rec.Value), `"d"`) || strings.Contains(string(rec.Value), string(testSecret)) {
		t.Fatal("the record holds a JWK private member or the secret")
	}

	r := ringRecordOf(t, st)
	if r.Keys[0].Kid != k.ID() {
		t.Errorf("record kid %s, key %s", r.Keys[0].Kid, k.ID())
	}
	sealed := []byte(r.Keys[0].Sealed)
	sealed[20] ^= 'A' ^ 'B'
	if sealed[20] == r.Keys[0].Sealed[20] {
		sealed[20] = 'C'
	}
	r.Keys[0].Sealed = string(sealed)
	// Moving a sealed key under another kid is detected too.
	r2 := ringRecordOf(t, st)
	r2.Keys[0].Kid = strings.Repeat("A", 43)
	for _, bad := range []*ringRecord{r, r2} {
		value, _ := bad.encode()
		st2 := memory.New(nil)
		st2.Create(context.Background(), DefaultKeyRingKey, value, time.Hour)
		if _, err := NewKeyRing(context.Background(), st2, ringOpts(newFakeClock())); err == nil {
			t.Error("a tampered record was accepted")
		}
	}
}

// TestKeyRingStartRace: instances starting at once (all reading "no ring"
// before any writes) end with one ring.
func TestKeyRingStartRace(t *testing.T) {
	const n = 8
	mem := memory.New(nil)
	st := &countingStore{Store: mem, holdN: n, gate: make(chan struct{})}
	clock := newFakeClock()
	rings := make([]*KeyRing, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rings[i], errs[i] = NewKeyRing(context.Background(), st, ringOpts(clock))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		defer rings[i].Close()
	}
	if c := st.creates.Load(); c != 1 {
		t.Errorf("%d Creates succeeded, want 1", c)
	}
	want, _ := rings[0].SigningKey(context.Background())
	for i, r := range rings {
		k, _ := r.SigningKey(context.Background())
		if k.ID() != want.ID() || len(r.Keys()) != 1 {
			t.Errorf("instance %d signs with %s (%d keys), instance 0 with %s", i, k.ID(), len(r.Keys()), want.ID())
		}
	}
	if r := ringRecordOf(t, mem); len(r.Keys) != 1 {
		t.Errorf("the record holds %d keys, want 1", len(r.Keys))
	}
}

// TestKeyRingLifecycle walks one key through next → active → retired →
// dropped, checking the time bounds of the package doc.
func TestKeyRingLifecycle(t *testing.T) {
	clock := newFakeClock()
	st := &countingStore{Store: memory.New(nil)}
	opts := ringOpts(clock) // R 1h, L 10m, M 5m, F 30s
	ring, err := NewKeyRing(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	ctx := context.Background()
	P := ring.PublishAhead()
	if P != 6*time.Minute {
		t.Fatalf("PublishAhead = %v, want M + 2F = 6m", P)
	}
	start := clock.Now()
	k1, _ := ring.SigningKey(ctx)
	states := func() string {
		var s []string
		for _, k := range ring.Keys() {
			s = append(s, string(k.State))
		}
		return strings.Join(s, ",")
	}
	jwks := func() int { keys, _ := ring.PublicKeys(ctx); return len(keys) }

	// Until R - P nothing changes.
	for clock.Now().Before(start.Add(time.Hour - P - opts.RefreshEvery)) {
		clock.Advance(opts.RefreshEvery)
		if err := ring.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if states() != "active" || st.replaces.Load() != 0 {
		t.Fatalf("before R-P: states %s, %d writes", states(), st.replaces.Load())
	}
	// At R - P the next key is published, to activate at R.
	clock.Advance(opts.RefreshEvery)
	ring.Refresh(ctx)
	if states() != "active,next" || jwks() != 2 {
		t.Fatalf("at R-P: states %s, %d keys in the JWKS", states(), jwks())
	}
	next := ring.Keys()[1]
	if !next.Activates.Equal(start.Add(time.Hour)) {
		t.Errorf("next key activates at +%v, want +1h", next.Activates.Sub(start))
	}
	if next.Activates.Sub(clock.Now()) < P {
		t.Errorf("next key published only %v before it signs, want ≥ %v", next.Activates.Sub(clock.Now()), P)
	}
	if k, _ := ring.SigningKey(ctx); k.ID() != k1.ID() {
		t.Error("the next key signs before its time")
	}
	// At R it signs and the first key is retired, kept L + MaxLeeway.
	clock.Advance(next.Activates.Sub(clock.Now()))
	if k, _ := ring.SigningKey(ctx); k.ID() != next.ID {
		t.Errorf("at R the signing key is %s, want the next one %s", k.ID(), next.ID)
	}
	if states() != "retired,active" || jwks() != 2 {
		t.Fatalf("at R: states %s, %d keys in the JWKS", states(), jwks())
	}
	drops := ring.Keys()[0].Drops
	if want := next.Activates.Add(opts.TokenLifetime + MaxLeeway); !drops.Equal(want) {
		t.Errorf("retired key drops at %v, want retirement + L + MaxLeeway = %v", drops, want)
	}
	clock.Advance(drops.Sub(clock.Now()) - time.Second)
	if _, err := ring.VerificationKey(ctx, k1.ID()); err != nil {
		t.Errorf("retired key 1 s before its drop: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := ring.VerificationKey(ctx, k1.ID()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("retired key at its drop time: err = %v, want ErrUnknownKey", err)
	}
	if states() != "active" || jwks() != 1 {
		t.Errorf("after the drop: states %s, %d keys in the JWKS", states(), jwks())
	}
	ring.Refresh(ctx)
	if r := ringRecordOf(t, st); len(r.Keys) != 1 || r.Keys[0].Kid != next.ID {
		t.Errorf("the record still holds %d keys after the drop", len(r.Keys))
	}
}

// TestRetiredKeyVerifiesUntilLastTokenExpires: the last token the retired
// key signed verifies until it expires; past the key's drop time even a
// token the key would sign now is refused.
func TestRetiredKeyVerifiesUntilLastTokenExpires(t *testing.T) {
	clock := newFakeClock()
	st := memory.New(nil)
	opts := ringOpts(clock)
	ring := mustRing(t, st, opts)
	signer := mustSigner(t, ring, clock)
	signer.lifetime = opts.TokenLifetime
	v := mustVerifier(t, ring, clock, &VerifierOptions{Leeway: MaxLeeway, CacheSize: -1})
	ctx := context.Background()
	k1, _ := ring.SigningKey(ctx)

	// Walk to one second before the next key activates, refreshing as the
	// ticker would.
	for {
		clock.Advance(opts.RefreshEvery)
		ring.Refresh(ctx)
		if ks := ring.Keys(); len(ks) == 2 && ks[1].Activates.Sub(clock.Now()) <= opts.RefreshEvery {
			clock.Advance(ks[1].Activates.Sub(clock.Now()) - time.Second)
			break
		}
	}
	last := mustSign(t, signer, Claims{Subject: "alice"})
	if c, _ := v.Verify(ctx, last); c == nil {
		t.Fatal("the last token of key 1 does not verify when signed")
	}
	clock.Advance(time.Second)
	if k, _ := ring.SigningKey(ctx); k.ID() == k1.ID() {
		t.Fatal("key 1 still signs after the next key's activation")
	}
	// Retired, its last token still verifies up to exp + leeway…
	clock.Advance(opts.TokenLifetime - time.Second + MaxLeeway - time.Second)
	ring.Refresh(ctx)
	if _, err := v.Verify(ctx, last); err != nil {
		t.Fatalf("key 1's last token 1 s before exp + leeway: %v", err)
	}
	// …and not after.
	clock.Advance(2 * time.Second)
	ring.Refresh(ctx)
	if _, err := v.Verify(ctx, last); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("key 1's last token after its expiry: err = %v", err)
	}
	// Key 1 is gone: a fresh token it signs (stolen key, say) is refused.
	stolen := mustSigner(t, mustKeySet(t, k1), clock)
	if _, err := v.Verify(ctx, mustSign(t, stolen, Claims{Subject: "alice"})); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a fresh token of the dropped key: err = %v, want ErrUnknownKey", err)
	}
}

// TestRotationUnderLoad: two instances sign and verify each other's tokens
// from many goroutines while the clock runs through two rotations (next →
// active → retired → dropped, twice), each instance refreshing on its own
// schedule (one of them often late, so it meets kids it does not know yet).
// The clock moves while workers are in the middle of signing and
// verifying. No verification may fail.
func TestRotationUnderLoad(t *testing.T) {
	clock := newFakeClock()
	st := memory.New(nil)
	opts := ringOpts(clock)
	a := mustRing(t, st, opts)
	b := mustRing(t, st, opts)
	ctx := context.Background()
	signA, signB := mustSigner(t, a, clock), mustSigner(t, b, clock)
	verA := mustVerifier(t, a, clock, &VerifierOptions{CacheSize: 64})
	verB := mustVerifier(t, b, clock, &VerifierOptions{CacheSize: 64})

	const (
		workers = 8
		perStep = 2 // iterations each worker makes at one clock reading, at least
	)
	var (
		failures, verified atomic.Int64
		firstErr           atomic.Pointer[error]
		step               atomic.Pointer[chan struct{}] // closed when the clock moves on
		stopped            atomic.Bool
		done               sync.WaitGroup // a worker's perStep iterations in this step
	)
	first := make(chan struct{})
	step.Store(&first)
	var wg sync.WaitGroup
	done.Add(workers)
	for w := range workers {
		wg.Go(func() {
			s, v := signA, verB
			if w%2 == 1 {
				s, v = signB, verA
			}
			type signed struct {
				tok string
				at  time.Time
			}
			var old []signed // tokens verified again a few steps later (cache hits)
			for !stopped.Load() {
				moved := *step.Load()
				for range perStep {
					tok, err := s.Sign(ctx, Claims{Subject: "alice", SessionID: "s"})
					if err == nil {
						_, err = v.Verify(ctx, tok)
						verified.Add(1)
					}
					if err == nil && len(old) > 3 {
						if clock.Now().Sub(old[0].at) < 5*time.Minute {
							_, err = v.Verify(ctx, old[0].tok)
							verified.Add(1)
						}
						old = old[1:]
					}
					if err != nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, &err)
					} else {
						old = append(old, signed{tok, clock.Now()})
					}
				}
				done.Done()
				<-moved
			}
		})
	}
	seen := map[string]bool{}
	span := 2*time.Hour + opts.TokenLifetime + 5*time.Minute // two rotations and the second drop
	for i := range int(span / opts.RefreshEvery) {
		done.Wait() // every worker made perStep iterations in the last step…
		done.Add(workers)
		next := make(chan struct{})
		close(*step.Swap(&next))
		// …and they go on while the clock moves and the rings rotate.
		clock.Advance(opts.RefreshEvery)
		var rw sync.WaitGroup
		rw.Go(func() { a.Refresh(ctx) })
		if i%7 != 0 { // b misses some refreshes
			rw.Go(func() { b.Refresh(ctx) })
		}
		rw.Wait()
		for _, k := range a.Keys() {
			seen[k.ID] = true
		}
	}
	done.Wait()
	stopped.Store(true)
	close(*step.Load())
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d verifications failed across rotations; first: %v", n, verified.Load(), *firstErr.Load())
	}
	if len(seen) < 3 {
		t.Fatalf("only %d keys over two rotations", len(seen))
	}
	if r := ringRecordOf(t, st); len(r.Keys) > 2 {
		t.Errorf("the ring holds %d keys after two rotations: retired keys are not dropped", len(r.Keys))
	}
	t.Logf("%d verifications, %d keys", verified.Load(), len(seen))
}

// TestKeyRingUnknownKidRefresh: an instance that has not read the ring
// since another rotated learns the new key from the token's kid, with one
// store read shared by concurrent callers and at most one per second.
func TestKeyRingUnknownKidRefresh(t *testing.T) {
	clock := newFakeClock()
	mem := memory.New(nil)
	opts := ringOpts(clock)
	a := mustRing(t, mem, opts)
	st := &countingStore{Store: mem}
	b := mustRing(t, st, opts)
	ctx := context.Background()

	// a rotates; b does not refresh.
	clock.Advance(time.Hour)
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(a.PublishAhead())
	k2, _ := a.SigningKey(ctx)
	if len(b.Keys()) != 1 {
		t.Fatal("b learned the new key without a read")
	}
	before := st.gets.Load()
	var wg sync.WaitGroup
	var errs atomic.Int64
	for range 50 {
		wg.Go(func() {
			if _, err := b.VerificationKey(ctx, k2.ID()); err != nil {
				errs.Add(1)
			}
		})
	}
	wg.Wait()
	if errs.Load() > 0 {
		t.Errorf("%d lookups of the new kid failed", errs.Load())
	}
	if n := st.gets.Load() - before; n != 1 {
		t.Errorf("%d store reads for 50 concurrent lookups, want 1", n)
	}
	// Bogus kids: at most one read per UnknownKeyRefreshInterval.
	before = st.gets.Load()
	for range 100 {
		if _, err := b.VerificationKey(ctx, "bogus"); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("bogus kid: %v", err)
		}
	}
	if n := st.gets.Load() - before; n > 1 {
		t.Errorf("%d store reads for 100 bogus kids within a second", n)
	}
	before = st.gets.Load()
	clock.Advance(UnknownKeyRefreshInterval)
	for range 100 {
		b.VerificationKey(ctx, "bogus")
	}
	if n := st.gets.Load() - before; n != 1 {
		t.Errorf("%d store reads for 100 bogus kids after the interval, want 1", n)
	}
}

// TestKeyRingStoreDown: a ring whose store stops answering keeps verifying
// and signing from its view while that is younger than PublishAhead, then
// refuses to sign (ErrKeysUnavailable).
func TestKeyRingStoreDown(t *testing.T) {
	clock := newFakeClock()
	st := &countingStore{Store: memory.New(nil)}
	ring, err := NewKeyRing(context.Background(), st, ringOpts(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	ctx := context.Background()
	k, _ := ring.SigningKey(ctx)
	st.fail.Store(true)
	clock.Advance(ring.PublishAhead() - time.Second)
	if got, err := ring.SigningKey(ctx); err != nil || got != k {
		t.Errorf("signing with a recent view: %v", err)
	}
	if _, err := ring.VerificationKey(ctx, k.ID()); err != nil {
		t.Errorf("verifying with the store down: %v", err)
	}
	clock.Advance(2 * time.Second)
	_, err = ring.SigningKey(ctx)
	if !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("signing with a view older than PublishAhead: err = %v, want ErrKeysUnavailable", err)
	}
	clock.Advance(UnknownKeyRefreshInterval)
	if _, err := ring.VerificationKey(ctx, "unknown"); !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("unknown kid with the store down: err = %v, want ErrKeysUnavailable", err)
	}
	st.fail.Store(false)
	clock.Advance(UnknownKeyRefreshInterval)
	if _, err := ring.SigningKey(ctx); err != nil {
		t.Errorf("signing after the store is back: %v", err)
	}
}

func TestKeyRingOptions(t *testing.T) {
	st := memory.New(nil)
	for name, mod := range map[string]func(*KeyRingOptions){
		"rotate shorter than publish-ahead": func(o *KeyRingOptions) { o.RotateEvery = 6 * time.Minute },
		"lifetime over 8 rotations":         func(o *KeyRingOptions) { o.TokenLifetime = 9 * time.Hour },
		"refresh too often":                 func(o *KeyRingOptions) { o.RefreshEvery = time.Millisecond },
		"refresh too rare":                  func(o *KeyRingOptions) { o.RefreshEvery = time.Hour },
		"unknown algorithm":                 func(o *KeyRingOptions) { o.Algorithm = "RS256" },
		"none":                              func(o *KeyRingOptions) { o.Algorithm = "none" },
		"store key too long":                func(o *KeyRingOptions) { o.StoreKey = strings.Repeat("k", 300) },
	} {
		o := ringOpts(newFakeClock())
		mod(o)
		if r, err := NewKeyRing(context.Background(), st, o); err == nil {
			r.Close()
			t.Errorf("%s: accepted", name)
		}
	}
	// A signer may not outlive the ring's plan.
	ring := mustRing(t, st, ringOpts(newFakeClock()))
	if _, err := NewSigner(ring, &SignerOptions{Issuer: "i", Lifetime: time.Hour}); err == nil {
		t.Error("a Signer with a lifetime over the ring's TokenLifetime was accepted")
	}
}

// TestKeyRingAlgorithms: ES256 and HS256 rings sign and verify; HS256 keys
// stay out of the JWKS.
func TestKeyRingAlgorithms(t *testing.T) {
	for _, alg := range []Algorithm{ES256, HS256} {
		t.Run(string(alg), func(t *testing.T) {
			clock := newFakeClock()
			st := memory.New(nil)
			o := ringOpts(clock)
			o.Algorithm = alg
			a := mustRing(t, st, o)
			b := mustRing(t, st, o) // reads and decrypts a's key
			tok := mustSign(t, mustSigner(t, a, clock), Claims{Subject: "alice"})
			if _, err := mustVerifier(t, b, clock, nil).Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
			keys, _ := b.PublicKeys(context.Background())
			if want := map[Algorithm]int{ES256: 1, HS256: 0}[alg]; len(keys) != want {
				t.Errorf("%d keys published, want %d", len(keys), want)
			}
		})
	}
}

// TestKeyRingBackgroundRefresh: with the real ticker (in a synctest bubble)
// an instance learns another's rotation within RefreshEvery, with no call.
func TestKeyRingBackgroundRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memory.New(nil)
		opts := &KeyRingOptions{Secret: testSecret, RotateEvery: time.Hour, RefreshEvery: 30 * time.Second}
		a, err := NewKeyRing(context.Background(), st, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		time.Sleep(10 * time.Second)
		b, err := NewKeyRing(context.Background(), st, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		// Sleep to just past R - P: one of them publishes the next key, the
		// other reads it within RefreshEvery.
		time.Sleep(time.Hour - a.PublishAhead() + 2*opts.RefreshEvery)
		synctest.Wait()
		if len(a.Keys()) != 2 || len(b.Keys()) != 2 || a.Keys()[1].ID != b.Keys()[1].ID {
			t.Fatalf("after R-P+2F: a has %d keys, b has %d", len(a.Keys()), len(b.Keys()))
		}
	})
}
