package auth

import (
	"hash/maphash"
	"sync"
	"time"
)

// tokenCache remembers verified tokens, so a token seen again skips
// parsing and the signature check (revocation is still asked on every
// hit). Entries are keyed by a 64-bit hash of the token under a seed
// drawn per cache (hash/maphash, tens of nanoseconds where a SHA-256 of a
// token took a few hundred), and each keeps the token itself: a hit is a
// token equal to the entry's, so two tokens whose hashes collide share a
// slot (the later one evicts the earlier) and are never taken for each
// other. It holds at most its size in entries, spread
// over shards with a lock each; an entry lives no later than its token's
// exp. A full shard first drops expired entries among a few it looks at,
// else one of them at random: tokens are short-lived, so recency matters
// little and random eviction needs no bookkeeping on the hit path.
type tokenCache struct {
	shards   [cacheShards]cacheShard
	perShard int
	seed     maphash.Seed
}

const (
	cacheShards = 16
	// evictScan bounds the entries a full shard looks at to make room.
	evictScan = 8
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]*cacheEntry
}

type cacheEntry struct {
	token   string  // the token verified (a copy of it)
	claims  *Claims // shared and read-only: Verify hands out clones
	key     *Key
	kid     string
	expires int64 // exp, Unix nanoseconds
	rs      RevocationSubject
}

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{perShard: max(1, (size+cacheShards-1)/cacheShards), seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

// key is the map key of token.
func (c *tokenCache) key(token string) uint64 { return maphash.String(c.seed, token) }

func (c *tokenCache) shard(h uint64) *cacheShard { return &c.shards[h>>60%cacheShards] }

// get returns the live entry of token, whose key is h, or nil.
func (c *tokenCache) get(h uint64, token string, now time.Time) *cacheEntry {
	s := c.shard(h)
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil || e.token != token {
		return nil
	}
	if now.UnixNano() >= e.expires {
		c.remove(h)
		return nil
	}
	return e
}

func (c *tokenCache) put(h uint64, e *cacheEntry, now time.Time) {
	if now.UnixNano() >= e.expires {
		return
	}
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[h]; !ok && len(s.m) >= c.perShard {
		n, nowNS := 0, now.UnixNano()
		var victim uint64
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

func (c *tokenCache) remove(h uint64) {
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
