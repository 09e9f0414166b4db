// Package memory is the embedded default SessionStore: an in-process map
// with expiry, safe for concurrent use, registered for "memory://" URLs.
//
// It holds state in one process's memory, so it suits a single instance,
// development and tests; a fleet of instances needs a shared store (Redis,
// Memcached, Postgres) so that any instance can serve any request.
//
// Expired records are never returned, and they are reclaimed as writes come
// in: each write first removes the records of its shard whose time is up, so
// memory tracks the number of live records under any churn, without a
// background goroutine. With Options.MaxEntries set, Create evicts the record
// closest to expiry to make room; expiry resolution is the clock's.
package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stateless-go/stateless/store"
)

func init() {
	store.Register("memory", func(ctx context.Context, rawURL string) (store.SessionStore, error) {
		opts, err := ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		return New(opts), nil
	})
}

// Options configure a Store. The zero value (or nil) means no limits.
type Options struct {
	// MaxEntries caps the number of records; 0 means no cap. When a Create
	// would pass it, the record closest to expiry is evicted first.
	MaxEntries int
	// MaxValueSize caps a value's length in bytes; 0 means no cap. Longer
	// values are refused with store.ErrTooLarge.
	MaxValueSize int
}

// ParseURL reads Options from a "memory://" URL. Two query parameters are
// known: max_entries and max_value_size, non-negative integers, as in
// "memory://?max_entries=100000". Anything else is an error, so a typo is
// not silently ignored.
func ParseURL(rawURL string) (*Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("memory: malformed URL")
	}
	if u.Scheme != "memory" {
		return nil, fmt.Errorf("memory: URL scheme is %q, want memory", u.Scheme)
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.User != nil {
		return nil, fmt.Errorf("memory: URL takes no host, user or path; want memory:// or memory://?max_entries=N")
	}
	opts := &Options{}
	for k, vs := range u.Query() {
		var dst *int
		switch k {
		case "max_entries":
			dst = &opts.MaxEntries
		case "max_value_size":
			dst = &opts.MaxValueSize
		default:
			return nil, fmt.Errorf("memory: unknown URL parameter %q; known: max_entries, max_value_size", k)
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("memory: URL parameter %s given %d times", k, len(vs))
		}
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("memory: URL parameter %s must be a non-negative integer", k)
		}
		*dst = n
	}
	return opts, nil
}

const numShards = 32

// Store is the in-memory SessionStore. Create it with New.
type Store struct {
	seed      maphash.Seed
	shards    [numShards]shard
	maxValue  int
	maxCount  int64
	count     atomic.Int64
	closed    atomic.Bool
	closeOnce sync.Once
}

var _ store.SessionStore = (*Store)(nil)

type shard struct {
	mu      sync.Mutex
	entries map[string]*entry
	// byExpiry orders deadlines, soonest first. Each write pushes one item;
	// an item whose deadline no longer matches its entry is stale and is
	// dropped when it surfaces, or when the heap is rebuilt.
	byExpiry expiryHeap
}

type entry struct {
	value    []byte
	version  uint64
	deadline int64 // unix nanoseconds
}

// New returns an empty Store. opts may be nil.
func New(opts *Options) *Store {
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{seed: maphash.MakeSeed(), maxValue: opts.MaxValueSize, maxCount: int64(opts.MaxEntries)}
	for i := range s.shards {
		s.shards[i].entries = make(map[string]*entry)
	}
	return s
}

// Len returns the number of records held, live or expired but not yet
// reclaimed.
func (s *Store) Len() int {
	return int(s.count.Load())
}

func (s *Store) shardFor(key string) *shard {
	return &s.shards[maphash.String(s.seed, key)%numShards]
}

// deadline computes now+ttl, saturating instead of overflowing.
func deadline(now int64, ttl time.Duration) int64 {
	if int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(ttl)
}

func (s *Store) check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return store.CheckKey(key)
}

func (s *Store) checkWrite(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	return store.CheckWrite(key, value, ttl, s.maxValue)
}

// Get implements store.SessionStore.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	if err := s.check(ctx, key); err != nil {
		return store.Record{}, err
	}
	sh := s.shardFor(key)
	now := time.Now().UnixNano()
	sh.mu.Lock()
	e := sh.entries[key]
	if e == nil || e.deadline <= now {
		sh.mu.Unlock()
		return store.Record{}, store.ErrNotFound
	}
	rec := store.Record{Value: clone(e.value), Version: e.version}
	sh.mu.Unlock()
	return rec, nil
}

// Create implements store.SessionStore.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	if err := s.checkWrite(ctx, key, value, ttl); err != nil {
		return 0, err
	}
	v := clone(value)
	version := store.NewVersion()
	sh := s.shardFor(key)
	now := time.Now().UnixNano()
	sh.mu.Lock()
	s.reap(sh, now)
	if e := sh.entries[key]; e != nil {
		// reap has removed it if it had expired
		sh.mu.Unlock()
		return 0, store.ErrExists
	}
	// Reserve a place first, so concurrent Creates never pass the cap.
	if n := s.count.Add(1); s.maxCount > 0 && n > s.maxCount && !s.evictOne(sh) {
		sh.mu.Unlock()
		s.evictElsewhere(sh)
		sh.mu.Lock()
		// The key may have been created while the lock was dropped.
		if sh.entries[key] != nil {
			s.count.Add(-1)
			sh.mu.Unlock()
			return 0, store.ErrExists
		}
	}
	e := &entry{value: v, version: version, deadline: deadline(now, ttl)}
	sh.entries[key] = e
	sh.push(key, e.deadline)
	sh.mu.Unlock()
	return version, nil
}

// Replace implements store.SessionStore.
func (s *Store) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	if err := s.checkWrite(ctx, key, value, ttl); err != nil {
		return 0, err
	}
	v := clone(value)
	newVersion := store.NewVersion()
	sh := s.shardFor(key)
	now := time.Now().UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s.reap(sh, now)
	e := sh.entries[key]
	if e == nil {
		return 0, store.ErrNotFound
	}
	if e.version != version {
		return 0, store.ErrConflict
	}
	e.value, e.version, e.deadline = v, newVersion, deadline(now, ttl)
	sh.push(key, e.deadline)
	return newVersion, nil
}

// Touch implements store.SessionStore.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	if err := store.CheckTTL(ttl); err != nil {
		return err
	}
	sh := s.shardFor(key)
	now := time.Now().UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s.reap(sh, now)
	e := sh.entries[key]
	if e == nil {
		return store.ErrNotFound
	}
	e.deadline = deadline(now, ttl)
	sh.push(key, e.deadline)
	return nil
}

// Delete implements store.SessionStore.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	sh := s.shardFor(key)
	sh.mu.Lock()
	if _, ok := sh.entries[key]; ok {
		delete(sh.entries, key)
		s.count.Add(-1)
	}
	// The heap item left behind is stale and goes when it surfaces.
	sh.mu.Unlock()
	return nil
}

// Ping implements store.SessionStore: it fails only once the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// Close drops every record; later calls answer store.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			s.count.Add(-int64(len(sh.entries)))
			sh.entries = map[string]*entry{}
			sh.byExpiry = nil
			sh.mu.Unlock()
		}
	})
	return nil
}

// reap removes the shard's expired records. Each write calls it, so the cost
// is paid by the churn that creates the garbage. sh.mu must be held.
func (s *Store) reap(sh *shard, now int64) {
	for len(sh.byExpiry) > 0 && sh.byExpiry[0].deadline <= now {
		it := sh.byExpiry.pop()
		if e := sh.entries[it.key]; e != nil && e.deadline == it.deadline {
			delete(sh.entries, it.key)
			s.count.Add(-1)
		}
	}
	// Touches and replaces leave stale items behind; keep them bounded.
	if len(sh.byExpiry) > 2*len(sh.entries)+64 {
		sh.rebuild()
	}
}

// evictOne removes the record of sh closest to expiry. sh.mu must be held.
func (s *Store) evictOne(sh *shard) bool {
	for len(sh.byExpiry) > 0 {
		it := sh.byExpiry.pop()
		if e := sh.entries[it.key]; e != nil && e.deadline == it.deadline {
			delete(sh.entries, it.key)
			s.count.Add(-1)
			return true
		}
	}
	return false
}

// evictElsewhere makes room when the shard a Create lands in holds nothing
// to evict: it evicts from the first other shard that has a record. sh.mu
// must not be held.
func (s *Store) evictElsewhere(except *shard) {
	for i := range s.shards {
		sh := &s.shards[i]
		if sh == except {
			continue
		}
		sh.mu.Lock()
		ok := s.evictOne(sh)
		sh.mu.Unlock()
		if ok {
			return
		}
	}
}

func (sh *shard) push(key string, deadline int64) {
	sh.byExpiry.push(expiryItem{deadline: deadline, key: key})
}

func (sh *shard) rebuild() {
	h := make(expiryHeap, 0, len(sh.entries))
	for k, e := range sh.entries {
		h = append(h, expiryItem{deadline: e.deadline, key: k})
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	sh.byExpiry = h
}

type expiryItem struct {
	deadline int64
	key      string
}

// expiryHeap is a binary min-heap on deadline. It is written out rather than
// built on container/heap, whose interface boxes every item it pushes.
type expiryHeap []expiryItem

func (h *expiryHeap) push(it expiryItem) {
	*h = append(*h, it)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if a[p].deadline <= a[i].deadline {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *expiryHeap) pop() expiryItem {
	a := *h
	it := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a[last] = expiryItem{}
	*h = a[:last]
	h.down(0)
	return it
}

func (h expiryHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].deadline < h[l].deadline {
			m = r
		}
		if h[i].deadline <= h[m].deadline {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
