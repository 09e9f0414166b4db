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
	// ErrInvalid: a key or a TTL outside the contract (a key of 0 or more
	// than MaxKeyLen bytes, a ttl that is not positive). Nothing is
	// written.
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
	// draw versions at random from 64 bits, see store/driver's NewVersion), so a stale
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

// # Optional capabilities
//
// A store may offer more than Store through the interfaces below; callers
// probe for them with a type assertion, as io/fs does for its file
// systems:
//
//	if sr, ok := s.(store.StatsReporter); ok { st := sr.Stats(); … }
//
// store/storetest checks each capability a store claims. What the adapters
// of this module offer:
//
//	            NonBlocking  StatsReporter  CompareAndDeleter  CreateOrGetter
//	memory      yes          yes            yes                yes
//	redis                    yes            yes                yes
//	memcache                 yes            (no: memcached cannot delete on a version)
//	postgres                 yes            yes                yes
//
// A wrapper around a store should forward a capability only if it can
// keep its promise.

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

// CompareAndDeleter is an optional capability: a delete that happens only
// if the record is still the one the caller read.
type CompareAndDeleter interface {
	Store
	// CompareAndDelete removes the live record under key only if its
	// version is version. It answers ErrConflict if the record holds
	// another version (it is left as it was) and ErrNotFound if no live
	// record is there. Of concurrent CompareAndDeletes of one record with
	// its version, exactly one succeeds and the others answer ErrNotFound.
	CompareAndDelete(ctx context.Context, key string, version uint64) error
}

// CreateOrGetter is an optional capability: Create, or else a Get of what
// the key holds, in one operation. A caller that means to claim a key but
// must read it when it is taken (package idempotency claims a key for a
// first execution and replays it on a retry) pays one round trip for
// either outcome instead of two.
type CreateOrGetter interface {
	Store
	// CreateOrGet stores value under key as Create does, and then returns
	// the new record's version in rec (rec.Value nil) and created true.
	// If a live record holds the key it writes nothing and returns that
	// record, as Get would, with created false and a nil error: never
	// ErrExists. Its other errors are Create's. Of concurrent
	// CreateOrGets of one absent key exactly one creates; the others
	// return its record (or a later one).
	CreateOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) (rec Record, created bool, err error)
}

// StatsReporter is an optional capability: a store that reports what it
// has done, for metrics and tests.
type StatsReporter interface {
	Store
	// Stats returns a snapshot. It is cheap (no network) and safe to call
	// at any time, before and after Close.
	Stats() Stats
}

// Stats is a snapshot of a store's work since it was made. Counters only
// grow; gauges (Queued, InFlight, Conns, IdleConns, Entries, Bytes) are as
// of the call. A figure an adapter has no notion of stays 0; each adapter's
// documentation says which it fills.
type Stats struct {
	// Calls per operation, whatever their answer. CompareAndDelete counts
	// as a Delete.
	Gets, Creates, Replaces, Touches, Deletes uint64
	// Errors counts calls that failed for a reason other than the answers
	// the contract gives (ErrNotFound, ErrExists, ErrConflict): the
	// network, the server, an ended context, ErrClosed, ErrInvalid,
	// ErrTooLarge.
	Errors uint64

	// Batches counts round trips that carried more than one call, and
	// BatchedCalls the calls they carried: BatchedCalls/Batches is the mean
	// batch size. BatchFallbacks counts batches the server refused, whose
	// calls then went one by one.
	Batches, BatchedCalls, BatchFallbacks uint64
	// Queued is how many calls wait now for their turn to go to the
	// backend (a pipeline or batch slot, a connection under an in-flight
	// bound), and InFlight how many are out on it.
	Queued, InFlight int
	// Conns and IdleConns are the connections open now, and how many of
	// them are idle.
	Conns, IdleConns int

	// Entries and Bytes are the records an in-process store holds and the
	// bytes it counts for them; Evictions counts live records it dropped to
	// stay within its bounds.
	Entries, Bytes int64
	Evictions      uint64
	// Reaps counts statements that removed expired records (a store whose
	// backend does not expire records itself).
	Reaps uint64
}
