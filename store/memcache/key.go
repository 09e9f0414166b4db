package memcache

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

const (
	// maxItemKeyLen is memcached's key limit.
	maxItemKeyLen = 250
	// hashMarker starts the hashed form of a key, after the prefix. A key
	// that begins with it is never stored readable, so the two forms cannot
	// meet.
	hashMarker = '~'
	// hashedKeyLen is the length of the hashed form after the prefix: the
	// marker and unpadded base64 of a SHA-256 sum.
	hashedKeyLen = 1 + (sha256.Size*8+5)/6
)

// itemKey maps a store key (1 to store.MaxKeyLen arbitrary bytes) to the
// memcached key that holds it, as the package comment describes: readable
// when memcached allows it and it fits, hashed otherwise.
func itemKey(prefix, key string) string {
	if len(prefix)+len(key) <= maxItemKeyLen && readable(key) {
		return prefix + key
	}
	sum := sha256.Sum256([]byte(key))
	b := make([]byte, 0, len(prefix)+hashedKeyLen)
	b = append(b, prefix...)
	b = append(b, hashMarker)
	b = base64.RawURLEncoding.AppendEncode(b, sum[:])
	return string(b)
}

// readable reports whether key can be a memcached key as it is: printable
// ASCII without spaces, and not starting with the hash marker.
func readable(key string) bool {
	if len(key) == 0 || key[0] == hashMarker {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// checkPrefix reports whether prefix can start every memcached key: printable
// ASCII without spaces, short enough to leave room for a hashed key. The
// prefix is no secret, so the error quotes it.
func checkPrefix(prefix string) error {
	if len(prefix) > MaxKeyPrefixLen {
		return fmt.Errorf("memcache: KeyPrefix is %d bytes, longer than %d", len(prefix), MaxKeyPrefixLen)
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("memcache: KeyPrefix %q has byte %#02x at %d; memcached keys take printable ASCII without spaces", prefix, c, i)
		}
	}
	return nil
}
