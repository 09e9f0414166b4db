package postgres_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/postgres"
)

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want int64 // microseconds
	}{
		{time.Nanosecond, 1},
		{time.Microsecond, 1},
		{time.Microsecond + 1, 2},
		{time.Second, 1_000_000},
		{time.Hour + 999*time.Nanosecond, 3_600_000_001},
		{math.MaxInt64, 9_223_372_036_854_776},
	} {
		got := postgres.Interval(tc.ttl)
		if !got.Valid || got.Microseconds != tc.want || got.Days != 0 || got.Months != 0 {
			t.Errorf("interval(%d ns) = %+v, want %d µs (rounded up)", tc.ttl, got, tc.want)
		}
	}
}

// TestServerClock: expiry is set from the server's clock, and the largest
// ttl is stored as given, about 292 years ahead, not capped or overflowed.
func TestServerClock(t *testing.T) {
	s := newStore(t, nil)
	pool := testPool(t)
	for _, tc := range []struct {
		key string
		ttl time.Duration
	}{{"hour", time.Hour}, {"max", math.MaxInt64}} {
		if _, err := s.Create(t.Context(), tc.key, nil, tc.ttl); err != nil {
			t.Fatalf("Create(ttl %v): %v", tc.ttl, err)
		}
		var iv pgtype.Interval
		err := pool.QueryRow(t.Context(), "SELECT expires_at - now() FROM "+s.Table()+" WHERE key = $1", []byte(tc.key)).Scan(&iv)
		if err != nil {
			t.Fatal(err)
		}
		// From one statement's now() to a later one's, on one clock: a
		// little under the ttl (rounded up to µs), by about a round trip.
		left := int64(iv.Months)*30*86_400_000_000 + int64(iv.Days)*86_400_000_000 + iv.Microseconds
		want := postgres.Interval(tc.ttl).Microseconds
		if left > want || left < want-int64(time.Minute/time.Microsecond) {
			t.Errorf("ttl %v: server says expires_at - now() = %d µs, want just under %d µs", tc.ttl, left, want)
		}
	}
}

func TestMaxValueSize(t *testing.T) {
	s := newStore(t, &postgres.Options{MaxValueSize: 1000})
	v, err := s.Create(t.Context(), "k", make([]byte, 1000), time.Hour)
	if err != nil {
		t.Fatalf("Create of exactly MaxValueSize bytes: %v", err)
	}
	if _, err := s.Create(t.Context(), "k2", make([]byte, 1001), time.Hour); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Create of MaxValueSize+1 bytes = %v, want store.ErrTooLarge", err)
	}
	if _, err := s.Replace(t.Context(), "k", make([]byte, 1001), time.Hour, v); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Replace with MaxValueSize+1 bytes = %v, want store.ErrTooLarge", err)
	}
	if n := count(t, s); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
}

// TestCloseLeavesPool: a store made by New does not own its pool.
func TestCloseLeavesPool(t *testing.T) {
	s := newStore(t, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reap(t.Context()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Reap after Close = %v, want store.ErrClosed", err)
	}
	if err := testPool(t).Ping(t.Context()); err != nil {
		t.Errorf("the caller's pool after Close: %v", err)
	}
}

// TestOpenOwnsPool: a store made by Open closes its pool, and answers
// ErrClosed afterwards rather than a pgx error.
func TestOpenOwnsPool(t *testing.T) {
	url := withParams(testenv.PostgresURL(t), "table="+testSchema(t)+".owned")
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s.Close()
	if err := s.Ping(t.Context()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close = %v, want store.ErrClosed", err)
	}
}
