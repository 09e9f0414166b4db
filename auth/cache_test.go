package auth

import (
	"testing"
	"time"
)

// TestCacheKeyCollision: the cache's map key is a 64-bit hash, and a token
// whose hash meets a cached token's is not taken for it: the hit needs the
// very token. Keys are forced to collide here, which a seeded maphash makes
// out of reach for a client.
func TestCacheKeyCollision(t *testing.T) {
	c := newTokenCache(16)
	now := time.Now()
	good := &cacheEntry{token: "header.payload.signature", claims: &Claims{Subject: "alice"}, expires: now.Add(time.Minute).UnixNano()}
	const h = 42 // the same key for both tokens
	c.put(h, good, now)
	if e := c.get(h, "header.payload.signature", now); e != good {
		t.Fatalf("get of the cached token: %v, want its entry", e)
	}
	if e := c.get(h, "header.payload.forged", now); e != nil {
		t.Fatalf("get of another token with the same key: entry of %q, want none", e.token)
	}
	// The other token, once verified, takes the slot; the first is then a
	// miss (verified again), never the second's entry.
	other := &cacheEntry{token: "header.payload.forged", claims: &Claims{Subject: "mallory"}, expires: now.Add(time.Minute).UnixNano()}
	c.put(h, other, now)
	if e := c.get(h, "header.payload.signature", now); e != nil {
		t.Fatalf("get of the evicted token: entry of %q, want none", e.token)
	}
	if c.key("a") == c.key("b") || c.key("a") != c.key("a") {
		t.Errorf("key: not a function of the token")
	}
}
