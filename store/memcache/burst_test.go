package memcache_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memcache"
	"github.com/stateless-go/stateless/store/storetest"
)

// burstSize is more concurrent calls than memcached's default connection
// limit (-c 1024): without a bound on the calls in flight, a burst this big
// opens a connection for each and the server refuses the excess.
const burstSize = 1500

// burst makes n concurrent Gets of missing keys and returns the errors
// other than store.ErrNotFound.
func burst(ctx context.Context, s *memcache.Store, n int) []error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := s.Get(ctx, "missing-"+strconv.Itoa(i))
			if !errors.Is(err, store.ErrNotFound) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func openBurstStore(t testing.TB, query string) *memcache.Store {
	t.Helper()
	addr := testenv.MemcacheAddrs(t, 1)[0]
	s, err := memcache.Open(t.Context(), "memcache://"+addr+"?prefix="+storetest.RandomPrefix()+":"+query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBurst: 1500 concurrent Gets of missing keys on one real memcached,
// more than its default connection limit, all answer store.ErrNotFound:
// the calls beyond the bound queue instead of opening a connection each.
func TestBurst(t *testing.T) {
	s := openBurstStore(t, "")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	errs := burst(ctx, s, burstSize)
	t.Logf("%d concurrent Gets: %d failed, %v", burstSize, len(errs), time.Since(start))
	if len(errs) > 0 {
		t.Errorf("%d of %d concurrent Gets of missing keys failed; first: %v", len(errs), burstSize, errs[0])
	}
	// Stats agree: every Get counted, a miss is no error, and nothing is
	// left queued or in flight.
	st := s.Stats()
	if st.Gets != burstSize || st.Errors != uint64(len(errs)) || st.Queued != 0 || st.InFlight != 0 {
		t.Errorf("Stats after the burst: Gets %d, Errors %d, Queued %d, InFlight %d; want %d, %d, 0, 0",
			st.Gets, st.Errors, st.Queued, st.InFlight, burstSize, len(errs))
	}
}

// inFlightSettings are the bounds the concurrent benchmarks compare: the
// default (DefaultMaxInFlight), a smaller and a larger one.
var inFlightSettings = []string{"default", "8", "256"}

func openBenchStore(b *testing.B, maxInFlight string) *memcache.Store {
	if maxInFlight == "default" {
		return openBurstStore(b, "")
	}
	return openBurstStore(b, "&max_in_flight="+maxInFlight)
}

// BenchmarkBurst: one op is 1500 concurrent Gets of missing keys.
func BenchmarkBurst(b *testing.B) {
	for _, m := range inFlightSettings {
		b.Run("max_in_flight="+m, func(b *testing.B) {
			s := openBenchStore(b, m)
			ctx := b.Context()
			failed := 0
			for b.Loop() {
				failed += len(burst(ctx, s, burstSize))
			}
			b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
		})
	}
}

// BenchmarkGetParallel: Gets of one existing key from GOMAXPROCS×p
// goroutines at once.
func BenchmarkGetParallel(b *testing.B) {
	for _, m := range inFlightSettings {
		for _, p := range []int{1, 16} {
			b.Run("max_in_flight="+m+"/p="+strconv.Itoa(p), func(b *testing.B) {
				benchGetParallel(b, openBenchStore(b, m), p)
			})
		}
	}
}

func benchGetParallel(b *testing.B, s *memcache.Store, p int) {
	ctx := b.Context()
	k := storetest.RandomPrefix()
	if _, err := s.Create(ctx, k, benchValue, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(p)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(ctx, k); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
