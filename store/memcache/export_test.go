package memcache

import "time"

// Internals the external tests check directly.

// ItemKey is the memcached key of key under prefix.
func ItemKey(prefix, key string) string { return itemKey(prefix, key) }

// Expiration is the expiration field sent for ttl at now.
func Expiration(now time.Time, ttl time.Duration) int32 { return expiration(now, ttl) }

const (
	HashedKeyLen = hashedKeyLen
	MaxRelative  = maxRelative
)
