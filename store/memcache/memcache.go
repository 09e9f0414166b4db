// Package memcache is a store.Store over memcached, through
// github.com/bradfitz/gomemcache, registered for "memcache://" URLs.
//
// Memcached has no versions, counts time in whole seconds, limits keys to
// 250 bytes without spaces or control bytes, and limits items to 1 MiB. This
// package keeps every guarantee of the store contract on top of that:
//
//   - Versions: each item holds its version, drawn by driver.NewVersion, in
//     front of the value (see "Item layout"). Create is memcached's atomic
//     "add"; Replace is "gets", a version check, then "cas", so a concurrent
//     writer between the two makes Replace fail with store.ErrConflict
//     instead of being overwritten.
//   - Keys: every key the contract allows works (see "Keys").
//   - Expiry: whole seconds, rounded up (see "Expiry"). The suite is told
//     TTLResolution = time.Second.
//   - Size: values longer than Options.MaxValueSize (DefaultMaxValueSize
//     unless set) fail with store.ErrTooLarge before anything is sent, and so
//     does a server's "object too large for cache" answer.
//   - Several servers: Open spreads keys over them with a
//     RendezvousSelector, which moves only the keys it must when a server is
//     added or removed.
//   - Connections: at most Options.MaxInFlight round trips (URL parameter
//     max_in_flight, DefaultMaxInFlight unless set) are in flight to
//     each server at once; later calls queue (see "Concurrency").
//   - Stats: the Store is a store.StatsReporter (calls, errors, InFlight,
//     Queued). It is no store.CompareAndDeleter: memcached's text protocol
//     has no delete conditioned on a CAS value.
//
// # Item layout
//
// An item's value is the record's version as 8 bytes, big-endian, followed
// by the record's value; its flags are ItemFlags, so that an item some other
// program wrote under one of our keys is reported as an error instead of
// being misread. Touch uses memcached's "touch", which rewrites neither.
//
// # Keys
//
// A key of printable ASCII (0x21 to 0x7e) that does not begin with '~' is
// stored as KeyPrefix+key when that fits in memcached's 250 bytes, so keys
// stay readable in memcached's own tools. Every other key (spaces, control
// bytes, NUL, bytes of 0x80 and above, a leading '~', or too long with the
// prefix) is stored as KeyPrefix + "~" + the unpadded base64url SHA-256 of
// the key: 44 bytes after the prefix. A readable key never begins with '~',
// so it can never equal a hashed one, and two different keys share an item
// only if SHA-256 collides.
//
// Stores that share servers must not share a prefix, and no prefix should be
// the beginning of another ("app:" and "app:x" would overlap); ending each
// prefix with a separator such as ':' avoids that.
//
// # Expiry
//
// A TTL is sent as whole seconds, rounded up. Memcached's clock ticks once a
// second, so a record lives between ttl rounded up minus one second and ttl
// rounded up: never more than one second less than asked, and less than a
// second more. A TTL over 30 days is sent as an absolute Unix time (memcached
// reads any relative value over 30 days as one), computed from this
// machine's clock, so those long expiries assume the client's and the
// server's clocks agree. A TTL past what the protocol can express (a 32-bit
// Unix time: January 2038) is capped there, never refused.
//
// # Contexts
//
// gomemcache takes no context. Every method checks its context before each
// round trip to the server (Replace makes two), so a context that is already
// done stops the call before anything is sent. A context that ends during a
// round trip ends the call at once, with an error that matches the
// context's with errors.Is, whatever the client's Timeout: a server that
// hangs (stopped, or behind a network that drops packets) costs a caller no
// more than its context allows. The round trip itself goes on in the
// background until the server answers or the client's Timeout (Open: one
// second, DefaultTimeout) ends it; gomemcache closes a connection whose
// round trip failed, so no later call ever reads an abandoned call's reply.
// What an abandoned write did is unknown, as for any call cancelled in
// flight: it may still take effect. A round trip that ended before the
// context did is reported as it went.
//
// # Concurrency
//
// gomemcache opens a connection for every call that finds no idle one, so
// a burst of calls would open as many connections as there are calls, and
// memcached refuses those beyond its limit (-c, 1024 by default, counting
// every client's connections) with "ERROR Too many open connections". A
// Store therefore bounds its round trips in flight to each server to
// Options.MaxInFlight (DefaultMaxInFlight, 32, unless set; URL parameter
// max_in_flight): a call beyond the bound waits for a slot of its key's
// server, in about the order calls arrived, and a call whose context ends
// while it waits returns the context's error having sent nothing. Ping
// takes a slot of every server. A round trip abandoned when its context
// ended keeps its slot until it really ends (the server answers, or the
// client's Timeout), so a hung server holds at most MaxInFlight
// connections of this Store, never more.
//
// Open gives its client MaxIdleConns equal to MaxInFlight, so the
// connections a burst opens stay open for the next one: a Store from Open
// holds at most MaxInFlight connections to each server, busy or idle. Size
// it so that every instance's MaxInFlight together stays under the
// server's -c. Should the server refuse a connection anyway, the error
// matches ErrTooManyConnections and names both limits.
package memcache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
)

// DefaultMaxValueSize is the longest value a Store accepts unless
// Options.MaxValueSize says otherwise: 1 MiB minus 1 KiB, 1,047,552 bytes.
//
// A memcached started with the default item size limit (-I 1m) counts the
// item's header, key, flags and CAS value against that megabyte. With the
// longest key (250 bytes) and flags set, memcached 1.6.18 and 1.6.38 both
// take a stored value of at most 1,048,263 bytes, 313 under 1 MiB; our
// version takes 8 of them, so 1,048,255 bytes of value always fit. The
// limit stays about 700 bytes below that, for builds with larger headers:
// a value of exactly this size is stored by a default server, and one byte
// more fails with store.ErrTooLarge before it is sent.
const DefaultMaxValueSize = 1<<20 - 1<<10

// ItemFlags are the memcached flags of every item a Store writes: the
// format marker of the item layout described in the package comment.
const ItemFlags uint32 = 0x73746c31 // "stl1"

// versionLen is the length of the version in front of each item's value.
const versionLen = 8

// Options configure a Store. Nil means the defaults.
type Options struct {
	// KeyPrefix goes in front of every memcached key this Store uses, to
	// keep its items apart from other programs' and other stores'. It must
	// be printable ASCII without spaces, at most MaxKeyPrefixLen bytes. The
	// default is no prefix; on servers shared with anything else, use one
	// ending in a separator, such as "stateless:".
	KeyPrefix string

	// MaxValueSize is the longest value accepted, in bytes; longer ones
	// fail with store.ErrTooLarge before anything is sent. 0 means
	// DefaultMaxValueSize, right for servers with the default item size
	// limit; a server started with a larger -I can take a larger value here.
	// A value the server still refuses as too large is store.ErrTooLarge
	// too.
	MaxValueSize int

	// MaxInFlight is the most round trips this Store has in flight to one
	// server at once (Ping counts on every server); calls beyond it wait
	// for a slot, or for their context to end. 0 means DefaultMaxInFlight.
	// Give the client at least as many MaxIdleConns (Open does), or
	// connections opened in a burst are closed again after it.
	MaxInFlight int

	// Selector is the client's ServerSelector, the one given to
	// gomemcache.NewFromSelector, which the Store asks for each key's
	// server so that MaxInFlight bounds each server. Nil, MaxInFlight
	// bounds the round trips to all the client's servers together. Open
	// sets it.
	Selector gomemcache.ServerSelector
}

// DefaultMaxInFlight is the most round trips in flight to one server
// unless Options.MaxInFlight says otherwise, and so (through Open's
// MaxIdleConns) the most connections a Store from Open keeps to it. 32
// leaves memcached's default connection limit (1024) room for about 30
// instances sharing a server, and is already more than a server's few
// worker threads (4 by default) answer at once: more in flight only
// lengthens the server's queue. Measured here (BenchmarkBurst), 1500
// concurrent Gets took about as long with 8, 32 or 256 in flight.
const DefaultMaxInFlight = 32

// ErrTooManyConnections is matched (with errors.Is) by the error of a call
// that a server refused because it has too many open connections.
var ErrTooManyConnections = errors.New("memcache: the server has too many open connections")

// MaxKeyPrefixLen is the longest KeyPrefix: what leaves room in memcached's
// 250-byte keys for a hashed key (a '~' and 43 bytes of base64url SHA-256).
const MaxKeyPrefixLen = maxItemKeyLen - hashedKeyLen

// Store is a store.Store over memcached. Create it with New or Open.
// It is safe for concurrent use.
type Store struct {
	client   *gomemcache.Client
	prefix   string
	maxValue int
	owned    bool // Close closes client: Open made it
	closed   atomic.Bool

	// Slots: a semaphore of maxInFlight per server, a channel whose
	// buffer holds one value for each round trip in flight.
	maxInFlight int
	sel         gomemcache.ServerSelector                // nil: every round trip takes all
	all         chan struct{}                            // the slots when sel is nil
	slots       atomic.Pointer[map[string]chan struct{}] // server → its slots; copied on write
	slotsMu     sync.Mutex                               // serializes writers of slots
	queued      atomic.Int64                             // calls waiting for a slot

	count driver.Counters
}

var _ store.StatsReporter = (*Store)(nil)

// New returns a Store over client, which it does not own: Close marks the
// Store closed and leaves the client open for its other users. opts may be
// nil.
//
// The client's selector decides which server holds each key; give it a
// RendezvousSelector when there are several servers (gomemcache's default
// ServerList remaps most keys when one is added or removed). The client's
// Timeout bounds each round trip; a call returns when its context ends even
// if the round trip goes on (see "Contexts" in the package documentation).
func New(client *gomemcache.Client, opts *Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("memcache: New: nil client")
	}
	if opts == nil {
		opts = &Options{}
	}
	if err := checkPrefix(opts.KeyPrefix); err != nil {
		return nil, err
	}
	maxValue := opts.MaxValueSize
	switch {
	case maxValue < 0:
		return nil, fmt.Errorf("memcache: MaxValueSize %d is negative", maxValue)
	case maxValue == 0:
		maxValue = DefaultMaxValueSize
	}
	maxInFlight := opts.MaxInFlight
	switch {
	case maxInFlight < 0:
		return nil, fmt.Errorf("memcache: MaxInFlight %d is negative", maxInFlight)
	case maxInFlight == 0:
		maxInFlight = DefaultMaxInFlight
	}
	s := &Store{client: client, prefix: opts.KeyPrefix, maxValue: maxValue, maxInFlight: maxInFlight, sel: opts.Selector}
	if s.sel == nil {
		s.all = make(chan struct{}, maxInFlight)
	}
	return s, nil
}

// serverSlots returns the slots of the server that holds itemKey.
func (s *Store) serverSlots(itemKey string) (chan struct{}, error) {
	if s.sel == nil {
		return s.all, nil
	}
	addr, err := s.sel.PickServer(itemKey)
	if err != nil {
		return nil, err
	}
	return s.slotsOf(addr), nil
}

// slotsOf returns the slots of the server at addr, made on first use.
func (s *Store) slotsOf(addr net.Addr) chan struct{} {
	name := addr.String()
	if m := s.slots.Load(); m != nil {
		if c, ok := (*m)[name]; ok {
			return c
		}
	}
	s.slotsMu.Lock()
	defer s.slotsMu.Unlock()
	var old map[string]chan struct{}
	if m := s.slots.Load(); m != nil {
		old = *m
	}
	if c, ok := old[name]; ok {
		return c
	}
	m := make(map[string]chan struct{}, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	c := make(chan struct{}, s.maxInFlight)
	m[name] = c
	s.slots.Store(&m)
	return c
}

// acquire takes a slot of slots, waiting for one as long as ctx lets it.
func (s *Store) acquire(ctx context.Context, slots chan struct{}) error {
	select {
	case slots <- struct{}{}:
		return nil
	default:
	}
	s.queued.Add(1)
	defer s.queued.Add(-1)
	select {
	case slots <- struct{}{}:
		if err := ctx.Err(); err != nil { // both at once: send nothing
			<-slots
			return err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Get implements store.Store with one "gets".
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	r, err := s.get(ctx, key)
	s.count.Count(driver.OpGet, err)
	return r, err
}

// Create implements store.Store with one "add", which memcached
// performs atomically: of concurrent Creates of one key, one succeeds.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	v, err := s.create(ctx, key, value, ttl)
	s.count.Count(driver.OpCreate, err)
	return v, err
}

// Replace implements store.Store with "gets", which reads the
// version, then "cas", which writes only if nothing wrote the item since.
//
// The cas can fail two ways after the version matched: the item changed
// (another writer won: store.ErrConflict), or the item is gone (deleted,
// expired or evicted in between: store.ErrNotFound, which is what a Replace
// made a moment later would answer; a record created again in between has
// a new CAS and so answers ErrConflict).
func (s *Store) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	v, err := s.replace(ctx, key, value, ttl, version)
	s.count.Count(driver.OpReplace, err)
	return v, err
}

// Touch implements store.Store with one "touch", which sets the
// expiry without sending or rewriting the value (and keeps the CAS value,
// so it never makes a concurrent Replace fail).
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	err := s.touch(ctx, key, ttl)
	s.count.Count(driver.OpTouch, err)
	return err
}

// Delete implements store.Store with one "delete".
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.del(ctx, key)
	s.count.Count(driver.OpDelete, err)
	return err
}

// Stats implements store.StatsReporter: calls per operation and errors,
// InFlight (round trips out now, each on a connection of its own) and
// Queued (calls waiting for one of MaxInFlight slots). gomemcache does not
// report its connection pool, so Conns and IdleConns stay 0.
func (s *Store) Stats() store.Stats {
	var st store.Stats
	s.count.Fill(&st)
	st.Queued = int(s.queued.Load())
	if s.sel == nil {
		st.InFlight = len(s.all)
	} else if m := s.slots.Load(); m != nil {
		for _, c := range *m {
			st.InFlight += len(c)
		}
	}
	return st
}

func (s *Store) get(ctx context.Context, key string) (store.Record, error) {
	if err := driver.BeginKey(ctx, s.closed.Load(), key); err != nil {
		return store.Record{}, err
	}
	ik := itemKey(s.prefix, key)
	var it *gomemcache.Item
	err := s.roundTrip(ctx, ik, func() (err error) {
		it, err = s.client.Get(ik)
		return err
	})
	if err != nil {
		if errors.Is(err, gomemcache.ErrCacheMiss) {
			return store.Record{}, store.ErrNotFound
		}
		return store.Record{}, s.wrap(ctx, "get", ik, err)
	}
	version, value, err := decode(it)
	if err != nil {
		return store.Record{}, err
	}
	return store.Record{Value: value, Version: version}, nil
}

func (s *Store) create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	if err := driver.BeginWrite(ctx, s.closed.Load(), key, value, ttl, s.maxValue); err != nil {
		return 0, err
	}
	version := driver.NewVersion()
	ik := itemKey(s.prefix, key)
	item := &gomemcache.Item{
		Key:        ik,
		Value:      encode(version, value),
		Flags:      ItemFlags,
		Expiration: expiration(time.Now(), ttl),
	}
	err := s.roundTrip(ctx, ik, func() error { return s.client.Add(item) })
	switch {
	case err == nil:
		return version, nil
	case errors.Is(err, gomemcache.ErrNotStored):
		return 0, store.ErrExists
	}
	return 0, s.wrap(ctx, "add", ik, err)
}

func (s *Store) replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	if err := driver.BeginWrite(ctx, s.closed.Load(), key, value, ttl, s.maxValue); err != nil {
		return 0, err
	}
	ik := itemKey(s.prefix, key)
	var it *gomemcache.Item
	err := s.roundTrip(ctx, ik, func() (err error) {
		it, err = s.client.Get(ik)
		return err
	})
	if err != nil {
		if errors.Is(err, gomemcache.ErrCacheMiss) {
			return 0, store.ErrNotFound
		}
		return 0, s.wrap(ctx, "gets", ik, err)
	}
	current, _, err := decode(it)
	if err != nil {
		return 0, err
	}
	if current != version {
		return 0, store.ErrConflict
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	newVersion := driver.NewVersion()
	// it keeps the key and the CAS value of the gets.
	it.Value = encode(newVersion, value)
	it.Flags = ItemFlags
	it.Expiration = expiration(time.Now(), ttl)
	err = s.roundTrip(ctx, ik, func() error { return s.client.CompareAndSwap(it) })
	switch {
	case err == nil:
		return newVersion, nil
	case errors.Is(err, gomemcache.ErrCASConflict):
		return 0, store.ErrConflict
	case errors.Is(err, gomemcache.ErrCacheMiss), errors.Is(err, gomemcache.ErrNotStored):
		return 0, store.ErrNotFound
	}
	return 0, s.wrap(ctx, "cas", ik, err)
}

func (s *Store) touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := driver.BeginTouch(ctx, s.closed.Load(), key, ttl); err != nil {
		return err
	}
	ik := itemKey(s.prefix, key)
	exp := expiration(time.Now(), ttl)
	err := s.roundTrip(ctx, ik, func() error { return s.client.Touch(ik, exp) })
	if errors.Is(err, gomemcache.ErrCacheMiss) {
		return store.ErrNotFound
	}
	return s.wrap(ctx, "touch", ik, err)
}

func (s *Store) del(ctx context.Context, key string) error {
	if err := driver.BeginKey(ctx, s.closed.Load(), key); err != nil {
		return err
	}
	ik := itemKey(s.prefix, key)
	err := s.roundTrip(ctx, ik, func() error { return s.client.Delete(ik) })
	if errors.Is(err, gomemcache.ErrCacheMiss) {
		return nil
	}
	return s.wrap(ctx, "delete", ik, err)
}

// Ping implements store.Store: it asks every server for its version
// and fails if any does not answer, since the keys of a missing server
// would be unreachable. It takes a slot of every server, in the selector's
// order, for the whole round trip.
func (s *Store) Ping(ctx context.Context) error {
	if err := driver.Begin(ctx, s.closed.Load()); err != nil {
		return err
	}
	var all []chan struct{}
	if s.sel == nil {
		all = append(all, s.all)
	} else if err := s.sel.Each(func(addr net.Addr) error {
		all = append(all, s.slotsOf(addr))
		return nil
	}); err != nil {
		return s.wrap(ctx, "ping", "", err)
	}
	release := func() {
		for _, slots := range all {
			<-slots
		}
	}
	for i, slots := range all {
		if err := s.acquire(ctx, slots); err != nil {
			all = all[:i]
			release()
			return err
		}
	}
	return s.wrap(ctx, "ping", "", roundTrip(ctx, nil, func() error {
		defer release()
		return s.client.Ping()
	}))
}

// Close marks the Store closed: every later call answers store.ErrClosed.
// A Store from Open also closes its client's idle connections; one from
// New leaves the client to its owner. Calling Close again returns nil.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.owned {
		return s.client.Close()
	}
	return nil
}

// roundTrip runs f, a call of the client making one round trip to the
// server that holds itemKey, holding a slot of that server from before f
// starts until f returns; it waits for the slot as long as ctx lets it.
func (s *Store) roundTrip(ctx context.Context, itemKey string, f func() error) error {
	slots, err := s.serverSlots(itemKey)
	if err != nil {
		return err
	}
	if err := s.acquire(ctx, slots); err != nil {
		return err
	}
	return roundTrip(ctx, slots, f)
}

// roundTrip runs f, a call of the client (one round trip to a server, or
// one to each for Ping), and returns its error, or ctx's error as soon as
// ctx ends if f has not returned by then. f then finishes in its own
// goroutine, bounded by the client's Timeout, and its outcome is dropped:
// the caller must not read what f writes unless roundTrip returned f's own
// error (a nil one included), which it receives after f has returned. The
// caller holds a slot of slots (unless slots is nil), which roundTrip gives
// back when f returns, not before, even if the caller has gone.
func roundTrip(ctx context.Context, slots chan struct{}, f func() error) error {
	if ctx.Done() == nil { // a context that never ends
		err := f()
		if slots != nil {
			<-slots
		}
		return err
	}
	done := make(chan error, 1)
	go func() {
		err := f()
		if slots != nil {
			<-slots // before done: the caller's next call finds it free
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done: // both at once: what the server did wins
			return err
		default:
			return ctx.Err()
		}
	}
}

// serverErrorLine finds the error line a server answered instead of a
// reply in a gomemcache error, which quotes it: "ERROR ...",
// "SERVER_ERROR ..." or "CLIENT_ERROR ...", without its "\r\n".
func serverErrorLine(msg string) (string, bool) {
	for _, p := range []string{`"SERVER_ERROR`, `"CLIENT_ERROR`, `"ERROR`} {
		if i := strings.Index(msg, p); i >= 0 {
			line := msg[i+1:]
			if j := strings.Index(line, `\r\n"`); j >= 0 {
				line = line[:j]
			} else {
				line = strings.TrimSuffix(line, `"`)
			}
			return line, true
		}
	}
	return "", false
}

// encode lays out an item's value: the version, big-endian, then value.
// It copies value, so the caller may reuse its slice.
func encode(version uint64, value []byte) []byte {
	b := make([]byte, versionLen+len(value))
	binary.BigEndian.PutUint64(b, version)
	copy(b[versionLen:], value)
	return b
}

// errForeignItem is the answer for an item this package did not write.
var errForeignItem = errors.New("memcache: the item under this key was not written by this store (wrong flags or length); is another program using the same key prefix?")

// decode splits an item's value into version and value. The value shares
// the item's memory, which gomemcache allocated for this call alone.
func decode(it *gomemcache.Item) (version uint64, value []byte, err error) {
	if it.Flags != ItemFlags || len(it.Value) < versionLen {
		return 0, nil, errForeignItem
	}
	version = binary.BigEndian.Uint64(it.Value)
	if version == 0 {
		return 0, nil, errForeignItem
	}
	return version, it.Value[versionLen:], nil
}

// wrap turns a client error that is no answer of the contract's into ours:
// store.ErrTooLarge for the server's "object too large" answer,
// ErrTooManyConnections for its connection limit, else the error with the
// operation named, and with the context's error too if it ended meanwhile
// (a round trip that failed as the context ended is the context's doing,
// and errors.Is should say so). A key, which may be a session token, never
// reaches the message: gomemcache quotes protocol lines, which can hold it,
// in a few of its errors.
func (s *Store) wrap(ctx context.Context, op, itemKey string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "object too large") {
		return fmt.Errorf("%w: the server refused the item as too large for its item size limit (-I)", store.ErrTooLarge)
	}
	if strings.Contains(msg, "Too many open connections") {
		return fmt.Errorf("memcache: %s: %w (its limit, memcached's -c, 1024 by default, counts the connections of every client): "+
			"this store opens at most %d per server (max_in_flight, Options.MaxInFlight): lower that, or raise the server's -c",
			op, ErrTooManyConnections, s.maxInFlight)
	}
	if itemKey != "" && strings.Contains(msg, itemKey) {
		msg = strings.ReplaceAll(msg, itemKey, "<key>")
		err = errors.New(msg)
	}
	if line, ok := serverErrorLine(msg); ok {
		// gomemcache calls these "unexpected" lines; they are the server's
		// own errors (out of memory, a refused command, ...).
		err = fmt.Errorf("%w: %s", gomemcache.ErrServerError, line)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if err == ctxErr { // roundTrip stopped waiting for the server
			return fmt.Errorf("memcache: %s: %w (the server had not answered)", op, err)
		}
		return fmt.Errorf("memcache: %s: %w: %w", op, ctxErr, err)
	}
	return fmt.Errorf("memcache: %s: %w", op, err)
}
