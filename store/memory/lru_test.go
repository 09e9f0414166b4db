package memory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stateless-go/stateless/store"
)

// Once more records have been used than protected holds, the least
// recently used go back to probation and are the first evicted; the
// recently used all stay.
func TestPromotionOverflowEvictsLeastRecentlyUsed(t *testing.T) {
	synctest.Test(t, testPromotionOverflow)
}

func testPromotionOverflow(t *testing.T) {
	ctx := context.Background()
	const n = 1000
	s := New(&Options{MaxEntries: n})
	for i := range n {
		if _, err := s.Create(ctx, fmt.Sprint(i), nil, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		mustGet(t, s, fmt.Sprint(i))
	}
	time.Sleep(reorderInterval)
	for i := n / 2; i < n; i++ {
		mustGet(t, s, fmt.Sprint(i))
	}
	checkInvariants(t, s)
	if got, want := s.protCount.Load(), s.protMaxCount; got != want {
		t.Errorf("%d protected after every record was used, want protected full at %d", got, want)
	}
	if _, err := s.Create(ctx, "new", nil, time.Hour); err != nil {
		t.Fatalf("Create in a store whose every record was used: %v", err)
	}
	if s.Len() != n {
		t.Errorf("Len() = %d, want %d", s.Len(), n)
	}
	var gone []int
	for i := range n {
		if _, err := s.Get(ctx, fmt.Sprint(i)); err != nil {
			gone = append(gone, i)
		}
	}
	if len(gone) != 1 || gone[0] >= n/2 {
		t.Errorf("records evicted: %v, want one of the %d least recently used", gone, n/2)
	}
	mustGet(t, s, "new")
	checkInvariants(t, s)
}

// When every record is protected (a store too small to keep a fifth for
// probation) and the store is full, a Create still succeeds and evicts the
// least recently used record, whichever shard it is in.
func TestFullOfProtectedEvictsLeastRecentlyUsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(&Options{MaxEntries: 4})
		keys := []string{"a", "b", "c", "d"}
		for _, k := range keys {
			if _, err := s.Create(ctx, k, nil, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		// Used in the order b, c, d, a: b is the least recently used.
		for _, k := range []string{"b", "c", "d", "a"} {
			time.Sleep(time.Second)
			mustGet(t, s, k)
		}
		if got := s.protCount.Load(); got != 4 {
			t.Fatalf("%d records protected, want all 4", got)
		}
		time.Sleep(time.Second)
		if _, err := s.Create(ctx, "e", nil, time.Hour); err != nil {
			t.Fatalf("Create in a full store of protected records: %v", err)
		}
		if _, err := s.Get(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get of the least recently used record = %v, want it evicted", err)
		}
		for _, k := range []string{"a", "c", "d", "e"} {
			mustGet(t, s, k)
		}
		checkInvariants(t, s)
	})
}

func TestMaxBytes(t *testing.T) {
	ctx := context.Background()
	const budget = 60_000
	s := New(&Options{MaxEntries: -1, MaxBytes: budget})
	value := make([]byte, 1000)
	for i := range 500 {
		if _, err := s.Create(ctx, fmt.Sprintf("k%03d", i), value, time.Hour); err != nil {
			t.Fatal(err)
		}
		if b := s.bytes.Load(); b > budget {
			t.Fatalf("after %d Creates: %d bytes accounted, budget %d", i+1, b, budget)
		}
	}
	if max := budget / int(entrySize("k000", value)); s.Len() > max {
		t.Errorf("Len() = %d, want at most %d records of %d bytes", s.Len(), max, entrySize("k000", value))
	}
	mustGet(t, s, "k499")
	checkInvariants(t, s)

	// A value that fits only by evicting most records evicts them...
	big := make([]byte, budget/2)
	v, err := s.Create(ctx, "big", big, time.Hour)
	if err != nil {
		t.Fatalf("Create of %d bytes under a budget of %d: %v", len(big), budget, err)
	}
	checkInvariants(t, s)
	// ...and so does a Replace that grows one.
	if _, err := s.Replace(ctx, "big", make([]byte, budget-1000), time.Hour, v); err != nil {
		t.Fatal(err)
	}
	if b := s.bytes.Load(); b > budget {
		t.Errorf("after a growing Replace: %d bytes accounted, budget %d", b, budget)
	}
	mustGet(t, s, "big")
	checkInvariants(t, s)

	// One that could never fit is refused, and nothing is evicted for it.
	before := s.Len()
	if _, err := s.Create(ctx, "huge", make([]byte, budget), time.Hour); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Create of a value as large as the whole budget = %v, want ErrTooLarge", err)
	}
	if s.Len() != before {
		t.Errorf("Len() went from %d to %d for a refused Create", before, s.Len())
	}
}

// A record larger than protected's share is left on probation when used,
// rather than demoting every other record to make room for it.
func TestTooLargeToProtectStaysOnProbation(t *testing.T) {
	ctx := context.Background()
	s := New(&Options{MaxEntries: -1, MaxBytes: 100_000})
	for _, k := range []string{"a", "b"} {
		if _, err := s.Create(ctx, k, make([]byte, 100), time.Hour); err != nil {
			t.Fatal(err)
		}
		mustGet(t, s, k)
	}
	if _, err := s.Create(ctx, "big", make([]byte, 85_000), time.Hour); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, "big")
	if n := s.protCount.Load(); n != 2 {
		t.Errorf("%d records protected after reading one too large for protected, want the 2 small ones", n)
	}
	checkInvariants(t, s)
	// Room for a new record comes from probation: big goes, a and b stay.
	if _, err := s.Create(ctx, "c", make([]byte, 20_000), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "big"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(big) = %v, want it evicted", err)
	}
	mustGet(t, s, "a")
	mustGet(t, s, "b")
	checkInvariants(t, s)
}

// On the defaults, even 64 KiB values cannot take more than DefaultMaxBytes.
func TestDefaultMaxBytesWithLargeValues(t *testing.T) {
	ctx := context.Background()
	s := New(nil)
	value := make([]byte, 64<<10)
	for i := range 1500 {
		if _, err := s.Create(ctx, fmt.Sprint(i), value, time.Hour); err != nil {
			t.Fatal(err)
		}
		if b := s.bytes.Load(); b > DefaultMaxBytes {
			t.Fatalf("after %d Creates of 64 KiB: %d bytes accounted, over %d", i+1, b, DefaultMaxBytes)
		}
	}
	if _, err := s.Create(ctx, "huge", make([]byte, DefaultMaxBytes), time.Hour); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Create of %d bytes on the defaults = %v, want ErrTooLarge", DefaultMaxBytes, err)
	}
	checkInvariants(t, s)
}

func TestLimitsResolve(t *testing.T) {
	for _, tc := range []struct {
		opts                *Options
		maxCount, maxBytes  int64
		protCount, protByte int64
	}{
		{nil, DefaultMaxEntries, DefaultMaxBytes, DefaultMaxEntries - DefaultMaxEntries/5, DefaultMaxBytes - DefaultMaxBytes/5},
		{&Options{MaxEntries: -1, MaxBytes: -1}, 0, 0, 0, 0},
		{&Options{MaxEntries: 10, MaxBytes: 1000}, 10, 1000, 8, 800},
		{&Options{MaxEntries: 1}, 1, DefaultMaxBytes, 1, DefaultMaxBytes - DefaultMaxBytes/5},
	} {
		s := New(tc.opts)
		if s.maxCount != tc.maxCount || s.maxBytes != tc.maxBytes || s.protMaxCount != tc.protCount || s.protMaxBytes != tc.protByte {
			t.Errorf("New(%+v): bounds %d records, %d bytes, protected %d, %d; want %d, %d, %d, %d", tc.opts,
				s.maxCount, s.maxBytes, s.protMaxCount, s.protMaxBytes, tc.maxCount, tc.maxBytes, tc.protCount, tc.protByte)
		}
	}
}

// With no limits, nothing is ever evicted.
func TestNoLimits(t *testing.T) {
	ctx := context.Background()
	s := New(&Options{MaxEntries: -1, MaxBytes: -1})
	for i := range 1000 {
		if _, err := s.Create(ctx, fmt.Sprint(i), make([]byte, 100<<10), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 1000 {
		t.Errorf("Len() = %d after 1000 Creates with no limits", s.Len())
	}
}

// A random mix of every operation, with time passing, keeps the lists, the
// map and the counters in agreement and the store within its bounds.
func TestRandomOperationsKeepInvariants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(1, 2))
		s := New(&Options{MaxEntries: 40, MaxBytes: 20_000})
		versions := map[string]uint64{}
		for i := range 20_000 {
			k := fmt.Sprint(r.IntN(120))
			ttl := time.Duration(1+r.IntN(60)) * time.Second
			value := make([]byte, r.IntN(2000))
			switch op := r.IntN(10); {
			case op < 3:
				if v, err := s.Create(ctx, k, value, ttl); err == nil {
					versions[k] = v
				}
			case op < 6:
				s.Get(ctx, k)
			case op < 8:
				if v, err := s.Replace(ctx, k, value, ttl, versions[k]); err == nil {
					versions[k] = v
				}
			case op < 9:
				s.Touch(ctx, k, ttl)
			default:
				s.Delete(ctx, k)
			}
			if r.IntN(50) == 0 {
				time.Sleep(time.Duration(r.IntN(5000)) * time.Millisecond)
			}
			if i%97 == 0 {
				checkInvariants(t, s)
				if t.Failed() {
					t.Fatalf("after %d operations", i+1)
				}
			}
		}
		checkInvariants(t, s)
	})
}

func TestConcurrentOperationsKeepBounds(t *testing.T) {
	ctx := context.Background()
	s := New(&Options{MaxEntries: 64, MaxBytes: 40_000})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for range 5000 {
				k := fmt.Sprint(r.IntN(300))
				switch r.IntN(5) {
				case 0, 1:
					s.Create(ctx, k, make([]byte, r.IntN(1500)), time.Hour)
				case 2:
					if rec, err := s.Get(ctx, k); err == nil {
						s.Replace(ctx, k, make([]byte, r.IntN(1500)), time.Hour, rec.Version)
					}
				case 3:
					s.Touch(ctx, k, time.Hour)
				default:
					s.Get(ctx, k)
				}
			}
		})
	}
	wg.Wait()
	checkInvariants(t, s)
}

func mustGet(t *testing.T, s *Store, key string) {
	t.Helper()
	if _, err := s.Get(context.Background(), key); err != nil {
		t.Fatalf("Get(%q) = %v", key, err)
	}
}

// checkInvariants checks, with no operation in flight, that every record is
// in its shard's map and on the one list its segment says, that the
// counters add up, and that the store is within its bounds.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	var count, bytes, protCount, protBytes int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		onList := 0
		for _, l := range []struct {
			list      *lruList
			protected bool
		}{{&sh.probation, false}, {&sh.protected, true}} {
			prev := &l.list.root
			for e := l.list.root.next; e != &l.list.root; e = e.next {
				if e.prev != prev {
					t.Errorf("shard %d: broken back link", i)
				}
				prev = e
				if e.protected != l.protected {
					t.Errorf("shard %d: %q on the wrong list (protected=%v)", i, e.key, e.protected)
				}
				if sh.entries[e.key] != e {
					t.Errorf("shard %d: %q on a list but not in the map", i, e.key)
				}
				if e.size != entrySize(e.key, e.value) {
					t.Errorf("shard %d: %q counted as %d bytes, is %d", i, e.key, e.size, entrySize(e.key, e.value))
				}
				onList++
				count++
				bytes += e.size
				if e.protected {
					protCount++
					protBytes += e.size
				}
			}
		}
		if onList != len(sh.entries) {
			t.Errorf("shard %d: %d entries in the map, %d on the lists", i, len(sh.entries), onList)
		}
		sh.mu.Unlock()
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{{"count", s.count.Load(), count}, {"bytes", s.bytes.Load(), bytes}, {"protCount", s.protCount.Load(), protCount}, {"protBytes", s.protBytes.Load(), protBytes}} {
		if c.got != c.want {
			t.Errorf("%s = %d, the records add up to %d", c.name, c.got, c.want)
		}
	}
	if s.over() {
		t.Errorf("%d records of %d bytes, bounds %d and %d", count, bytes, s.maxCount, s.maxBytes)
	}
	if s.protMaxCount > 0 && protCount > s.protMaxCount {
		t.Errorf("%d records protected, bound %d", protCount, s.protMaxCount)
	}
	if s.protMaxBytes > 0 && protBytes > s.protMaxBytes {
		t.Errorf("%d bytes protected in %d records, bound %d", protBytes, protCount, s.protMaxBytes)
	}
}
