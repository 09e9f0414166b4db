package memcache

import "time"

// Internals the external tests check directly.

// ItemKey is the memcached key of key under prefix.
func ItemKey(prefix, key string) string { return itemKey(prefix, key) }

// Expiration is the expiration field sent for ttl at now.
func Expiration(now time.Time, ttl time.Duration) int32 { return expiration(now, ttl) }

// ParsedURL is what a memcache:// URL says, for URL tests.
type ParsedURL struct {
	Servers      []string
	KeyPrefix    string
	MaxValueSize int
	Timeout      time.Duration
	MaxIdleConns int
	MaxInFlight  int
}

func ParseURL(rawURL string) (*ParsedURL, error) {
	c, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return &ParsedURL{
		Servers:      c.servers,
		KeyPrefix:    c.opts.KeyPrefix,
		MaxValueSize: c.opts.MaxValueSize,
		Timeout:      c.timeout,
		MaxIdleConns: c.maxIdleConns,
		MaxInFlight:  c.opts.MaxInFlight,
	}, nil
}

const (
	HashedKeyLen = hashedKeyLen
	MaxRelative  = maxRelative
)
