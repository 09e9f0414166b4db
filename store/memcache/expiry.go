package memcache

import (
	"math"
	"time"
)

// maxRelative is the longest expiry memcached reads as seconds from now:
// 30 days. A larger number is a Unix time.
const maxRelative = 30 * 24 * 60 * 60

// expiration converts a positive ttl into memcached's expiration field, as
// the package comment describes: seconds rounded up, as a Unix time past 30
// days, capped at the largest 32-bit Unix time.
func expiration(now time.Time, ttl time.Duration) int32 {
	secs := int64(ttl / time.Second)
	if ttl%time.Second > 0 || secs == 0 {
		secs++
	}
	if secs <= maxRelative {
		return int32(secs)
	}
	// now.Unix() drops the fraction of a second, so the record may end up
	// to a second early, as with the relative form. secs is at most about
	// 9.2e9, so the sum cannot overflow.
	abs := now.Unix() + secs
	if abs > math.MaxInt32 {
		return math.MaxInt32
	}
	if abs <= maxRelative {
		// A clock set before 1970-01-31 would make the absolute time look
		// relative; the longest relative expiry is the nearest we can do.
		return maxRelative
	}
	return int32(abs)
}
