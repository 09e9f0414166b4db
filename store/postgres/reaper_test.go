package postgres_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/postgres"
)

const (
	expiring = 10_000 // sessions each reaper test waits out
	live     = 10     // sessions that must survive every reaper
)

// fill creates n sessions with ttl through s, from 8 writers at once, and
// returns the keys.
func fill(t *testing.T, s *postgres.Store, prefix string, n int, ttl time.Duration) {
	t.Helper()
	var (
		wg     sync.WaitGroup
		next   atomic.Int64
		failed atomic.Pointer[error]
	)
	for range 8 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || failed.Load() != nil {
					return
				}
				if _, err := s.Create(t.Context(), fmt.Sprintf("%s-%d", prefix, i), []byte("session data"), ttl); err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		t.Fatalf("fill: Create: %v", *p)
	}
}

// setup writes the expiring and the live sessions and waits, by the
// server's clock, until the expiring ones have expired.
func setup(t *testing.T, s *postgres.Store) {
	t.Helper()
	began := time.Now()
	fill(t, s, "short", expiring, 500*time.Millisecond)
	fill(t, s, "long", live, time.Hour)
	t.Logf("wrote %d sessions in %v", expiring+live, time.Since(began).Round(time.Millisecond))
	waitFor(t, "the short sessions to expire", func() bool {
		var n int
		err := testPool(t).QueryRow(t.Context(), "SELECT count(*) FROM "+s.Table()+" WHERE expires_at > now()").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == live
	})
	if n := count(t, s); n != expiring+live {
		t.Fatalf("%d rows before reaping, want %d", n, expiring+live)
	}
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkLive checks that the live sessions are all still there.
func checkLive(t *testing.T, s *postgres.Store) {
	t.Helper()
	for i := range live {
		if _, err := s.Get(t.Context(), fmt.Sprintf("long-%d", i)); err != nil {
			t.Errorf("live session %d after reaping: %v", i, err)
		}
	}
}

// TestReap: 10,000 expired sessions are all deleted, in batches of the
// configured size, and live sessions are left alone.
func TestReap(t *testing.T) {
	const batch = 700
	s := newStore(t, &postgres.Options{ReapInterval: -1, ReapBatch: batch})
	setup(t, s)

	var (
		batches uint64
		total   int64
	)
	for {
		n, err := s.Reap(t.Context())
		if err != nil {
			t.Fatalf("Reap #%d: %v", batches+1, err)
		}
		batches++
		total += n
		if n > batch {
			t.Fatalf("Reap #%d deleted %d rows, more than the batch of %d", batches, n, batch)
		}
		if n < batch {
			break
		}
	}
	t.Logf("reaped %d rows in %d batches of at most %d", total, batches, batch)
	// Every full batch, then the short one that ends the round.
	if want := uint64(expiring/batch + 1); batches != want {
		t.Errorf("%d batches, want %d (%d rows in batches of %d, until one is short)", batches, want, expiring, batch)
	}
	if total != expiring {
		t.Errorf("Reap deleted %d rows, want %d", total, expiring)
	}
	if n := count(t, s); n != live {
		t.Errorf("%d rows left, want the %d live ones", n, live)
	}
	if got := s.Stats().Reaps; got != batches {
		t.Errorf("the store counted %d reaping statements, the test ran %d", got, batches)
	}
	checkLive(t, s)
}

// TestConcurrentReapers: reapers of two stores on one table, two
// goroutines each, do not wait on or fail each other and together delete
// every expired row exactly once.
func TestConcurrentReapers(t *testing.T) {
	const batch = 300
	table := testSchema(t) + ".sessions"
	a := newStoreOn(t, table, &postgres.Options{ReapInterval: -1, ReapBatch: batch})
	b := newStoreOn(t, table, &postgres.Options{ReapInterval: -1, ReapBatch: batch})
	setup(t, a)

	var (
		wg     sync.WaitGroup
		total  atomic.Int64
		errs   = make(chan error, 4)
		starts = make(chan struct{})
	)
	for _, s := range []*postgres.Store{a, a, b, b} {
		wg.Go(func() {
			<-starts
			for {
				n, err := s.Reap(t.Context())
				if err != nil {
					errs <- err
					return
				}
				total.Add(n)
				if n < batch {
					return
				}
			}
		})
	}
	close(starts)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Reap: %v", err)
	}
	ba, bb := a.Stats().Reaps, b.Stats().Reaps
	t.Logf("four reapers deleted %d rows in %d + %d batches", total.Load(), ba, bb)
	if total.Load() != expiring {
		t.Errorf("reapers deleted %d rows in all, want %d", total.Load(), expiring)
	}
	if n := count(t, a); n != live {
		t.Errorf("%d rows left, want the %d live ones", n, live)
	}
	if ba+bb < expiring/batch {
		t.Errorf("%d batches in all, want at least %d", ba+bb, expiring/batch)
	}
	checkLive(t, a)
}

// TestBackgroundReaper: the reapers New starts delete every expired row by
// themselves, in batches, two stores on one table at once, without a
// warning; Close stops them.
func TestBackgroundReaper(t *testing.T) {
	const batch = 500
	table := testSchema(t) + ".sessions"
	writer := newStoreOn(t, table, &postgres.Options{ReapInterval: -1})
	setup(t, writer)

	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	opts := &postgres.Options{ReapInterval: 50 * time.Millisecond, ReapBatch: batch, Logger: logger}
	a := newStoreOn(t, table, opts)
	b := newStoreOn(t, table, opts)
	waitFor(t, "the background reapers", func() bool { return count(t, writer) == live })
	// Close waits for the reapers, so their counts are final.
	a.Close()
	b.Close()
	ba, bb := a.Stats().Reaps, b.Stats().Reaps
	t.Logf("two background reapers ran %d + %d batches", ba, bb)
	if ba+bb < expiring/batch {
		t.Errorf("%d batches in all, want at least %d", ba+bb, expiring/batch)
	}
	time.Sleep(200 * time.Millisecond) // four reap intervals
	if n := a.Stats().Reaps + b.Stats().Reaps; n != ba+bb {
		t.Errorf("the reapers ran %d batches after Close", n-ba-bb)
	}
	if logs.Len() > 0 {
		t.Errorf("the reapers logged:\n%s", logs)
	}
	checkLive(t, writer)
}

// newStoreOn returns a store on the shared pool over table, closed when
// the test ends.
func newStoreOn(t *testing.T, table string, opts *postgres.Options) *postgres.Store {
	t.Helper()
	o := *opts
	o.Table = table
	s, err := postgres.New(t.Context(), testPool(t), &o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
