package auth

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stateless-go/stateless/store"
)

// Defaults of RevocationOptions.
const (
	// DefaultRevocationKey names the records of the revocation list: the
	// shards are DefaultRevocationKey+":0" … ":f" and the generation record
	// DefaultRevocationKey+":gen".
	DefaultRevocationKey = "auth:revocations"

	// DefaultRevocationPollInterval is how often an instance reads the
	// shared generation record. With DefaultRevocationMaxStaleness it keeps
	// the promise that a revocation made anywhere is refused everywhere
	// within a second: a poll normally lands within 250 ms of the
	// revocation, and two polls in a row may be slow or fail before a
	// request has to wait for a read of its own.
	DefaultRevocationPollInterval = 250 * time.Millisecond

	// DefaultRevocationMaxStaleness is how old the local view may be (the
	// time since the last successful poll began) before Revoked reads the
	// store itself: three poll intervals, 750 ms. It is the propagation
	// bound: a revocation is refused by every instance for every request
	// that arrives MaxStaleness or more after the revocation's Revoke call
	// returned, which leaves 250 ms of the one-second promise for that
	// call's own write and for clocks.
	DefaultRevocationMaxStaleness = 3 * DefaultRevocationPollInterval

	// DefaultRevocationStoreTimeout bounds a poll (all its reads) and each
	// phase of a Revoke call (the shard's compare-and-swap loop, then the
	// generation record's).
	DefaultRevocationStoreTimeout = time.Second

	// DefaultRevocationMaxTokenLifetime is the longest life of a token the
	// Verifier accepts (exp - iat): how long a session or subject
	// revocation must be remembered.
	DefaultRevocationMaxTokenLifetime = 10 * time.Minute

	// DefaultRevocationLeeway is added to every entry's life to cover the
	// clock skew the Verifier tolerates on exp and the skew between
	// instances' clocks.
	DefaultRevocationLeeway = time.Minute

	// DefaultMaxRevocations is the most live entries the list holds.
	DefaultMaxRevocations = 100_000

	// RevocationShards is the number of shard records. It is part of the
	// stored layout, so it is a constant: every instance must agree on it.
	RevocationShards = 16
)

// The errors of Revocations; check them with errors.Is.
var (
	// ErrTooManyRevocations: the revocation would take the list over
	// RevocationOptions.MaxEntries. Nothing was dropped to make room; the
	// revocation holds on the instance that made it at most, and the
	// caller should treat it as failed (see Revocations).
	ErrTooManyRevocations = errors.New("auth: too many revocations")

	// ErrRevocationsClosed: the Revocations was closed.
	ErrRevocationsClosed = errors.New("auth: revocations closed")
)

// RevocationOptions configure Revocations. Nil or zero fields mean the
// defaults. Every instance sharing a store must use the same Key,
// MaxEntries, MaxTokenLifetime and Leeway.
type RevocationOptions struct {
	// Key is the prefix of the list's store keys. Default
	// DefaultRevocationKey. At most store.MaxKeyLen-4 bytes.
	Key string

	// PollInterval is the time between two polls of the store. Default
	// DefaultRevocationPollInterval. Each pause is drawn at random between
	// ¾ and all of it, so that instances started together do not poll in
	// step, and the interval stays an upper bound.
	PollInterval time.Duration

	// MaxStaleness is how old the local view may be before Revoked refuses
	// to answer from it alone (it then reads the store, and fails if the
	// store does not answer). Default 3×PollInterval (750 ms by default);
	// it must be longer than PollInterval. It is the propagation bound (see
	// Revocations).
	MaxStaleness time.Duration

	// StoreTimeout bounds a poll and each phase of a Revoke call. Default
	// DefaultRevocationStoreTimeout. A store that never waits
	// (store.NonBlocking) gets no deadline.
	StoreTimeout time.Duration

	// MaxTokenLifetime is the longest life (exp - iat) of a token the
	// Verifier accepts. Default DefaultRevocationMaxTokenLifetime. A session
	// revocation is kept MaxTokenLifetime+Leeway after it is made, a
	// subject revocation MaxTokenLifetime+Leeway after its "before" time.
	// Set it to the Verifier's limit: a shorter one lets tokens of a
	// revoked session or subject come back to life once the entry is gone.
	MaxTokenLifetime time.Duration

	// Leeway is added to every entry's life (clock skew). Default
	// DefaultRevocationLeeway; negative means none.
	Leeway time.Duration

	// MaxEntries caps the live entries of the list (all kinds together).
	// Default DefaultMaxRevocations. Each of the RevocationShards records
	// holds at most ceil(MaxEntries/RevocationShards) of them; a revocation
	// that would go beyond fails with ErrTooManyRevocations. IDs spread
	// evenly over the shards, so the first refusal comes when the list
	// holds a few percent less than MaxEntries. An entry takes 49 bytes in
	// the store, so with memcached's 1 MiB items MaxEntries must stay
	// under about 340,000 (a larger shard fails with store.ErrTooLarge).
	MaxEntries int

	// Observer, if set, is told of each revocation issued (EventRevoke).
	Observer Observer
}

// revConfig is RevocationOptions with the defaults applied.
type revConfig struct {
	key          string
	poll         time.Duration
	maxStale     time.Duration
	storeTimeout time.Duration
	lifetime     time.Duration
	leeway       time.Duration
	perShard     int
	observe      Observer
}

func (o *RevocationOptions) config() (revConfig, error) {
	var opts RevocationOptions
	if o != nil {
		opts = *o
	}
	c := revConfig{
		key:          opts.Key,
		poll:         opts.PollInterval,
		maxStale:     opts.MaxStaleness,
		storeTimeout: opts.StoreTimeout,
		lifetime:     opts.MaxTokenLifetime,
		leeway:       opts.Leeway,
		observe:      opts.Observer,
	}
	if c.key == "" {
		c.key = DefaultRevocationKey
	}
	if c.poll == 0 {
		c.poll = DefaultRevocationPollInterval
	}
	if c.maxStale == 0 {
		c.maxStale = 3 * c.poll
	}
	if c.storeTimeout == 0 {
		c.storeTimeout = DefaultRevocationStoreTimeout
	}
	if c.lifetime == 0 {
		c.lifetime = DefaultRevocationMaxTokenLifetime
	}
	switch {
	case c.leeway == 0:
		c.leeway = DefaultRevocationLeeway
	case c.leeway < 0:
		c.leeway = 0
	}
	maxEntries := opts.MaxEntries
	if maxEntries == 0 {
		maxEntries = DefaultMaxRevocations
	}
	var errs []error
	if len(c.key) > store.MaxKeyLen-4 {
		errs = append(errs, fmt.Errorf("Key is %d bytes, longer than %d", len(c.key), store.MaxKeyLen-4))
	}
	if c.poll < 0 || c.maxStale < 0 || c.storeTimeout < 0 || c.lifetime < 0 {
		errs = append(errs, errors.New("PollInterval, MaxStaleness, StoreTimeout and MaxTokenLifetime must not be negative"))
	} else if c.maxStale <= c.poll {
		errs = append(errs, fmt.Errorf("MaxStaleness %v must be longer than PollInterval %v", c.maxStale, c.poll))
	}
	if maxEntries < 0 {
		errs = append(errs, fmt.Errorf("MaxEntries %d is negative", maxEntries))
	}
	if err := errors.Join(errs...); err != nil {
		return revConfig{}, fmt.Errorf("auth: RevocationOptions: %w", err)
	}
	c.perShard = (maxEntries + RevocationShards - 1) / RevocationShards
	return c, nil
}

// Revocations is the shared revocation list: it implements
// RevocationChecker over a store.Store shared by every instance of a
// service, and refuses, on every instance, tokens of a logged-out session
// (RevokeSession), single tokens (RevokeToken) and every token of a subject
// issued up to a time (RevokeSubject, "log out everywhere").
//
// # Mechanism
//
// Each instance keeps the whole list in memory and answers Revoked from
// it: a map lookup per ID in the token (sid, jti, sub), no store read. A
// poller keeps that view fresh by reading the store every PollInterval
// (250 ms). That is the only way to learn of other instances' revocations
// that works on every adapter: Redis Cluster and memcached offer no
// pub/sub to this package, and a plain store.Store Get is all a poll uses.
//
// The list lives in RevocationShards (16) records, Key+":0" … Key+":f",
// and an entry goes to the shard named by the first hex digit of its
// hash. Sharding keeps each record well under memcached's 1 MiB item limit
// (at 100,000 entries a shard holds about 6,250 entries, 306 KB) and lets
// a poll read only the shards that changed. A shard record is "RVK1"
// followed by 49-byte entries: a kind (session, token, subject), the
// SHA-256 of the sid, jti or sub (the raw IDs never reach the store;
// random session and token IDs cannot be recovered from their hashes, but
// someone who can read the store can test a guessed subject), a
// "before" time (subjects: tokens issued at or before it are refused) and
// an "until" time after which the entry is dropped, both Unix nanoseconds.
// A writer updates a shard with compare-and-swap (Create, or Replace on
// the version it read), retried on a conflict, so concurrent revocations
// on any number of instances lose no entry; it drops the expired entries
// as it goes, and sets the record's TTL to outlive its last entry.
//
// A small generation record, Key+":gen" ("RVG1" and one 64-bit stamp per
// shard, 132 bytes), makes the poll cheap: after writing shard i, a writer
// sets stamp i to a fresh random value (compare-and-swap again). A poll
// reads the generation record and then only the shards whose stamp
// differs from the one it last saw; as a shard is written before its stamp
// changes, and a stamp is never reused, a poll that begins after a
// revocation's Revoke call returned always sees it. If the generation
// record is lost (expiry after a day without revocations, memcached
// eviction) or unreadable, a poll writes a new one with fresh stamps, and
// every instance reads every shard again.
//
// A shard record this code cannot read is never overwritten (that would
// drop the revocations in it): polls fail, and so Revoked fails closed,
// until an operator deletes it. The layout is versioned by its magic
// bytes; a future layout must use another Key.
//
// Entries live until exp+Leeway for a token, MaxTokenLifetime+Leeway after
// the revocation for a session, and MaxTokenLifetime+Leeway after "before"
// for a subject: by then no token they cover can be live.
//
// # Bounds
//
//   - Delay: a revocation is refused by the instance that made it at once
//     (Revoke applies it to the local view before writing), and by every
//     other instance for every request that arrives MaxStaleness (750 ms)
//     or more after the Revoke call returned; in practice within one poll
//     interval plus a store round trip. The bound holds however slow the
//     store: Revoked never answers "not revoked" from a view older than
//     MaxStaleness (see below).
//   - Store reads per instance: one read of the 132-byte generation record
//     per PollInterval (4 per second), plus one read of each shard that
//     changed since the last poll (at most RevocationShards per poll, in
//     parallel; in steady state, one per shard that was written), whatever
//     the request rate. None per request while polls succeed. A request
//     that finds the view stale (no successful poll for MaxStaleness: the
//     store is slow or down) waits for one refresh, the same reads as a
//     poll, shared by every request waiting at that moment; after a failed
//     one, such requests fail at once for a PollInterval.
//   - Store writes: two compare-and-swaps per Revoke call (shard, then
//     generation record), more under contention.
//   - Memory: at most MaxEntries (100,000) entries in the store, 49 bytes
//     each (4.9 MB in all, at most about 310 KB per shard record), and as
//     many in each instance's memory at about 115 bytes each (11 MB).
//   - Per request: a fresh lookup costs three SHA-256 sums and three map
//     reads under a read lock, about 0.4 µs with no allocation.
//
// # Failures: fail closed
//
// When the store does not answer, Revoke returns an error (the revocation
// then holds on this instance only: retry it), and Revoked answers from
// its view while that view is younger than MaxStaleness. Past that, a
// token the view does not already know to be revoked gets an error
// wrapping ErrRevocationUnavailable, which the Verifier turns into a
// refusal unless Options.RevocationFailOpen is set. After a failed read,
// such requests fail at once for one PollInterval rather than each waiting
// for a store that is down.
//
// The store keeps the list only as durably as the backend: memcached may
// evict a shard under memory pressure, and with it the revocations it
// held (each instance keeps what it already learned until the entries
// expire). Give memcached room, or use Redis or Postgres.
//
// Close stops the poller; it does not close the store, which the caller
// owns.
type Revocations struct {
	st      store.Store
	c       revConfig
	bounded bool // store calls get c.storeTimeout: st is not store.NonBlocking

	genKey    string
	shardKeys [RevocationShards]string

	shards [RevocationShards]revShard

	base time.Time // origin of the monotonic clock below (mono)
	// freshAt is, in mono time, when the last successful poll began; the
	// view reflects every revocation that was complete by then.
	freshAt atomic.Int64
	// failedAt is, in mono time, when the last failed poll ended, and
	// lastErr its error.
	failedAt atomic.Int64
	lastErr  atomic.Pointer[revError]

	flightMu sync.Mutex
	flight   *revFlight // the poll in progress, nil if none
	closed   atomic.Bool

	pollMu    sync.Mutex // held by a poll; guards the fields below
	stamps    [RevocationShards]uint64
	prunedAt  int64 // mono time of the last sweep of the whole view
	closeOnce sync.Once

	ctx    context.Context // ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the poller and the poll in progress
}

var _ RevocationChecker = (*Revocations)(nil)

// revNever is a mono time older than any staleness bound, without
// overflowing when subtracted from.
const revNever = math.MinInt64 / 2

// revGenTTL is the life of the generation record; each write renews it.
// Should it expire, the next poll makes a new one and reads every shard.
const revGenTTL = 24 * time.Hour

// revTTLMargin is added to a shard's TTL beyond its last entry, so that
// backends with a coarse clock (memcached: one second) never drop it early.
const revTTLMargin = time.Minute

// revPruneEvery is how often a poll sweeps expired entries out of the
// whole local view (a changed shard is swept when it is read).
const revPruneEvery = 30 * time.Second

// revMaxAttempts bounds the compare-and-swap retries of one record.
const revMaxAttempts = 64

type revKind uint8

const (
	revSession revKind = iota
	revToken
	revSubject
	revKinds
)

type revHash [sha256.Size]byte

type revEntry struct {
	before int64 // subject: tokens issued at or before it (Unix ns) are revoked
	until  int64 // Unix ns after which the entry no longer matters
}

// merge returns the union of two entries for one ID.
func (e revEntry) merge(o revEntry) revEntry {
	return revEntry{before: max(e.before, o.before), until: max(e.until, o.until)}
}

// revShard is the local view of one shard.
type revShard struct {
	mu sync.RWMutex
	m  [revKinds]map[revHash]revEntry
}

type revFlight struct {
	done chan struct{}
	err  error // set before done is closed
}

type revError struct{ err error }

// NewRevocations returns the revocation list kept in st, shared with every
// instance using the same store and Key. opts may be nil.
//
// It loads the list before returning, waiting at most StoreTimeout and no
// longer than ctx allows. A store that does not answer is not an error, so
// that a service can start while its store is down: Revoked then fails
// closed until a poll succeeds. The poller runs until Close.
func NewRevocations(ctx context.Context, st store.Store, opts *RevocationOptions) (*Revocations, error) {
	if st == nil {
		return nil, errors.New("auth: NewRevocations with a nil store")
	}
	c, err := opts.config()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &Revocations{st: st, c: c, base: time.Now(), genKey: c.key + ":gen"}
	_, nonBlocking := st.(store.NonBlocking)
	r.bounded = !nonBlocking
	for i := range r.shardKeys {
		r.shardKeys[i] = c.key + ":" + strconv.FormatUint(uint64(i), 16)
		for k := range r.shards[i].m {
			r.shards[i].m[k] = make(map[revHash]revEntry)
		}
	}
	r.freshAt.Store(revNever)
	r.failedAt.Store(revNever)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	f := r.refresh()
	select {
	case <-f.done:
	case <-ctx.Done():
	}
	r.wg.Add(1)
	go r.run()
	return r, nil
}

// Close stops the poller and waits for it. Later calls of Revoked and
// Revoke* fail with ErrRevocationsClosed. The store stays open. Calling
// Close again returns nil.
func (r *Revocations) Close() error {
	r.closeOnce.Do(func() {
		r.flightMu.Lock()
		r.closed.Store(true)
		r.flightMu.Unlock()
		r.cancel()
		r.wg.Wait()
	})
	return nil
}

// RevokeSession revokes every token carrying the session ID sid (logout),
// whatever its iat, for MaxTokenLifetime+Leeway from now.
//
// The revocation applies to this instance's view at once, then to the
// store. An error means it may hold on this instance only: the caller
// should retry, or treat the logout as failed. Errors never contain sid.
func (r *Revocations) RevokeSession(ctx context.Context, sid string) error {
	if sid == "" {
		return errors.New("auth: RevokeSession with an empty session ID")
	}
	until := time.Now().Add(r.c.lifetime + r.c.leeway)
	return r.revoke(ctx, revSession, sid, revEntry{until: revNanos(until)})
}

// RevokeToken revokes the single token whose jti is jti, until its expiry
// exp (plus Leeway); a zero exp means MaxTokenLifetime from now. A token
// already past exp+Leeway is refused by its expiry, so nothing is written.
// Errors are as for RevokeSession and never contain jti.
func (r *Revocations) RevokeToken(ctx context.Context, jti string, exp time.Time) error {
	if jti == "" {
		return errors.New("auth: RevokeToken with an empty token ID")
	}
	now := time.Now()
	if exp.IsZero() {
		exp = now.Add(r.c.lifetime)
	}
	until := exp.Add(r.c.leeway)
	if !until.After(now) {
		return r.checkOpen()
	}
	return r.revoke(ctx, revToken, jti, revEntry{until: revNanos(until)})
}

// RevokeSubject revokes every token of the subject sub issued at or before
// before (its iat ≤ before; a token without iat counts as issued at the
// beginning of time): "log out everywhere" with before = time.Now(). Tokens
// issued later are accepted. As iat has whole seconds, a token issued in
// the same second as before, even just after it, is refused too.
//
// The entry lives MaxTokenLifetime+Leeway after before; if that is already
// past, every token it would cover has expired and nothing is written.
// Errors are as for RevokeSession and never contain sub.
func (r *Revocations) RevokeSubject(ctx context.Context, sub string, before time.Time) error {
	if sub == "" {
		return errors.New("auth: RevokeSubject with an empty subject")
	}
	if before.IsZero() {
		return errors.New("auth: RevokeSubject with a zero time")
	}
	until := before.Add(r.c.lifetime + r.c.leeway)
	if !until.After(time.Now()) {
		return r.checkOpen()
	}
	return r.revoke(ctx, revSubject, sub, revEntry{before: revNanos(before), until: revNanos(until)})
}

func (r *Revocations) checkOpen() error {
	if r.closed.Load() {
		return ErrRevocationsClosed
	}
	return nil
}

// Revoked reports whether the token t describes is revoked: by its
// session (SID), its ID (JTI) or its subject (Subject, with IssuedAt). See
// RevocationChecker.
//
// A token the local view knows to be revoked is answered at once. Else,
// when the view is younger than MaxStaleness the answer is false, with no
// store read; when it is older, Revoked waits for a refresh from the store
// (shared with every concurrent caller, bounded by StoreTimeout and ctx)
// and answers an error wrapping ErrRevocationUnavailable if it fails.
func (r *Revocations) Revoked(ctx context.Context, t RevocationSubject) (bool, error) {
	if r.closed.Load() {
		return false, ErrRevocationsClosed
	}
	if r.lookup(&t) {
		return true, nil
	}
	arrived := r.mono()
	if arrived-r.freshAt.Load() <= int64(r.c.maxStale) {
		return false, nil
	}
	// Stale. If a poll just failed, fail now rather than wait for a store
	// that is most likely still down.
	if arrived-r.failedAt.Load() < int64(r.c.poll) {
		if e := r.lastErr.Load(); e != nil {
			return false, e.err
		}
	}
	// A poll in progress may have begun before this request arrived: if it
	// leaves the view still too old for it, the next one begins after.
	for range 2 {
		f := r.refresh()
		select {
		case <-f.done:
		case <-ctx.Done():
			return false, fmt.Errorf("%w: %w", ErrRevocationUnavailable, context.Cause(ctx))
		}
		if f.err != nil {
			return false, f.err
		}
		if arrived-r.freshAt.Load() <= int64(r.c.maxStale) {
			return r.lookup(&t), nil
		}
	}
	return false, fmt.Errorf("%w: the store is slower than MaxStaleness", ErrRevocationUnavailable)
}

// lookup reports whether the local view revokes t.
func (r *Revocations) lookup(t *RevocationSubject) bool {
	pre := t.pre
	if pre == nil {
		pre = &revPre{}
	}
	var now int64
	if t.SID != "" {
		if e, ok := r.find(revSession, t.SID, pre.sid); ok {
			now = time.Now().UnixNano()
			if now < e.until {
				return true
			}
		}
	}
	if t.JTI != "" {
		if e, ok := r.find(revToken, t.JTI, pre.jti); ok {
			if now == 0 {
				now = time.Now().UnixNano()
			}
			if now < e.until {
				return true
			}
		}
	}
	if t.Subject != "" {
		if e, ok := r.find(revSubject, t.Subject, pre.sub); ok {
			if now == 0 {
				now = time.Now().UnixNano()
			}
			if now < e.until && revNanos(t.IssuedAt) <= e.before {
				return true
			}
		}
	}
	return false
}

// find looks id up; pre, if not nil, is revSum(id).
func (r *Revocations) find(kind revKind, id string, pre *revHash) (revEntry, bool) {
	var h revHash
	if pre != nil {
		h = *pre
	} else {
		h = revSum(id)
	}
	sh := &r.shards[revShardOf(&h)]
	sh.mu.RLock()
	e, ok := sh.m[kind][h]
	sh.mu.RUnlock()
	return e, ok
}

// revSum hashes an ID without allocating for IDs up to 128 bytes.
func revSum(id string) revHash {
	var buf [128]byte
	return sha256.Sum256(append(buf[:0], id...))
}

// revPre holds the revSums of a RevocationSubject's IDs (nil for an
// empty one), computed once for a cached token.
type revPre struct{ sid, jti, sub *revHash }

func newRevPre(t *RevocationSubject) *revPre {
	sum := func(id string) *revHash {
		if id == "" {
			return nil
		}
		h := revSum(id)
		return &h
	}
	return &revPre{sid: sum(t.SID), jti: sum(t.JTI), sub: sum(t.Subject)}
}

// revShardOf is the shard of an entry: the first hex digit of its hash.
func revShardOf(h *revHash) int { return int(h[0] >> 4) }

var (
	revMinTime = time.Unix(0, math.MinInt64)
	revMaxTime = time.Unix(0, math.MaxInt64)
)

// revNanos is t in Unix nanoseconds, clamped to int64; the zero time is
// the earliest.
func revNanos(t time.Time) int64 {
	switch {
	case t.IsZero() || !t.After(revMinTime):
		return math.MinInt64
	case !t.Before(revMaxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func (r *Revocations) mono() int64 { return int64(time.Since(r.base)) }

// storeCtx bounds a store operation by StoreTimeout, unless the store
// never waits.
func (r *Revocations) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if !r.bounded {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.c.storeTimeout)
}

// revoke applies an entry locally, then to its shard record, then marks
// the shard changed in the generation record.
func (r *Revocations) revokeNow(ctx context.Context, kind revKind, id string, e revEntry) error {
	if r.closed.Load() {
		return ErrRevocationsClosed
	}
	h := revSum(id)
	i := revShardOf(&h)
	if err := r.applyLocal(i, kind, h, e); err != nil {
		return err
	}
	sctx, cancel := r.storeCtx(ctx)
	err := r.writeShard(sctx, i, kind, h, e)
	cancel()
	if err != nil {
		return fmt.Errorf("auth: revocation not shared (it holds on this instance only): %w", err)
	}
	gctx, cancel := r.storeCtx(ctx)
	err = r.bumpGen(gctx, i)
	cancel()
	if err != nil {
		return fmt.Errorf("auth: revocation stored but not announced to other instances (retry it): %w", err)
	}
	return nil
}

// applyLocal adds an entry to the local view, within the shard's bound.
func (r *Revocations) applyLocal(i int, kind revKind, h revHash, e revEntry) error {
	sh := &r.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[kind][h]; ok {
		sh.m[kind][h] = old.merge(e)
		return nil
	}
	if sh.lenLocked() >= r.c.perShard {
		sh.pruneLocked(time.Now().UnixNano())
		if sh.lenLocked() >= r.c.perShard {
			return r.fullError(i)
		}
	}
	sh.m[kind][h] = e
	return nil
}

func (r *Revocations) fullError(i int) error {
	return fmt.Errorf("%w: shard %x of the list holds %d live entries, its share of MaxEntries (%d in all)",
		ErrTooManyRevocations, i, r.c.perShard, r.c.perShard*RevocationShards)
}

func (sh *revShard) lenLocked() int {
	n := 0
	for _, m := range sh.m {
		n += len(m)
	}
	return n
}

func (sh *revShard) pruneLocked(now int64) {
	for _, m := range sh.m {
		for h, e := range m {
			if e.until <= now {
				delete(m, h)
			}
		}
	}
}

// revWire is an entry as stored.
type revWire struct {
	kind revKind
	hash revHash
	revEntry
}

const (
	revShardMagic = "RVK1"
	revGenMagic   = "RVG1"
	revWireLen    = 1 + sha256.Size + 8 + 8
	revGenLen     = len(revGenMagic) + 8*RevocationShards
)

func revEncodeShard(entries []revWire) []byte {
	b := make([]byte, 0, len(revShardMagic)+len(entries)*revWireLen)
	b = append(b, revShardMagic...)
	for i := range entries {
		w := &entries[i]
		b = append(b, byte(w.kind))
		b = append(b, w.hash[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(w.before))
		b = binary.BigEndian.AppendUint64(b, uint64(w.until))
	}
	return b
}

func revDecodeShard(b []byte) ([]revWire, error) {
	if len(b) < len(revShardMagic) || string(b[:len(revShardMagic)]) != revShardMagic ||
		(len(b)-len(revShardMagic))%revWireLen != 0 {
		return nil, errors.New("malformed revocation shard record")
	}
	b = b[len(revShardMagic):]
	entries := make([]revWire, len(b)/revWireLen)
	for i := range entries {
		p := b[i*revWireLen : (i+1)*revWireLen]
		w := &entries[i]
		w.kind = revKind(p[0])
		if w.kind >= revKinds {
			return nil, errors.New("malformed revocation shard record: unknown entry kind")
		}
		copy(w.hash[:], p[1:1+sha256.Size])
		w.before = int64(binary.BigEndian.Uint64(p[1+sha256.Size:]))
		w.until = int64(binary.BigEndian.Uint64(p[1+sha256.Size+8:]))
	}
	return entries, nil
}

func revEncodeGen(stamps *[RevocationShards]uint64) []byte {
	b := make([]byte, 0, revGenLen)
	b = append(b, revGenMagic...)
	for _, s := range stamps {
		b = binary.BigEndian.AppendUint64(b, s)
	}
	return b
}

func revDecodeGen(b []byte) ([RevocationShards]uint64, error) {
	var stamps [RevocationShards]uint64
	if len(b) != revGenLen || string(b[:len(revGenMagic)]) != revGenMagic {
		return stamps, errors.New("malformed revocation generation record")
	}
	for i := range stamps {
		stamps[i] = binary.BigEndian.Uint64(b[len(revGenMagic)+8*i:])
	}
	return stamps, nil
}

// revStamp is a random, non-zero stamp: two draws collide with
// probability 2⁻⁶⁴, so a stamp is never seen twice.
func revStamp() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

func revFreshStamps() [RevocationShards]uint64 {
	var s [RevocationShards]uint64
	for i := range s {
		s[i] = revStamp()
	}
	return s
}

// revRetry reports whether a compare-and-swap lost a race and should be
// tried again: the record changed, appeared or vanished under it.
func revRetry(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrNotFound)
}

// revBackoff waits a little before attempt n+1 of a lost race, or until
// ctx ends.
func revBackoff(ctx context.Context, n int) error {
	d := time.Duration(rand.Int64N(int64(min(time.Millisecond<<min(n, 6), 50*time.Millisecond)) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeShard merges one entry into shard i's record by compare-and-swap,
// dropping expired entries.
func (r *Revocations) writeShard(ctx context.Context, i int, kind revKind, h revHash, e revEntry) error {
	key := r.shardKeys[i]
	for attempt := 0; ; attempt++ {
		var entries []revWire
		rec, err := r.st.Get(ctx, key)
		exists := err == nil
		switch {
		case exists:
			if entries, err = revDecodeShard(rec.Value); err != nil {
				return fmt.Errorf("shard %x: %w", i, err)
			}
		case errors.Is(err, store.ErrNotFound):
		default:
			return fmt.Errorf("reading shard %x: %w", i, err)
		}
		now := time.Now().UnixNano()
		kept := entries[:0]
		found, changed := false, false
		for _, w := range entries {
			if w.until <= now {
				changed = true
				continue
			}
			if w.kind == kind && w.hash == h {
				found = true
				if m := w.merge(e); m != w.revEntry {
					w.revEntry, changed = m, true
				}
			}
			kept = append(kept, w)
		}
		if !found {
			if len(kept) >= r.c.perShard {
				return r.fullError(i)
			}
			kept = append(kept, revWire{kind: kind, hash: h, revEntry: e})
			changed = true
		}
		if exists && !changed {
			return nil // already there, as strong
		}
		last := now
		for _, w := range kept {
			last = max(last, w.until)
		}
		ttl := time.Duration(min(last-now, int64(math.MaxInt64-revTTLMargin))) + revTTLMargin
		value := revEncodeShard(kept)
		if exists {
			_, err = r.st.Replace(ctx, key, value, ttl, rec.Version)
		} else {
			_, err = r.st.Create(ctx, key, value, ttl)
		}
		switch {
		case err == nil:
			return nil
		case !revRetry(err):
			return fmt.Errorf("writing shard %x: %w", i, err)
		case attempt+1 >= revMaxAttempts:
			return fmt.Errorf("writing shard %x: lost %d races in a row: %w", i, revMaxAttempts, err)
		}
		if err := revBackoff(ctx, attempt); err != nil {
			return fmt.Errorf("writing shard %x: %w", i, err)
		}
	}
}

// bumpGen gives shard i a fresh stamp in the generation record, telling
// every poller to read it again.
func (r *Revocations) bumpGen(ctx context.Context, i int) error {
	for attempt := 0; ; attempt++ {
		rec, err := r.st.Get(ctx, r.genKey)
		exists := err == nil
		var stamps [RevocationShards]uint64
		switch {
		case exists:
			if stamps, err = revDecodeGen(rec.Value); err != nil {
				// Unreadable: start over with fresh stamps, which makes
				// every poller read every shard.
				stamps = revFreshStamps()
			}
		case errors.Is(err, store.ErrNotFound):
			stamps = revFreshStamps()
		default:
			return fmt.Errorf("reading the generation record: %w", err)
		}
		stamps[i] = revStamp()
		value := revEncodeGen(&stamps)
		if exists {
			_, err = r.st.Replace(ctx, r.genKey, value, revGenTTL, rec.Version)
		} else {
			_, err = r.st.Create(ctx, r.genKey, value, revGenTTL)
		}
		switch {
		case err == nil:
			return nil
		case !revRetry(err):
			return fmt.Errorf("writing the generation record: %w", err)
		case attempt+1 >= revMaxAttempts:
			return fmt.Errorf("writing the generation record: lost %d races in a row: %w", revMaxAttempts, err)
		}
		if err := revBackoff(ctx, attempt); err != nil {
			return fmt.Errorf("writing the generation record: %w", err)
		}
	}
}

// refresh returns the poll in progress, starting one if there is none:
// concurrent callers share one.
func (r *Revocations) refresh() *revFlight {
	r.flightMu.Lock()
	defer r.flightMu.Unlock()
	if f := r.flight; f != nil {
		return f
	}
	f := &revFlight{done: make(chan struct{})}
	if r.closed.Load() {
		f.err = ErrRevocationsClosed
		close(f.done)
		return f
	}
	r.flight = f
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := r.poll()
		r.flightMu.Lock()
		f.err = err
		r.flight = nil
		r.flightMu.Unlock()
		close(f.done)
	}()
	return f
}

// run is the poller.
func (r *Revocations) run() {
	defer r.wg.Done()
	t := time.NewTimer(r.pause())
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-r.ctx.Done():
			return
		}
		began := time.Now()
		f := r.refresh()
		select {
		case <-f.done:
		case <-r.ctx.Done():
			return
		}
		t.Reset(max(0, r.pause()-time.Since(began)))
	}
}

// pause is a poll interval drawn between ¾ and all of PollInterval.
func (r *Revocations) pause() time.Duration {
	q := r.c.poll / 4
	return r.c.poll - q + time.Duration(rand.Int64N(int64(q)+1))
}

// poll reads the generation record, then every shard whose stamp changed,
// and merges them into the local view.
func (r *Revocations) poll() error {
	r.pollMu.Lock()
	defer r.pollMu.Unlock()
	ctx, cancel := r.storeCtx(r.ctx)
	defer cancel()
	began := r.mono()
	err := r.pollLocked(ctx)
	if err != nil {
		if r.closed.Load() {
			err = ErrRevocationsClosed
		} else {
			err = fmt.Errorf("%w: %w", ErrRevocationUnavailable, err)
		}
		r.lastErr.Store(&revError{err})
		r.failedAt.Store(r.mono())
		return err
	}
	r.freshAt.Store(began)
	if began-r.prunedAt >= int64(revPruneEvery) {
		r.prunedAt = began
		now := time.Now().UnixNano()
		for i := range r.shards {
			sh := &r.shards[i]
			sh.mu.Lock()
			sh.pruneLocked(now)
			sh.mu.Unlock()
		}
	}
	return nil
}

func (r *Revocations) pollLocked(ctx context.Context) error {
	gen, err := r.currentGen(ctx)
	if err != nil {
		return err
	}
	var changed []int
	for i := range gen {
		if gen[i] != r.stamps[i] {
			changed = append(changed, i)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	// Read the changed shards concurrently: one round trip's time, not N.
	type result struct {
		entries []revWire
		err     error
	}
	results := make([]result, len(changed))
	var wg sync.WaitGroup
	for j, i := range changed {
		wg.Go(func() {
			results[j].entries, results[j].err = r.readShard(ctx, i)
		})
	}
	wg.Wait()
	var errs []error
	now := time.Now().UnixNano()
	for j, i := range changed {
		if err := results[j].err; err != nil {
			errs = append(errs, err)
			continue
		}
		r.merge(i, results[j].entries, now)
		r.stamps[i] = gen[i]
	}
	return errors.Join(errs...)
}

// currentGen returns the stamps of the generation record. If there is
// none (first use, expired, evicted) or one it cannot read, it writes one
// with fresh stamps, which makes this poll and every other instance's next
// one read every shard after it is written: no revocation is missed.
func (r *Revocations) currentGen(ctx context.Context) ([RevocationShards]uint64, error) {
	var zero [RevocationShards]uint64
	for attempt := 0; ; attempt++ {
		rec, err := r.st.Get(ctx, r.genKey)
		fresh := revFreshStamps()
		switch {
		case err == nil:
			stamps, derr := revDecodeGen(rec.Value)
			if derr == nil {
				return stamps, nil
			}
			_, err = r.st.Replace(ctx, r.genKey, revEncodeGen(&fresh), revGenTTL, rec.Version)
		case errors.Is(err, store.ErrNotFound):
			_, err = r.st.Create(ctx, r.genKey, revEncodeGen(&fresh), revGenTTL)
		default:
			return zero, fmt.Errorf("reading the generation record: %w", err)
		}
		switch {
		case err == nil:
			return fresh, nil
		case !revRetry(err):
			return zero, fmt.Errorf("writing the generation record: %w", err)
		case attempt+1 >= revMaxAttempts:
			return zero, fmt.Errorf("writing the generation record: lost %d races in a row: %w", revMaxAttempts, err)
		}
		// Another instance wrote it first: read theirs.
	}
}

func (r *Revocations) readShard(ctx context.Context, i int) ([]revWire, error) {
	rec, err := r.st.Get(ctx, r.shardKeys[i])
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading shard %x: %w", i, err)
	}
	entries, err := revDecodeShard(rec.Value)
	if err != nil {
		return nil, fmt.Errorf("shard %x: %w", i, err)
	}
	return entries, nil
}

// merge adds a shard's stored entries to the local view and drops the
// expired ones. Entries are never removed otherwise: the store loses an
// entry only when it expires (or, on memcached, is evicted), and what this
// instance already knows stays refused.
func (r *Revocations) merge(i int, entries []revWire, now int64) {
	sh := &r.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.pruneLocked(now)
	for _, w := range entries {
		if w.until <= now || revShardOf(&w.hash) != i {
			continue
		}
		m := sh.m[w.kind]
		if old, ok := m[w.hash]; ok {
			m[w.hash] = old.merge(w.revEntry)
		} else {
			m[w.hash] = w.revEntry
		}
	}
}
