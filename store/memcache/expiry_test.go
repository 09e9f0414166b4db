package memcache_test

import (
	"math"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/memcache"
)

func TestExpiration(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 500_000_000, time.UTC)
	unix := now.Unix()
	day := 24 * time.Hour
	for _, tc := range []struct {
		ttl  time.Duration
		want int64
	}{
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{999 * time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Nanosecond, 2},
		{1500 * time.Millisecond, 2},
		{time.Hour, 3600},
		{30*day - time.Second, 30*86400 - 1},
		{30 * day, 30 * 86400},                          // the longest relative value
		{30*day + time.Nanosecond, unix + 30*86400 + 1}, // absolute from here
		{31 * day, unix + 31*86400},
		{3650 * day, unix + 3650*86400},
		{math.MaxInt32 * time.Second, math.MaxInt32}, // past 2038: capped
		{math.MaxInt64, math.MaxInt32},
	} {
		if got := memcache.Expiration(now, tc.ttl); int64(got) != tc.want {
			t.Errorf("Expiration(ttl %v) = %d, want %d", tc.ttl, got, tc.want)
		}
	}
}

// TestExpirationNeverEarly checks the guarantee for TTLs across the range:
// the expiry sent is never more than a second before now+ttl, and is never
// 0 (memcached's "never expires") or negative (expired at once).
func TestExpirationNeverEarly(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 999_999_999, time.UTC)
	limit := time.Unix(math.MaxInt32, 0)
	for ttl := time.Duration(1); ttl > 0 && ttl < math.MaxInt64/3; ttl = ttl*3 + 7 {
		got := int64(memcache.Expiration(now, ttl))
		if got <= 0 {
			t.Fatalf("Expiration(ttl %v) = %d", ttl, got)
		}
		var at time.Time
		if got <= memcache.MaxRelative {
			// The server's clock, a whole second, may be up to 1 s behind now.
			at = now.Truncate(time.Second).Add(time.Duration(got) * time.Second)
		} else {
			at = time.Unix(got, 0)
		}
		asked := now.Add(ttl)
		if ttl > limit.Sub(now) {
			asked = limit
		}
		if at.Before(asked.Add(-time.Second)) {
			t.Errorf("Expiration(ttl %v) = %d: expires at %v, more than 1s before %v", ttl, got, at, asked)
		}
		if at.After(asked.Add(time.Second)) {
			t.Errorf("Expiration(ttl %v) = %d: expires at %v, more than 1s after %v", ttl, got, at, asked)
		}
	}
}
