package memcache_test

import (
	"strings"
	"testing"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
	"github.com/stateless-go/stateless/store/memcache"
)

// oddKeys are keys memcached refuses as they are, keys at the length
// limits, and keys that imitate the other form of encoding.
func oddKeys(prefix string) []string {
	return []string{
		"a", "a b", "a_b", "a%20b", "a\tb", " leading", "trailing ", "\r\n",
		"\x00", "\x00\x00", "\x7f", "\xff", "\xff\xfe", "é", "日本語", "{tag}:x",
		"~", "~a", "~~",
		// the hashed form of "a b", written as a key of its own
		strings.TrimPrefix(memcache.ItemKey(prefix, "a b"), prefix),
		strings.Repeat("k", store.MaxKeyLen),
		strings.Repeat("k", store.MaxKeyLen-1),
		strings.Repeat("k", 250-len(prefix)),   // longest stored as is
		strings.Repeat("k", 250-len(prefix)+1), // one more: hashed
		strings.Repeat("\x00", store.MaxKeyLen),
		strings.Repeat("é", store.MaxKeyLen/2),
	}
}

// legalItemKey is memcached's rule for a text-protocol key.
func legalItemKey(k string) bool {
	if len(k) == 0 || len(k) > 250 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] >= 0x7f {
			return false
		}
	}
	return true
}

func TestItemKeyReadable(t *testing.T) {
	for _, tc := range []struct{ prefix, key string }{
		{"", "a"},
		{"", "session:0123abc"},
		{"", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"},
		{"", strings.Repeat("k", 250)},
		{"stateless:", "a~b"},
		{"stateless:", strings.Repeat("k", 240)},
		{"~", "a"}, // the marker may be in the prefix: only what follows it counts
	} {
		if got := memcache.ItemKey(tc.prefix, tc.key); got != tc.prefix+tc.key {
			t.Errorf("ItemKey(%q, %q) = %q, want the key as is after the prefix", tc.prefix, tc.key, got)
		}
	}
}

func TestItemKeyHashed(t *testing.T) {
	for _, prefix := range []string{"", "stateless:", strings.Repeat("p", memcache.MaxKeyPrefixLen)} {
		for _, key := range []string{
			"a b", "\x00", "\x7f", "\xff", "é", "~", "~abc", "\n",
			strings.Repeat("k", 251-len(prefix)),
		} {
			got := memcache.ItemKey(prefix, key)
			rest, ok := strings.CutPrefix(got, prefix+"~")
			if !ok || len(got) != len(prefix)+memcache.HashedKeyLen || !legalItemKey(got) {
				t.Errorf("ItemKey(%q, %q) = %q, want the prefix, '~' and 43 bytes of base64url", prefix, key, got)
				continue
			}
			if strings.ContainsFunc(rest, func(r rune) bool {
				return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_')
			}) {
				t.Errorf("ItemKey(%q, %q) = %q: not base64url after the marker", prefix, key, got)
			}
		}
	}
}

// TestItemKeyDistinct checks that no two of the odd keys share an item key.
func TestItemKeyDistinct(t *testing.T) {
	for _, prefix := range []string{"", "t:", strings.Repeat("p", memcache.MaxKeyPrefixLen)} {
		seen := map[string]string{}
		for _, k := range oddKeys(prefix) {
			ik := memcache.ItemKey(prefix, k)
			if !legalItemKey(ik) {
				t.Errorf("ItemKey(%q, %q) = %q: not a legal memcached key", prefix, k, ik)
			}
			if other, dup := seen[ik]; dup && other != k {
				t.Errorf("prefix %q: keys %q and %q share the item key %q", prefix, other, k, ik)
			}
			seen[ik] = k
		}
	}
}

// FuzzItemKey checks, for any two keys the contract allows, that the item
// keys are legal and that different keys never share one.
func FuzzItemKey(f *testing.F) {
	for _, k := range oddKeys("t:") {
		f.Add("t:", k, "a b")
	}
	f.Fuzz(func(t *testing.T, prefix, a, b string) {
		if len(prefix) > memcache.MaxKeyPrefixLen || !legalItemKey(prefix) && prefix != "" {
			t.Skip()
		}
		if driver.CheckKey(a) != nil || driver.CheckKey(b) != nil {
			t.Skip()
		}
		ia, ib := memcache.ItemKey(prefix, a), memcache.ItemKey(prefix, b)
		if !legalItemKey(ia) || !strings.HasPrefix(ia, prefix) {
			t.Fatalf("ItemKey(%q, %q) = %q: not a legal memcached key under the prefix", prefix, a, ia)
		}
		if ia == ib && a != b {
			t.Fatalf("keys %q and %q share the item key %q", a, b, ia)
		}
	})
}
