// Package driver is the kit for writing a store adapter: the argument
// checks every adapter makes, in one order; version numbers; operation
// counters for store.Stats; and the rule for the secrets a store URL holds.
// Programs that only use stores need none of it: they read package store.
//
// # The shape of an adapter
//
// Each adapter of this module is a package with:
//
//   - Options, whose zero value (or nil) means the documented defaults;
//   - New(client, *Options) (*Store, error) over a client the caller made
//     and keeps owning — except store/postgres, whose New also takes a
//     context because it checks or creates its table there, and
//     store/memory, which has no client and nothing that can fail:
//     New(*Options) *Store;
//   - ParseURL(rawURL), which reads the adapter's URL into its client's
//     configuration and Options without connecting;
//   - Open(ctx, rawURL) (*Store, error), which builds and owns the client
//     (Close releases it), and an init that registers Open for the
//     adapter's schemes with store.Register — the only list of those
//     schemes;
//   - methods that begin with this package's checks (Begin, BeginKey,
//     BeginWrite, BeginTouch), so every adapter answers a bad call alike.
//
// store/storetest holds an adapter to the contract.
package driver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/stateless-go/stateless/internal/urlsecret"
	"github.com/stateless-go/stateless/store"
)

// Begin makes the checks every call makes first, in this order: the
// context (an ended one returns its error, for which errors.Is(err,
// ctx.Err()) holds), then whether the store is closed (store.ErrClosed).
func Begin(ctx context.Context, closed bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if closed {
		return store.ErrClosed
	}
	return nil
}

// BeginKey is Begin, then CheckKey: the checks of Get and Delete.
func BeginKey(ctx context.Context, closed bool, key string) error {
	if err := Begin(ctx, closed); err != nil {
		return err
	}
	return CheckKey(key)
}

// BeginWrite is BeginKey, then CheckTTL, then the value's size against
// limit in bytes (0: no limit of the adapter's own), which fails with
// store.ErrTooLarge naming both sizes: the checks of Create and Replace.
func BeginWrite(ctx context.Context, closed bool, key string, value []byte, ttl time.Duration, limit int) error {
	if err := BeginKey(ctx, closed, key); err != nil {
		return err
	}
	if err := CheckTTL(ttl); err != nil {
		return err
	}
	if limit > 0 && len(value) > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", store.ErrTooLarge, len(value), limit)
	}
	return nil
}

// BeginTouch is BeginKey, then CheckTTL: the checks of Touch.
func BeginTouch(ctx context.Context, closed bool, key string, ttl time.Duration) error {
	if err := BeginKey(ctx, closed, key); err != nil {
		return err
	}
	return CheckTTL(ttl)
}

// CheckKey reports whether key is one the contract allows: 1 to
// store.MaxKeyLen bytes. The error wraps store.ErrInvalid and never
// contains the key.
func CheckKey(key string) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", store.ErrInvalid)
	}
	if len(key) > store.MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes is longer than %d", store.ErrInvalid, len(key), store.MaxKeyLen)
	}
	return nil
}

// CheckTTL reports whether ttl is one the contract allows: positive.
func CheckTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: ttl must be positive, got %v", store.ErrInvalid, ttl)
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

// Op names an operation for Counters.
type Op uint8

// The operations Counters counts.
const (
	OpGet Op = iota
	OpCreate
	OpReplace
	OpTouch
	OpDelete
	numOps
)

// Counters counts an adapter's calls and errors for store.Stats. The zero
// value is ready; it is safe for concurrent use, and each counter sits on
// its own cache line so that calls of different kinds do not contend.
type Counters struct {
	ops    [numOps]paddedCounter
	errors paddedCounter
}

type paddedCounter struct {
	n atomic.Uint64
	_ [56]byte
}

// Count records one call of op that returned err. An error the contract
// gives as an answer (store.ErrNotFound, ErrExists, ErrConflict) is not
// counted as an error.
func (c *Counters) Count(op Op, err error) {
	c.ops[op].n.Add(1)
	if err != nil && !IsAnswer(err) {
		c.errors.n.Add(1)
	}
}

// Fill copies the counts into st.
func (c *Counters) Fill(st *store.Stats) {
	st.Gets = c.ops[OpGet].n.Load()
	st.Creates = c.ops[OpCreate].n.Load()
	st.Replaces = c.ops[OpReplace].n.Load()
	st.Touches = c.ops[OpTouch].n.Load()
	st.Deletes = c.ops[OpDelete].n.Load()
	st.Errors = c.errors.n.Load()
}

// IsAnswer reports whether err is one of the answers the contract gives
// (store.ErrNotFound, ErrExists, ErrConflict) rather than a failure.
func IsAnswer(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrConflict)
}

// SecretParam reports whether a URL query parameter of this name holds a
// secret: its lower-cased name contains "pass", "secret", "token" or
// "key". store.RedactURL masks the same ones.
func SecretParam(name string) bool { return urlsecret.Param(name) }

// URLSecrets returns the secrets rawURL holds, as written and %-decoded:
// the userinfo password and the values of secret parameters (see
// SecretParam). It reads text net/url refuses too (a host list, a password
// with an unescaped '/'), so a malformed URL's secrets are still known.
func URLSecrets(rawURL string) []string { return urlsecret.Of(rawURL) }

// Scrub returns msg with every one of secrets masked, as given and in its
// %-encoded forms: for the text of an error that a client library built
// from a URL (Scrub(err.Error(), URLSecrets(rawURL))).
func Scrub(msg string, secrets []string) string { return urlsecret.Scrub(msg, secrets) }
