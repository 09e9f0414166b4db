// Package storetest is the conformance suite for store.Store. Every
// adapter of this module runs it against a real backend, and an adapter
// written elsewhere proves itself with the same one call:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(ctx context.Context) (store.Store, error) {
//			return mystore.New(client, &mystore.Options{KeyPrefix: storetest.RandomPrefix()})
//		}, nil)
//	}
//
// Each check is a named subtest ("Replace/StaleVersion", "Expiry/TouchExtends",
// ...) on a fresh store from the factory, so a failure says what broke. The
// checks run in parallel; those about expiry sleep in real time, for a few
// hundred milliseconds plus twice Options.TTLResolution.
//
// Check runs the same checks and returns an error instead of failing a test,
// the way testing/fstest.TestFS does; that is how this package's own tests
// show the suite catches broken stores.
//
// # Writing your own adapter
//
// An adapter is a type that implements store.Store over a client
// library; the four in this module (store/memory, store/redis,
// store/memcache, store/postgres) are worked examples. What the suite holds
// it to, beyond each method's documentation in package store:
//
//   - Map the client's "miss" to store.ErrNotFound, and every other outcome
//     the contract names to its sentinel (ErrExists, ErrConflict,
//     ErrTooLarge, ErrClosed, ErrInvalid), wrapped with %w if you add words.
//   - Create is atomic (SET NX, add, INSERT … ON CONFLICT DO NOTHING) and
//     Replace is a compare-and-swap on the version; take versions from
//     driver.NewVersion, so that none is reused. Concurrent calls must each
//     get the answer a lone call would (Concurrency/SameAnswersUnderLoad),
//     however the adapter groups them.
//   - A ttl must be positive; every write sets the remaining life to it; a
//     huge ttl is capped at what the backend can express. Declare a coarse
//     clock in Options.TTLResolution, and a value limit below 1 MiB in
//     Options.MaxValueSize.
//   - Honour the context: return its error when it has ended before the
//     call, and return promptly when it ends during one
//     (session.Options.StoreTimeout relies on it).
//   - Never put a key, a value or a password in an error string.
//   - Build it with store/driver: its Begin checks (one order for every
//     adapter), NewVersion, Counters for Stats, and Scrub for errors that
//     could quote a URL's password; its package doc gives the shape
//     (Options, New, ParseURL, Open, a scheme registered with
//     store.Register).
//   - Offer the optional capabilities your backend can keep
//     (store.CompareAndDeleter, store.CreateOrGetter, store.StatsReporter,
//     store.NonBlocking): the suite finds them by type assertion and
//     checks each one offered (CompareAndDelete/..., CreateOrGet/...,
//     Stats/...).
//
// Then one test, as above, and the suite is yours: run it against a real
// server, as this module's adapters do through testcontainers-go.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store"
)

// Factory returns a fresh store for one check. The stores it returns must
// not see each other's records (over a shared server, give each a fresh key
// prefix, table or database); the suite closes every store it gets.
type Factory func(ctx context.Context) (store.Store, error)

// Options describe what an adapter declares about itself. Nil means the
// defaults: exact expiry and no value limit below 1 MiB.
type Options struct {
	// TTLResolution is how far from its time a record may expire, either
	// way: time.Second for memcached, whose clock counts whole seconds.
	// Expiry checks wait that much longer and keep that far from the edge.
	TTLResolution time.Duration
	// MaxValueSize is the adapter's documented value limit in bytes, if it
	// is below 1 MiB: a value of exactly that size must round-trip and one
	// byte more must fail with store.ErrTooLarge. 0 means a 1 MiB value must
	// round-trip.
	MaxValueSize int
}

// Failure is one failed check.
type Failure struct {
	Check   string // the check's name, as in "Replace/StaleVersion"
	Message string
}

// Error is what Check returns when checks fail.
type Error struct {
	Failures []Failure
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "storetest: %d check(s) failed:", len(e.Failures))
	for _, f := range e.Failures {
		fmt.Fprintf(&b, "\n  %s: %s", f.Check, f.Message)
	}
	return b.String()
}

// Failed reports whether the named check is among the failures.
func (e *Error) Failed(check string) bool {
	return slices.ContainsFunc(e.Failures, func(f Failure) bool { return f.Check == check })
}

// Names returns the names of every check, in the order they are defined,
// those of optional capabilities included.
func Names() []string {
	var names []string
	for _, c := range all() {
		names = append(names, c.name)
	}
	return names
}

func all() []check { return slices.Concat(checks, capabilityChecks) }

// applicable returns the checks for a store like the one newStore makes:
// every check of the contract, and those of each optional capability
// (store.CompareAndDeleter, store.CreateOrGetter, store.StatsReporter) the store offers, found by
// a type assertion on one store it makes for the purpose. It also returns
// the names of the capabilities offered.
func applicable(ctx context.Context, newStore Factory) ([]check, []string, error) {
	probe, err := newStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer probe.Close()
	var (
		out     []check
		offered []string
	)
	for _, c := range all() {
		if c.needs.offeredBy(probe) {
			out = append(out, c)
		}
	}
	for _, c := range []capability{capCompareAndDelete, capStats, capCreateOrGet} {
		if c.offeredBy(probe) {
			offered = append(offered, c.name())
		}
	}
	if _, ok := probe.(store.NonBlocking); ok {
		offered = append(offered, "store.NonBlocking")
	}
	return out, offered, nil
}

// Run runs every check as a parallel subtest of t: those of the contract,
// and those of each optional capability the store offers (it logs which).
func Run(t *testing.T, newStore Factory, opts *Options) {
	t.Helper()
	o := withDefaults(opts)
	cs, offered, err := applicable(t.Context(), newStore)
	if err != nil {
		t.Fatalf("factory: %v", err)
	}
	t.Logf("capabilities offered: %v", offered)
	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := newStore(t.Context())
			if err != nil {
				t.Fatalf("factory: %v", err)
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			c.fn(&env{tb: t, ctx: t.Context(), s: s, o: o})
		})
	}
}

// Check runs every check, concurrently, and returns nil if all pass or an
// *Error listing each failure. A store that panics fails the check that made
// it panic.
func Check(ctx context.Context, newStore Factory, opts *Options) error {
	o := withDefaults(opts)
	cs, _, err := applicable(ctx, newStore)
	if err != nil {
		return &Error{Failures: []Failure{{Check: "factory", Message: err.Error()}}}
	}
	var (
		mu       sync.Mutex
		failures []Failure
		wg       sync.WaitGroup
	)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &recorder{}
			done := make(chan struct{})
			// A goroutine of its own, so Fatalf can end it with Goexit the
			// way testing does.
			go func() {
				defer close(done)
				defer func() {
					if p := recover(); p != nil {
						r.Errorf("panic: %v", p)
					}
				}()
				s, err := newStore(ctx)
				if err != nil {
					r.Fatalf("factory: %v", err)
				}
				defer s.Close()
				c.fn(&env{tb: r, ctx: ctx, s: s, o: o})
			}()
			<-done
			mu.Lock()
			for _, m := range r.msgs {
				failures = append(failures, Failure{Check: c.name, Message: m})
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(failures) == 0 {
		return nil
	}
	// Definition order, so the report reads like the suite.
	order := map[string]int{}
	for i, c := range all() {
		order[c.name] = i
	}
	slices.SortStableFunc(failures, func(a, b Failure) int { return order[a.Check] - order[b.Check] })
	return &Error{Failures: failures}
}

// RandomPrefix returns a short random string, for adapters that isolate the
// stores they give the suite by key prefix or table name. It is lower-case
// hex with a letter first, so it is a valid identifier nearly everywhere.
func RandomPrefix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// tb is the part of testing.T a check uses; *testing.T and Check's recorder
// implement it.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

type resolvedOptions struct {
	res      time.Duration // TTLResolution
	maxValue int           // 0: 1 MiB must round-trip
}

func withDefaults(o *Options) resolvedOptions {
	if o == nil {
		return resolvedOptions{}
	}
	return resolvedOptions{res: max(o.TTLResolution, 0), maxValue: max(o.MaxValueSize, 0)}
}

// env is what a check works with: its store, context and helpers.
type env struct {
	tb
	ctx context.Context
	s   store.Store
	o   resolvedOptions
}

// key returns a key unique to this check run, so that checks never collide
// even on a factory that isolates poorly.
func (e *env) key(name string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b) + "/" + name
}

// Durations the expiry checks use. short: a record meant only to expire.
// brief: a record that must stay alive for a moment (long enough for the
// next call even on a loaded machine) and then expire. long: outlives any
// check.
func (e *env) short() time.Duration { return max(e.o.res, 50*time.Millisecond) }
func (e *env) brief() time.Duration { return max(2*e.o.res, time.Second) }

const long = time.Hour

// waitPast sleeps until a record written with ttl has surely expired,
// resolution and scheduling slack included.
func (e *env) waitPast(ttl time.Duration) {
	time.Sleep(ttl + 2*e.o.res + 300*time.Millisecond)
}

func (e *env) mustCreate(key string, value []byte, ttl time.Duration) uint64 {
	e.Helper()
	v, err := e.s.Create(e.ctx, key, value, ttl)
	if err != nil {
		e.Fatalf("Create(ttl %v): unexpected error: %v", ttl, err)
	}
	if v == 0 {
		e.Fatalf("Create returned version 0, which never names a live record")
	}
	return v
}

func (e *env) mustReplace(key string, value []byte, ttl time.Duration, version uint64) uint64 {
	e.Helper()
	v, err := e.s.Replace(e.ctx, key, value, ttl, version)
	if err != nil {
		e.Fatalf("Replace(ttl %v) with the current version: unexpected error: %v", ttl, err)
	}
	if v == 0 {
		e.Fatalf("Replace returned version 0, which never names a live record")
	}
	if v == version {
		e.Fatalf("Replace returned the old version %d; every write must change it", v)
	}
	return v
}

// expect checks that Get finds exactly value at version (version 0: any
// version).
func (e *env) expect(what, key string, value []byte, version uint64) {
	e.Helper()
	rec, err := e.s.Get(e.ctx, key)
	if err != nil {
		e.Fatalf("%s: Get: unexpected error: %v", what, err)
	}
	if !bytesEqual(rec.Value, value) {
		e.Fatalf("%s: Get returned value %s, want %s", what, show(rec.Value), show(value))
	}
	if version != 0 && rec.Version != version {
		e.Fatalf("%s: Get returned version %d, want %d", what, rec.Version, version)
	}
}

func (e *env) expectGone(what, key string) {
	e.Helper()
	rec, err := e.s.Get(e.ctx, key)
	if !isErr(err, store.ErrNotFound) {
		e.Fatalf("%s: Get = (value %s, version %d, err %v), want store.ErrNotFound", what, show(rec.Value), rec.Version, err)
	}
}

// show prints a value briefly: long values by length and head.
func show(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%d bytes %q…", len(b), b[:32])
	}
	return fmt.Sprintf("%q", b)
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func isErr(err, target error) bool { return errors.Is(err, target) }
