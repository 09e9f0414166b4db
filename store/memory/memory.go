// Package memory is the embedded default Store: an in-process map
// with expiry, safe for concurrent use, registered for "memory://" URLs.
//
// Beyond store.Store it offers store.NonBlocking, store.StatsReporter
// (calls, Entries, Bytes, Evictions) and store.CompareAndDeleter.
//
// It holds state in one process's memory, so it suits a single instance,
// development and tests; a fleet of instances needs a shared store (Redis,
// Memcached, Postgres) so that any instance can serve any request.
//
// Expired records are never returned, and they are reclaimed as writes come
// in: each write first removes the records of its shard whose time is up, so
// memory tracks the number of live records under any churn, without a
// background goroutine. Expiry resolution is the clock's.
//
// The store is bounded by default: at most DefaultMaxEntries records and
// DefaultMaxBytes bytes, counting each record's key and value plus
// EntryOverhead; Options change or lift both bounds. Over a bound, a write
// evicts first the records that nobody has read, replaced or touched since
// their Create, oldest first, and only when there are none the least
// recently used of the others, so that a flood of logins that are never
// used again cannot push out the sessions in use. Used records keep at most
// four fifths of each bound, so new ones always have room to be used.
// Eviction order is exact within each of the store's shards and
// approximate across them.
package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
)

func init() {
	store.Register("memory", func(ctx context.Context, rawURL string) (store.Store, error) {
		return Open(ctx, rawURL)
	})
}

// Open returns a new Store configured by a "memory://" URL (see
// ParseURL). The context is only checked: nothing waits.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return New(opts), nil
}

const numShards = 32

// Store is the in-memory Store. Create it with New.
type Store struct {
	seed   maphash.Seed
	shards [numShards]shard

	// The bounds, 0 meaning none. Protected holds at most four fifths of
	// each (see lru.go).
	maxValue                   int
	maxCount, maxBytes         int64
	protMaxCount, protMaxBytes int64

	// count and bytes cover every record held, live or expired but not yet
	// reclaimed; protCount and protBytes the protected ones among them.
	count, bytes         atomic.Int64
	protCount, protBytes atomic.Int64
	evictions            atomic.Uint64

	closed    atomic.Bool
	closeOnce sync.Once
}

var (
	_ store.NonBlocking       = (*Store)(nil)
	_ store.StatsReporter     = (*Store)(nil)
	_ store.CompareAndDeleter = (*Store)(nil)
)

// NonBlocking marks the Store as one whose operations never wait on I/O
// (see store.NonBlocking).
func (*Store) NonBlocking() {}

type shard struct {
	count   driver.Counters // the calls on this shard's keys
	mu      sync.Mutex
	index   int
	entries map[string]*entry
	// byExpiry orders deadlines, soonest first. Each write pushes one item;
	// an item whose deadline no longer matches its entry is stale and is
	// dropped when it surfaces, or when the heap is rebuilt.
	byExpiry expiryHeap
	// Every entry is on exactly one of these, most recently used first.
	probation, protected lruList
}

type entry struct {
	key       string
	value     []byte
	version   uint64
	deadline  int64 // unix nanoseconds
	used      int64 // unix nanoseconds it last went to the front of its list
	size      int64 // counted toward MaxBytes: key, value and EntryOverhead
	prev      *entry
	next      *entry
	protected bool
}

// New returns an empty Store. opts may be nil.
func New(opts *Options) *Store {
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{
		seed:     maphash.MakeSeed(),
		maxValue: max(opts.MaxValueSize, 0),
		maxCount: limit(int64(opts.MaxEntries), DefaultMaxEntries),
		maxBytes: limit(opts.MaxBytes, DefaultMaxBytes),
	}
	s.protMaxCount = s.maxCount - s.maxCount/5
	s.protMaxBytes = s.maxBytes - s.maxBytes/5
	for i := range s.shards {
		sh := &s.shards[i]
		sh.index = i
		sh.entries = make(map[string]*entry)
		sh.probation.init()
		sh.protected.init()
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

func entrySize(key string, value []byte) int64 {
	return int64(len(key)) + int64(len(value)) + EntryOverhead
}

func (s *Store) checkWrite(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := driver.BeginWrite(ctx, s.closed.Load(), key, value, ttl, s.maxValue); err != nil {
		return err
	}
	// Evicting every other record would not make room for it.
	if n := entrySize(key, value); s.maxBytes > 0 && n > s.maxBytes {
		return fmt.Errorf("%w: %d bytes with its key and overhead, more than the store's whole budget of %d", store.ErrTooLarge, n, s.maxBytes)
	}
	return nil
}

func (s *Store) get(ctx context.Context, key string) (store.Record, error) {
	if err := driver.BeginKey(ctx, s.closed.Load(), key); err != nil {
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
	overflow := s.use(sh, e, now)
	sh.mu.Unlock()
	if overflow {
		s.demoteElsewhere(e)
	}
	return rec, nil
}

func (s *Store) create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	rec, created, err := s.createOrGet(ctx, key, value, ttl, false)
	switch {
	case err != nil:
		return 0, err
	case !created:
		return 0, store.ErrExists
	}
	return rec.Version, nil
}

// createOrGet is Create, and with get set CreateOrGet: on a live key it
// returns that record (a copy) rather than nothing.
func (s *Store) createOrGet(ctx context.Context, key string, value []byte, ttl time.Duration, get bool) (store.Record, bool, error) {
	if err := s.checkWrite(ctx, key, value, ttl); err != nil {
		return store.Record{}, false, err
	}
	sh := s.shardFor(key)
	now := time.Now().UnixNano()
	var e *entry
	var version uint64
	if !get {
		// Create: build the entry before taking the lock.
		v := clone(value)
		version = driver.NewVersion()
		e = &entry{key: key, value: v, version: version, deadline: deadline(now, ttl), used: now, size: entrySize(key, v)}
	}
	sh.mu.Lock()
	s.reap(sh, now)
	if old := sh.entries[key]; old != nil {
		// reap has removed it if it had expired
		if !get {
			sh.mu.Unlock()
			return store.Record{}, false, store.ErrExists
		}
		rec := store.Record{Value: clone(old.value), Version: old.version}
		overflow := s.use(sh, old, now)
		sh.mu.Unlock()
		if overflow {
			s.demoteElsewhere(old)
		}
		return rec, false, nil
	}
	if e == nil {
		// CreateOrGet, mostly a read (a retry finding its key): the entry
		// is built only now that the key is known to be free.
		v := clone(value)
		version = driver.NewVersion()
		e = &entry{key: key, value: v, version: version, deadline: deadline(now, ttl), used: now, size: entrySize(key, v)}
	}
	// The record is counted as it goes in, before anything is evicted for
	// it, so that concurrent Creates each see the others' claims and each
	// evicts for its own: none returns while the store is over a bound.
	s.insert(sh, e)
	more := s.evictLocal(sh, e)
	sh.mu.Unlock()
	if more {
		s.makeRoom(sh, e)
	}
	return store.Record{Version: version}, true, nil
}

func (s *Store) replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	if err := s.checkWrite(ctx, key, value, ttl); err != nil {
		return 0, err
	}
	v := clone(value)
	newVersion := driver.NewVersion()
	sh := s.shardFor(key)
	now := time.Now().UnixNano()
	sh.mu.Lock()
	s.reap(sh, now)
	e := sh.entries[key]
	if e == nil {
		sh.mu.Unlock()
		return 0, store.ErrNotFound
	}
	if e.version != version {
		sh.mu.Unlock()
		return 0, store.ErrConflict
	}
	size := entrySize(key, v)
	s.bytes.Add(size - e.size)
	if e.protected {
		s.protBytes.Add(size - e.size)
	}
	e.value, e.version, e.deadline, e.size = v, newVersion, deadline(now, ttl), size
	sh.push(key, e.deadline)
	s.use(sh, e, now)
	// A larger value can push protected or the whole store over a bound
	// even when e was protected already.
	overflow := s.demoteLocal(sh, e)
	more := s.evictLocal(sh, e)
	sh.mu.Unlock()
	if overflow {
		s.demoteElsewhere(e)
	}
	if more {
		s.makeRoom(sh, e)
	}
	return newVersion, nil
}

func (s *Store) touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := driver.BeginTouch(ctx, s.closed.Load(), key, ttl); err != nil {
		return err
	}
	sh := s.shardFor(key)
	now := time.Now().UnixNano()
	sh.mu.Lock()
	s.reap(sh, now)
	e := sh.entries[key]
	if e == nil {
		sh.mu.Unlock()
		return store.ErrNotFound
	}
	e.deadline = deadline(now, ttl)
	sh.push(key, e.deadline)
	overflow := s.use(sh, e, now)
	sh.mu.Unlock()
	if overflow {
		s.demoteElsewhere(e)
	}
	return nil
}

func (s *Store) del(ctx context.Context, key string) error {
	if err := driver.BeginKey(ctx, s.closed.Load(), key); err != nil {
		return err
	}
	sh := s.shardFor(key)
	sh.mu.Lock()
	if e := sh.entries[key]; e != nil {
		s.remove(sh, e)
	}
	sh.mu.Unlock()
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	r, err := s.get(ctx, key)
	s.shardFor(key).count.Count(driver.OpGet, err)
	return r, err
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	v, err := s.create(ctx, key, value, ttl)
	s.shardFor(key).count.Count(driver.OpCreate, err)
	return v, err
}

// Replace implements store.Store.
func (s *Store) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	v, err := s.replace(ctx, key, value, ttl, version)
	s.shardFor(key).count.Count(driver.OpReplace, err)
	return v, err
}

// Touch implements store.Store.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	err := s.touch(ctx, key, ttl)
	s.shardFor(key).count.Count(driver.OpTouch, err)
	return err
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.del(ctx, key)
	s.shardFor(key).count.Count(driver.OpDelete, err)
	return err
}

// CreateOrGet implements store.CreateOrGetter. Stats counts it as a
// Create.
func (s *Store) CreateOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) (store.Record, bool, error) {
	rec, created, err := s.createOrGet(ctx, key, value, ttl, true)
	s.shardFor(key).count.Count(driver.OpCreate, err)
	return rec, created, err
}

// CompareAndDelete implements store.CompareAndDeleter.
func (s *Store) CompareAndDelete(ctx context.Context, key string, version uint64) error {
	err := s.compareAndDelete(ctx, key, version)
	s.shardFor(key).count.Count(driver.OpDelete, err)
	return err
}

func (s *Store) compareAndDelete(ctx context.Context, key string, version uint64) error {
	if err := driver.BeginKey(ctx, s.closed.Load(), key); err != nil {
		return err
	}
	sh := s.shardFor(key)
	now := time.Now().UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s.reap(sh, now)
	e := sh.entries[key]
	switch {
	case e == nil:
		return store.ErrNotFound
	case e.version != version:
		return store.ErrConflict
	}
	s.remove(sh, e)
	return nil
}

// Stats implements store.StatsReporter: the calls per operation, Entries
// and Bytes as counted against MaxEntries and MaxBytes, and Evictions.
func (s *Store) Stats() store.Stats {
	var st, sum store.Stats
	for i := range s.shards {
		s.shards[i].count.Fill(&st)
		sum.Gets += st.Gets
		sum.Creates += st.Creates
		sum.Replaces += st.Replaces
		sum.Touches += st.Touches
		sum.Deletes += st.Deletes
		sum.Errors += st.Errors
	}
	sum.Entries, sum.Bytes = s.count.Load(), s.bytes.Load()
	sum.Evictions = s.evictions.Load()
	return sum
}

// Ping implements store.Store: it fails only once the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	return driver.Begin(ctx, s.closed.Load())
}

// Close drops every record; later calls answer store.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			for _, e := range sh.entries {
				s.account(e, -1)
			}
			sh.entries = map[string]*entry{}
			sh.byExpiry = nil
			sh.probation.init()
			sh.protected.init()
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
			s.remove(sh, e)
		}
	}
	// Touches and replaces leave stale items behind; keep them bounded.
	if len(sh.byExpiry) > 2*len(sh.entries)+64 {
		sh.rebuild()
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
