package auth

import (
	"sync"
	"time"
)

// tokenCache remembers verified tokens by the SHA-256 of their text, so a
// token seen again skips parsing and the signature check (revocation is
// still asked on every hit). It holds at most its size in entries, spread
// over shards with a lock each; an entry lives no later than its token's
// exp. A full shard first drops expired entries among a few it looks at,
// else one of them at random: tokens are short-lived, so recency matters
// little and random eviction needs no bookkeeping on the hit path.
type tokenCache struct {
	shards   [cacheShards]cacheShard
	perShard int
}

const (
	cacheShards = 16
	// evictScan bounds the entries a full shard looks at to make room.
	evictScan = 8
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]*cacheEntry
}

type cacheEntry struct {
	claims  *Claims // shared and read-only: Verify hands out clones
	key     *Key
	kid     string
	expires int64 // exp, Unix nanoseconds
	rs      RevocationSubject
}

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]*cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(h [32]byte) *cacheShard { return &c.shards[h[0]%cacheShards] }

func (c *tokenCache) get(h [32]byte, now time.Time) *cacheEntry {
	s := c.shard(h)
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil {
		return nil
	}
	if now.UnixNano() >= e.expires {
		c.remove(h)
		return nil
	}
	return e
}

func (c *tokenCache) put(h [32]byte, e *cacheEntry, now time.Time) {
	if now.UnixNano() >= e.expires {
		return
	}
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[h]; !ok && len(s.m) >= c.perShard {
		n, nowNS := 0, now.UnixNano()
		var victim [32]byte
		freed := false
		for k, v := range s.m {
			if nowNS >= v.expires {
				delete(s.m, k)
				freed = true
			} else if n == 0 {
				victim = k
			}
			if n++; n >= evictScan {
				break
			}
		}
		if !freed {
			delete(s.m, victim)
		}
	}
	s.m[h] = e
}

func (c *tokenCache) remove(h [32]byte) {
	s := c.shard(h)
	s.mu.Lock()
	delete(s.m, h)
	s.mu.Unlock()
}

func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
