package storetest_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
	"github.com/stateless-go/stateless/store/memory"
	"github.com/stateless-go/stateless/store/storetest"
)

// faults break a plain, otherwise correct store in one way each.
type faults struct {
	ignoreExpiry      bool // every record lives forever
	acceptStale       bool // Replace ignores the version (last write wins)
	missIsNil         bool // Get of a missing key returns a zero Record and nil
	counterVersions   bool // versions count 1, 2, 3... per key, restarting after Delete
	aliasValues       bool // keeps the caller's slice and hands out its own
	acceptBadTTL      bool // zero or negative ttl is taken as "no expiry"
	touchBumpsVersion bool // Touch changes the version
	ignoreClose       bool // works on after Close
	ignoreContext     bool // never looks at ctx
	createOverwrites  bool // Create replaces a live record
	truncateKeys      int  // keys are cut to this many bytes (0: not)
	wrapHugeTTL       bool // a ttl over 100 years overflows into the past
	tooLargeIsGeneric bool // an oversized value fails with a plain error
	limit             int  // value size limit (0: none)
	// conflictWhenBusy: Replace of a missing or expired key answers
	// ErrConflict while other calls are in flight, as a store whose
	// grouped (pipelined, batched) path judges differently from its lone
	// path would; a lone call answers ErrNotFound.
	conflictWhenBusy bool
}

// naive is a deliberately simple map store: correct unless a fault is set.
type naive struct {
	f      faults
	mu     sync.Mutex
	m      map[string]*rec
	closed bool

	inFlight atomic.Int64 // calls under way, counted before they take mu
}

type rec struct {
	value    []byte
	version  uint64
	deadline time.Time // zero: never
}

func newNaive(f faults) *naive { return &naive{f: f, m: map[string]*rec{}} }

func (n *naive) key(k string) string {
	if n.f.truncateKeys > 0 && len(k) > n.f.truncateKeys {
		return k[:n.f.truncateKeys]
	}
	return k
}

func (n *naive) enter(ctx context.Context, key string) error {
	if !n.f.ignoreContext {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if n.closed && !n.f.ignoreClose {
		return store.ErrClosed
	}
	return driver.CheckKey(key)
}

func (n *naive) deadline(ttl time.Duration) (time.Time, error) {
	if ttl <= 0 {
		if n.f.acceptBadTTL {
			return time.Time{}, nil
		}
		return time.Time{}, driver.CheckTTL(ttl)
	}
	if n.f.ignoreExpiry {
		return time.Time{}, nil
	}
	if ttl > 100*365*24*time.Hour {
		if n.f.wrapHugeTTL {
			return time.Unix(0, 0), nil
		}
		return time.Time{}, nil
	}
	return time.Now().Add(ttl), nil
}

func (n *naive) value(v []byte) ([]byte, error) {
	if n.f.limit > 0 && len(v) > n.f.limit {
		if n.f.tooLargeIsGeneric {
			return nil, errors.New("value rejected")
		}
		return nil, store.ErrTooLarge
	}
	if n.f.aliasValues {
		return v, nil
	}
	return slices.Clone(v), nil
}

func (n *naive) live(k string) *rec {
	r := n.m[k]
	if r == nil || (!r.deadline.IsZero() && !time.Now().Before(r.deadline)) {
		return nil
	}
	return r
}

func (n *naive) version(old uint64) uint64 {
	if n.f.counterVersions {
		return old + 1
	}
	return driver.NewVersion()
}

func (n *naive) Get(ctx context.Context, key string) (store.Record, error) {
	n.inFlight.Add(1)
	defer n.inFlight.Add(-1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.enter(ctx, key); err != nil {
		return store.Record{}, err
	}
	r := n.live(n.key(key))
	if r == nil {
		if n.f.missIsNil {
			return store.Record{}, nil
		}
		return store.Record{}, store.ErrNotFound
	}
	v := r.value
	if !n.f.aliasValues {
		v = slices.Clone(v)
	}
	return store.Record{Value: v, Version: r.version}, nil
}

func (n *naive) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	n.inFlight.Add(1)
	defer n.inFlight.Add(-1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.enter(ctx, key); err != nil {
		return 0, err
	}
	d, err := n.deadline(ttl)
	if err != nil {
		return 0, err
	}
	v, err := n.value(value)
	if err != nil {
		return 0, err
	}
	k := n.key(key)
	if n.live(k) != nil && !n.f.createOverwrites {
		return 0, store.ErrExists
	}
	r := &rec{value: v, version: n.version(0), deadline: d}
	n.m[k] = r
	return r.version, nil
}

func (n *naive) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	n.inFlight.Add(1)
	defer n.inFlight.Add(-1)
	if n.f.conflictWhenBusy {
		time.Sleep(time.Millisecond) // a round trip, during which calls pile up
	}
	busy := n.inFlight.Load() > 1
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.enter(ctx, key); err != nil {
		return 0, err
	}
	d, err := n.deadline(ttl)
	if err != nil {
		return 0, err
	}
	v, err := n.value(value)
	if err != nil {
		return 0, err
	}
	r := n.live(n.key(key))
	if r == nil {
		if n.f.conflictWhenBusy && busy {
			return 0, store.ErrConflict
		}
		return 0, store.ErrNotFound
	}
	if r.version != version && !n.f.acceptStale {
		return 0, store.ErrConflict
	}
	r.value, r.version, r.deadline = v, n.version(r.version), d
	return r.version, nil
}

func (n *naive) Touch(ctx context.Context, key string, ttl time.Duration) error {
	n.inFlight.Add(1)
	defer n.inFlight.Add(-1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.enter(ctx, key); err != nil {
		return err
	}
	d, err := n.deadline(ttl)
	if err != nil {
		return err
	}
	r := n.live(n.key(key))
	if r == nil {
		return store.ErrNotFound
	}
	r.deadline = d
	if n.f.touchBumpsVersion {
		r.version = n.version(r.version)
	}
	return nil
}

func (n *naive) Delete(ctx context.Context, key string) error {
	n.inFlight.Add(1)
	defer n.inFlight.Add(-1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.enter(ctx, key); err != nil {
		return err
	}
	delete(n.m, n.key(key))
	return nil
}

func (n *naive) Ping(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.f.ignoreContext {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if n.closed && !n.f.ignoreClose {
		return store.ErrClosed
	}
	return nil
}

func (n *naive) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	return nil
}

func naiveFactory(f faults) storetest.Factory {
	return func(context.Context) (store.Store, error) { return newNaive(f), nil }
}

// The suite passes a correct store: the plain one here, and the embedded
// default (whose own package runs it too).
func TestCorrectStoresPass(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]storetest.Factory{
		"naive":              naiveFactory(faults{}),
		"naive with a limit": naiveFactory(faults{limit: 1000}),
		"memory": func(context.Context) (store.Store, error) {
			return memory.New(nil), nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var opts *storetest.Options
			if name == "naive with a limit" {
				opts = &storetest.Options{MaxValueSize: 1000}
			}
			if err := storetest.Check(t.Context(), f, opts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The suite catches broken stores: each fault must fail the named checks.
func TestBrokenStoresAreCaught(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		f     faults
		opts  *storetest.Options
		wants []string
	}{
		{"ignores expiry", faults{ignoreExpiry: true}, nil,
			[]string{"Expiry/GetAfterExpiry", "Expiry/CreateOverExpired", "Expiry/TouchShortens", "Expiry/ReplaceShortens"}},
		{"compare-and-swap accepts a stale version", faults{acceptStale: true}, nil,
			[]string{"Replace/StaleVersion", "Replace/ZeroVersion", "Concurrency/CompareAndSwapCounter"}},
		{"maps a miss to a nil error", faults{missIsNil: true}, nil,
			[]string{"Get/Missing", "Delete/Existing", "Expiry/GetAfterExpiry"}},
		{"reuses versions after delete", faults{counterVersions: true}, nil,
			[]string{"Delete/RecreateGetsNewVersion"}},
		{"aliases value slices", faults{aliasValues: true}, nil,
			[]string{"Value/NotAliased"}},
		{"accepts a zero or negative ttl", faults{acceptBadTTL: true}, nil,
			[]string{"Expiry/InvalidTTL"}},
		{"Touch changes the version", faults{touchBumpsVersion: true}, nil,
			[]string{"Touch/KeepsValueAndVersion", "Expiry/TouchExtends"}},
		{"works after Close", faults{ignoreClose: true}, nil,
			[]string{"Close/UseAfterClose"}},
		{"ignores the context", faults{ignoreContext: true}, nil,
			[]string{"Context/Canceled", "Context/DeadlineExceeded"}},
		{"Create overwrites a live record", faults{createOverwrites: true}, nil,
			[]string{"Create/LiveKey", "Create/Concurrent"}},
		{"truncates long keys", faults{truncateKeys: 200}, nil,
			[]string{"Key/Lengths"}},
		{"huge ttl overflows", faults{wrapHugeTTL: true}, nil,
			[]string{"Expiry/HugeTTL"}},
		{"limit error is not ErrTooLarge", faults{limit: 1000, tooLargeIsGeneric: true}, &storetest.Options{MaxValueSize: 1000},
			[]string{"Value/Large"}},
		{"refuses a 1 MiB value without declaring a limit", faults{limit: 1000}, nil,
			[]string{"Value/Large"}},
		{"answers ErrConflict for a missing key only under concurrency", faults{conflictWhenBusy: true}, nil,
			[]string{"Concurrency/SameAnswersUnderLoad"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := storetest.Check(t.Context(), naiveFactory(c.f), c.opts)
			var serr *storetest.Error
			if !errors.As(err, &serr) {
				t.Fatalf("Check of a store that %s = %v, want a *storetest.Error", c.name, err)
			}
			for _, w := range c.wants {
				if !serr.Failed(w) {
					t.Errorf("a store that %s passed check %s; failures were:\n%v", c.name, w, err)
				}
			}
			t.Logf("caught by %d failure(s), e.g. %s: %s", len(serr.Failures), serr.Failures[0].Check, serr.Failures[0].Message)
		})
	}
}

// A store that panics fails the check, not the test binary.
func TestPanickingStoreIsReported(t *testing.T) {
	t.Parallel()
	err := storetest.Check(t.Context(), func(context.Context) (store.Store, error) {
		return panicky{newNaive(faults{})}, nil
	}, nil)
	var serr *storetest.Error
	if !errors.As(err, &serr) || !serr.Failed("Ping/Live") {
		t.Fatalf("Check of a store whose Ping panics = %v, want Ping/Live to fail", err)
	}
}

type panicky struct{ *naive }

func (panicky) Ping(context.Context) error { panic("boom") }

func TestNamesAreUniqueAndGrouped(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range storetest.Names() {
		if seen[n] {
			t.Errorf("check %s defined twice", n)
		}
		seen[n] = true
	}
	if len(seen) < 30 {
		t.Errorf("only %d checks", len(seen))
	}
}

// Run is what adapters call; it must work as subtests with t.Parallel.
func TestRunOnNaive(t *testing.T) {
	storetest.Run(t, naiveFactory(faults{}), &storetest.Options{TTLResolution: 0})
}

// capable is the naive store with the optional capabilities, broken by its
// own faults.
type capable struct {
	*naive
	cadIgnoresVersion bool // CompareAndDelete deletes whatever the version
	answersAreErrors  bool // Stats counts ErrNotFound and the like as errors
	cogOverwrites     bool // CreateOrGet writes over a live record

	count driver.Counters
}

func (c *capable) CompareAndDelete(ctx context.Context, key string, version uint64) error {
	err := c.cad(ctx, key, version)
	c.count.Count(driver.OpDelete, err)
	return err
}

func (c *capable) cad(ctx context.Context, key string, version uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter(ctx, key); err != nil {
		return err
	}
	r := c.live(key)
	switch {
	case r == nil:
		return store.ErrNotFound
	case r.version != version && !c.cadIgnoresVersion:
		return store.ErrConflict
	}
	delete(c.m, key)
	return nil
}

// CreateOrGet is Create, then Get when the key is taken (enough for the
// checks: nothing deletes between the two), or with cogOverwrites a Replace
// of whatever is there.
func (c *capable) CreateOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) (store.Record, bool, error) {
	v, err := c.Create(ctx, key, value, ttl)
	if !errors.Is(err, store.ErrExists) {
		return store.Record{Version: v}, err == nil, err
	}
	r, err := c.Get(ctx, key)
	if err == nil && c.cogOverwrites {
		v, err = c.Replace(ctx, key, value, ttl, r.Version)
		return store.Record{Version: v}, err == nil, err
	}
	return r, false, err
}

func (c *capable) Stats() store.Stats {
	var st store.Stats
	c.count.Fill(&st)
	return st
}

func (c *capable) Get(ctx context.Context, key string) (store.Record, error) {
	r, err := c.naive.Get(ctx, key)
	c.counted(driver.OpGet, err)
	return r, err
}

func (c *capable) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	v, err := c.naive.Create(ctx, key, value, ttl)
	c.counted(driver.OpCreate, err)
	return v, err
}

func (c *capable) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	v, err := c.naive.Replace(ctx, key, value, ttl, version)
	c.counted(driver.OpReplace, err)
	return v, err
}

func (c *capable) Touch(ctx context.Context, key string, ttl time.Duration) error {
	err := c.naive.Touch(ctx, key, ttl)
	c.counted(driver.OpTouch, err)
	return err
}

func (c *capable) Delete(ctx context.Context, key string) error {
	err := c.naive.Delete(ctx, key)
	c.counted(driver.OpDelete, err)
	return err
}

func (c *capable) counted(op driver.Op, err error) {
	if c.answersAreErrors && err != nil {
		err = errors.New("counted as a failure")
	}
	c.count.Count(op, err)
}

// The capability checks run on a store that offers them, pass a correct
// one and catch a broken one; a store without them is not held to them.
func TestCapabilityChecks(t *testing.T) {
	t.Parallel()
	factory := func(cadIgnoresVersion, answersAreErrors bool) storetest.Factory {
		return func(context.Context) (store.Store, error) {
			return &capable{naive: newNaive(faults{}), cadIgnoresVersion: cadIgnoresVersion, answersAreErrors: answersAreErrors}, nil
		}
	}
	if err := storetest.Check(t.Context(), factory(false, false), nil); err != nil {
		t.Fatalf("a correct store with the three capabilities: %v", err)
	}
	overwrites := func(context.Context) (store.Store, error) {
		return &capable{naive: newNaive(faults{}), cogOverwrites: true}, nil
	}
	for _, c := range []struct {
		name string
		f    storetest.Factory
		want string
	}{
		{"CompareAndDelete ignores the version", factory(true, false), "CompareAndDelete/StaleVersion"},
		{"Stats counts answers as errors", factory(false, true), "Stats/CountsCalls"},
		{"CreateOrGet writes over a live record", overwrites, "CreateOrGet/GetsTheLiveRecord"},
	} {
		err := storetest.Check(t.Context(), c.f, nil)
		var serr *storetest.Error
		if !errors.As(err, &serr) || !serr.Failed(c.want) {
			t.Errorf("a store whose %s: Check = %v, want %s to fail", c.name, err, c.want)
		}
	}
	// The naive store has neither capability: nothing of them is run.
	if err := storetest.Check(t.Context(), naiveFactory(faults{}), nil); err != nil {
		t.Errorf("a store without capabilities was held to them: %v", err)
	}
}
