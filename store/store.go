// Package store defines Store, the contract every backend of this module
// implements (sessions, idempotency keys, signing keys and anything else
// that needs a shared versioned key-value store), and Open, which picks a
// backend by URL.
//
// The contract is small on purpose: atomic create-if-absent, compare-and-swap
// on a version, touch, delete, and a read that returns the value with its
// version. Those are the operations that let any number of stateless
// instances share sessions (or idempotency keys) without ever minting the
// same key twice or silently overwriting each other's writes.
//
// Adapters live in sub-packages (store/memory, store/redis, store/memcache,
// store/postgres); each one is proven by the shared conformance suite in
// store/storetest, which checks every guarantee written down here.
package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// The errors every adapter returns, wrapped or bare; check them with
// errors.Is. An adapter may wrap them with detail, but never with a key's
// content, a value or a credential.
var (
	// ErrNotFound: the key is absent or its record has expired. Every
	// adapter maps its client's "miss" to this error, never to a nil error.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: Create found a live record under the key.
	ErrExists = errors.New("store: already exists")
	// ErrConflict: Replace was given a version that is not the record's
	// current one; another writer got there first.
	ErrConflict = errors.New("store: version conflict")
	// ErrTooLarge: the value is over the adapter's size limit.
	ErrTooLarge = errors.New("store: value too large")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid: a key or a TTL outside the contract (see CheckKey and
	// CheckTTL). Nothing is written.
	ErrInvalid = errors.New("store: invalid argument")
)

// MaxKeyLen is the longest key, in bytes, that every adapter accepts. Keys
// are arbitrary bytes: spaces, control bytes, invalid UTF-8 and Redis hash-tag
// braces are all allowed, and two different keys never share a record.
const MaxKeyLen = 250

// Record is one stored value with its version.
type Record struct {
	// Value is the stored bytes; an empty value is a valid value. The slice
	// belongs to the caller.
	Value []byte
	// Version identifies this write of the key. It changes on every Create
	// and Replace, is kept by Touch, and is never 0 for a live record. A
	// version is never reused for a later record of the same key (adapters
	// draw versions at random from 64 bits, see NewVersion), so a stale
	// version cannot match a record that was deleted and created again.
	Version uint64
}

// Store is a shared key-value store with expiry and optimistic
// concurrency, safe for concurrent use by many goroutines and many processes.
//
// Every method honours its context: a context that is already done makes
// the call return at once with an error for which errors.Is(err, ctx.Err())
// holds. One that ends while the call waits on the network ends the call as
// soon as the adapter's client notices: at once for pgx and gomemcache (whose
// round trip is abandoned to finish in the background), at a deadline for
// go-redis, and for a cancellation without deadline at the latest after
// go-redis's read timeout, whose error then matches ctx.Err() too.
//
// Expiry rules, the same for every adapter:
//   - ttl must be positive; zero or negative is ErrInvalid and nothing
//     changes.
//   - Every write (Create, Replace, Touch) sets the record's remaining life to
//     ttl, longer or shorter than before.
//   - A huge ttl, up to math.MaxInt64, is capped at the longest life the
//     backend can express; it never overflows into an error or an instant
//     expiry.
//   - An expired record is gone: Get, Replace and Touch answer ErrNotFound and
//     Create succeeds. An adapter keeps time to its documented resolution
//     (memcached: one second, as its clock ticks in seconds; Redis: a
//     millisecond): a record never expires more than that before its time,
//     nor lives more than that beyond it.
//
// Create and Replace do not keep the caller's slice; Get returns a slice the
// caller may keep and modify.
type Store interface {
	// Get returns the live record under key, or ErrNotFound.
	Get(ctx context.Context, key string) (Record, error)

	// Create stores value under key if no live record is there, atomically:
	// of any number of concurrent Creates of one key, exactly one succeeds.
	// It returns the new version, or ErrExists if a live record is there (an
	// expired one is replaced).
	Create(ctx context.Context, key string, value []byte, ttl time.Duration) (version uint64, err error)

	// Replace stores value under key only if the live record's version is
	// version (compare-and-swap) and returns the new version. It answers
	// ErrConflict if the version differs (the record is left as it was) and
	// ErrNotFound if no live record is there. A Replace racing a Delete of
	// the key may answer either; in both cases nothing was written.
	Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (newVersion uint64, err error)

	// Touch sets the remaining life of the live record under key to ttl,
	// keeping its value and version, without rewriting the value. It answers
	// ErrNotFound if no live record is there.
	Touch(ctx context.Context, key string, ttl time.Duration) error

	// Delete removes the record under key. A missing key is not an error.
	Delete(ctx context.Context, key string) error

	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error

	// Close releases what the store itself opened (a client passed in by the
	// caller stays open). Every later call answers ErrClosed; calling Close
	// again returns nil.
	Close() error
}

// SessionStore is the contract's first name, kept so that code written
// against it still builds.
//
// Deprecated: use Store; the contract serves more than sessions.
type SessionStore = Store

// NonBlocking is an optional capability: a store whose operations never
// wait on a network, a disk or another process — they work in this
// process's memory and return, as store/memory's do. Callers that bound
// every store operation with a deadline (session.Options.StoreTimeout)
// skip the deadline for such a store, saving its cost on every call. A
// wrapper around a store implements it only if what it wraps does and it
// adds no waiting of its own.
type NonBlocking interface {
	Store
	NonBlocking()
}

// CheckKey reports whether key is one the contract allows: 1 to MaxKeyLen
// bytes. The error wraps ErrInvalid and never contains the key.
func CheckKey(key string) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes is longer than %d", ErrInvalid, len(key), MaxKeyLen)
	}
	return nil
}

// CheckTTL reports whether ttl is one the contract allows: positive.
func CheckTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: ttl must be positive, got %v", ErrInvalid, ttl)
	}
	return nil
}

// CheckWrite checks the arguments of a Create or Replace: the key (see
// CheckKey), the ttl (see CheckTTL) and the value's size against limit, in
// bytes (0: no limit), which it reports as ErrTooLarge with both sizes.
func CheckWrite(key string, value []byte, ttl time.Duration, limit int) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := CheckTTL(ttl); err != nil {
		return err
	}
	if limit > 0 && len(value) > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(value), limit)
	}
	return nil
}

// NewVersion returns a random, non-zero version for a new write. Adapters
// that cannot keep a counter per key (most of them) use it so that versions
// are never reused: two draws collide with probability 2⁻⁶⁴.
func NewVersion() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}
