package redis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/batch"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
)

func init() {
	for _, scheme := range schemes {
		store.Register(scheme, func(ctx context.Context, rawURL string) (store.Store, error) {
			return Open(ctx, rawURL)
		})
	}
}

const (
	// DefaultKeyPrefix is the KeyPrefix of a store whose Options leave it
	// empty.
	DefaultKeyPrefix = "stateless:"

	// MaxTTL is the longest life a record is given; a longer ttl, up to
	// math.MaxInt64, is cut to it. Redis itself would take about 292 years,
	// but a record's absolute deadline (what PEXPIRETIME answers) then no
	// longer fits a time.Duration or a time.Time in Unix nanoseconds, which
	// go-redis and other tools convert it to. A century is forever for a
	// session and keeps every such conversion far from overflow.
	MaxTTL = 100 * 365 * 24 * time.Hour

	// DefaultMaxValueSize is the largest value accepted when
	// Options.MaxValueSize is 0: what a Redis server with its default
	// proto-max-bulk-len (512 MiB) takes as one string, less the 8 bytes of
	// version stored in front of the value.
	DefaultMaxValueSize = 512<<20 - versionLen
)

const versionLen = 8

// Options configure a Store. The zero value (or nil) means the defaults.
// Timeouts, pool sizes and retries are not here: they belong to the
// go-redis client.
type Options struct {
	// KeyPrefix is put in front of every key; "" means DefaultKeyPrefix.
	// It keeps this store's records apart from other data in the same
	// database and lets several applications share one; Redis sees the
	// bytes KeyPrefix+key. A prefix holding a Cluster hash tag ("{…}") sends
	// every record to one slot, which defeats Cluster's sharding.
	KeyPrefix string

	// MaxValueSize caps a value's length in bytes; longer values are refused
	// with store.ErrTooLarge before anything is sent. 0 means
	// DefaultMaxValueSize.
	MaxValueSize int

	// DisableBatching sends every call alone, never in a pipeline with
	// others (see Batching in the package documentation).
	DisableBatching bool

	// WaitReplicas, when positive, makes every write (Create, Replace,
	// Touch, Delete, CompareAndDelete) wait until that many replicas have
	// it, with Redis' WAIT on the write's connection, for at most
	// WaitTimeout; fewer confirmations fail the call with
	// ErrNotReplicated. WaitTimeout must then be positive and shorter than
	// the client's ReadTimeout. Not on a Cluster. See Replication in the
	// package documentation.
	WaitReplicas int
	WaitTimeout  time.Duration
}

// Store is a store.Store over a go-redis client; safe for concurrent
// use. Create it with New or Open.
type Store struct {
	client   goredis.UniversalClient
	prefix   string
	maxValue int
	owns     bool // Close closes client
	batching bool // calls go through pipe

	// waitReplicas and waitTimeout are Options' WaitReplicas and
	// WaitTimeout; waitN and waitMS, WAIT's arguments boxed once, nil
	// when the store does not wait.
	waitReplicas  int
	waitTimeout   time.Duration
	waitN, waitMS any

	closed atomic.Bool
	// noSetNXGet is set once the server refused SET with both NX and GET
	// (Redis before 7.0): CreateOrGet then runs its script instead.
	noSetNXGet atomic.Bool
	closeOnce  sync.Once
	closeErr   error

	// pipe batches calls into pipelines (see Batching in the package
	// documentation, and pipeline.go).
	pipe  batch.Batcher[pipeOp]
	calls driver.Counters
	// cluster is set for a Cluster client, whose PoolStats would load the
	// Cluster's layout over the network if it has none yet; clusterUp once
	// a call has had a reply, and with it the layout.
	cluster   bool
	clusterUp atomic.Bool
}

var (
	_ store.StatsReporter     = (*Store)(nil)
	_ store.CompareAndDeleter = (*Store)(nil)
)

// New returns a Store over client, which may be a standalone, Sentinel
// (failover) or Cluster client. The store does not own the client: Close
// marks the store closed and leaves the client open for its other users.
// opts may be nil.
func New(client goredis.UniversalClient, opts *Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redis: New of a nil client")
	}
	if opts == nil {
		opts = &Options{}
	}
	if opts.MaxValueSize < 0 {
		return nil, fmt.Errorf("redis: Options.MaxValueSize is negative (%d)", opts.MaxValueSize)
	}
	_, cluster := client.(*goredis.ClusterClient)
	if err := checkWait(opts, cluster, clientReadTimeout(client)); err != nil {
		return nil, err
	}
	s := &Store{client: client, prefix: opts.KeyPrefix, maxValue: opts.MaxValueSize, batching: !opts.DisableBatching}
	if opts.WaitReplicas > 0 {
		s.waitReplicas, s.waitTimeout = opts.WaitReplicas, opts.WaitTimeout
		s.waitN, s.waitMS = int64(opts.WaitReplicas), waitMillis(opts.WaitTimeout)
	}
	_, s.cluster = client.(*goredis.ClusterClient)
	s.pipe = batch.Batcher[pipeOp]{
		Limit: maxPipelines,
		Take: batch.Limits[pipeOp]{
			Calls: maxPipeline, Bytes: maxPipelineBytes, Alone: pipeAloneSize,
			Size: func(op *pipeOp) int { return op.size },
		}.Take,
		Run: s.runPipeline,
	}
	if s.prefix == "" {
		s.prefix = DefaultKeyPrefix
	}
	if s.maxValue == 0 {
		s.maxValue = DefaultMaxValueSize
	}
	return s, nil
}

// Open makes a client from a URL (the forms are in the package
// documentation; see ParseURL) and returns a Store that owns it: Close
// closes the client. Open sends one PING: if the server answers with an
// error (a wrong password, say) or ctx ends first, Open fails, so a
// misconfiguration shows at start-up. A server that cannot be reached is
// not an error: a stateless service should start while its store is down
// and turn ready when it comes up; until then every call, and Ping, fails
// with the network error, and the client reconnects by itself. The PING
// waits at most a few seconds (openPingTimeout), so a host that drops
// packets cannot hold up a start. No error it returns contains the URL's
// password.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	uo, opts, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	client, err := newClient(uo, rawURL)
	if err != nil {
		return nil, err
	}
	s, err := New(client, opts)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	s.owns = true
	pctx, cancel := context.WithTimeout(ctx, openPingTimeout)
	defer cancel()
	if err := s.Ping(pctx); err != nil {
		var reply goredis.Error
		if errors.As(err, &reply) || callerDone(ctx) {
			_ = client.Close()
			return nil, err
		}
	}
	return s, nil
}

// openPingTimeout bounds the PING of Open.
const openPingTimeout = 2 * time.Second

// newClient builds the client uo describes. go-redis panics on some option
// values it cannot use; ParseURL refuses those it knows of, and a URL is
// user input, so any other becomes an error too.
func newClient(uo *goredis.UniversalOptions, rawURL string) (client goredis.UniversalClient, err error) {
	defer func() {
		if r := recover(); r != nil {
			client, err = nil, errors.New(driver.Scrub(fmt.Sprintf("redis: go-redis refused the URL's options: %v", r), driver.URLSecrets(rawURL)))
		}
	}()
	return goredis.NewUniversalClient(uo), nil
}

// callerDone reports whether ctx has ended, by its deadline too: a socket
// deadline set from it can fire a moment before ctx itself says so.
func callerDone(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// Get implements store.Store with one GET.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	rec, err := s.get(ctx, key)
	s.count(driver.OpGet, err)
	return rec, err
}

// Create implements store.Store with one run of createScript: SET NX PX
// in a Lua script that recognises a retry of its own write.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	v, err := s.create(ctx, key, value, ttl)
	s.count(driver.OpCreate, err)
	return v, err
}

// Replace implements store.Store with one run of replaceScript, a
// compare-and-swap in a Lua script on the one key.
func (s *Store) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	v, err := s.replace(ctx, key, value, ttl, version)
	s.count(driver.OpReplace, err)
	return v, err
}

// Touch implements store.Store with one PEXPIRE.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	err := s.touch(ctx, key, ttl)
	s.count(driver.OpTouch, err)
	return err
}

// Delete implements store.Store with one UNLINK, which frees a large
// value off the server's main thread.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.del(ctx, key)
	s.count(driver.OpDelete, err)
	return err
}

// CompareAndDelete implements store.CompareAndDeleter with one run of
// deleteScript, which removes the record only if it carries version; Stats
// counts it as a Delete.
//
// A retried CompareAndDelete cannot tell its own earlier attempt from
// another client's Delete: if go-redis sends it again because the reply
// to an applied first attempt was lost (see Retries in the package
// documentation), the retry finds no record and answers store.ErrNotFound.
// The record is gone either way; a caller that must know who removed it
// cannot learn it from this answer.
func (s *Store) CompareAndDelete(ctx context.Context, key string, version uint64) error {
	err := s.compareAndDelete(ctx, key, version)
	s.count(driver.OpDelete, err)
	return err
}

// count records a call for Stats.
func (s *Store) count(op driver.Op, err error) {
	s.calls.Count(op, err)
	if s.cluster && !s.clusterUp.Load() && (err == nil || driver.IsAnswer(err)) {
		s.clusterUp.Store(true)
	}
}

// Stats implements store.StatsReporter (the package documentation says
// which figures it fills). It sends nothing.
func (s *Store) Stats() store.Stats {
	var st store.Stats
	s.calls.Fill(&st)
	s.pipe.Fill(&st)
	if !s.cluster || s.clusterUp.Load() {
		ps := s.client.PoolStats()
		st.Conns, st.IdleConns = int(ps.TotalConns), int(ps.IdleConns)
		if pp := ps.PipelineStats; pp != nil {
			st.Conns += int(pp.TotalConns)
			st.IdleConns += int(pp.IdleConns)
		}
	}
	return st
}

func (s *Store) get(ctx context.Context, key string) (store.Record, error) {
	if err := driver.BeginKey(ctx, s.closed.Load(), key); err != nil {
		return store.Record{}, err
	}
	cmd := goredis.NewStringCmd(ctx, "get", s.prefix+key)
	if _, err := s.process(ctx, cmd, 0, false); err != nil {
		return store.Record{}, s.fail(ctx, "get", err)
	}
	v, err := cmd.Result()
	if err != nil {
		if err == goredis.Nil {
			return store.Record{}, store.ErrNotFound
		}
		return store.Record{}, s.fail(ctx, "get", err)
	}
	if len(v) < versionLen {
		return store.Record{}, errForeign("get", len(v))
	}
	version := decodeVersion(v)
	if version == 0 {
		return store.Record{}, errors.New("redis: get: the stored value is not a record of this store (its version is 0); is other data under the key prefix?")
	}
	return store.Record{Value: []byte(v[versionLen:]), Version: version}, nil
}

// Script replies. Every script answers one of these; the Go side turns
// them into results.
const (
	scriptAbsent  = 0 // Replace: no record under the key
	scriptWrote   = 1 // the script wrote the record this call sends
	scriptOther   = 2 // Create: the key holds something else; Replace: a record of another version
	scriptForeign = 3 // Replace: the key holds a string too short to be a record of this store
	scriptAlready = 4 // the key already holds the very record this call sends: an earlier attempt of this call wrote it
)

// createScript is Create: SET NX PX and, when the key exists, a look at
// the version it holds. KEYS[1] is the key, ARGV[1] the record (8 bytes of
// version, then the value), ARGV[2] the ttl in milliseconds.
//
// Why a script and not a plain SET NX: go-redis sends a command again when
// the connection fails before the reply is read (MaxRetries, 3 by
// default). If the first attempt was applied, a retried SET NX finds the
// caller's own record and answers "not set", which would turn a successful
// Create into store.ErrExists: a session or an idempotency key reported
// taken by the very call that took it. Versions are random 64-bit numbers
// drawn afresh for every write (driver.NewVersion), so a record that
// carries this call's version was written by this call, and the script
// answers success for it (scriptAlready) without writing again. SET NX GET
// could tell the same, but only on Redis 7.0 and later, and it sends back
// the whole existing value; the script answers one small integer and runs
// on any Redis with scripting.
//
// redis.pcall, not call, for the look: a key of another type (a hash, say)
// is not an error for Create but a key that exists.
var createScript = goredis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return 1
end
if redis.pcall('GETRANGE', KEYS[1], 0, 7) == string.sub(ARGV[1], 1, 8) then
	return 4
end
return 2
`)

func (s *Store) create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	if err := driver.BeginWrite(ctx, s.closed.Load(), key, value, ttl, s.maxValue); err != nil {
		return 0, err
	}
	version := driver.NewVersion()
	code, err := s.runCreate(ctx, key, value, ttl, version)
	if err != nil {
		return 0, s.fail(ctx, "create", err)
	}
	switch code {
	case scriptWrote, scriptAlready:
		return version, nil
	case scriptOther:
		return 0, store.ErrExists
	}
	return 0, fmt.Errorf("redis: create: unexpected reply %d from the script", code)
}

// runCreate runs createScript, alone (never in a pipeline), and returns
// its code.
func (s *Store) runCreate(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (int64, error) {
	rec := make([]byte, versionLen+len(value))
	binary.BigEndian.PutUint64(rec, version)
	copy(rec[versionLen:], value)
	k := s.prefix + key
	ms := expiry(ttl).Milliseconds()
	cmd := goredis.NewCmd(ctx, "evalsha", createHash, 1, k, rec, ms)
	wait := s.send(ctx, cmd, true)
	code, err := cmd.Int64()
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
		// The server lost its script cache (a restart, SCRIPT FLUSH, a
		// failover): send the script itself, which caches it again.
		cmd, wait = s.evalWaited(ctx, createScript, []string{k}, rec, ms)
		code, err = cmd.Int64()
	}
	if err == nil {
		err = s.confirm("create", wait)
	}
	return code, err
}

// replaceScript is the compare-and-swap. KEYS[1] is the key, ARGV[1] the
// expected version, ARGV[2] the new record (8 bytes of new version, then
// the value), ARGV[3] the ttl in milliseconds. The versions travel as 8
// raw bytes and are compared as strings: a Lua number is a double and
// cannot hold every uint64. GETRANGE reads only the version, however large
// the value.
//
// go-redis sends a command again when its reply is lost (a dropped
// connection), and replays a whole pipeline after a failed read. A
// compare-and-swap whose first run was applied then finds its own new
// version instead of the expected one, and would answer a conflict with
// itself. The new version is random and drawn afresh for every Replace
// (driver.NewVersion), so a record that already carries it was written by
// this very call: the script answers scriptAlready, which Replace reports
// as success with that version, and writes nothing again.
//
// Replies: scriptWrote, scriptAlready, scriptOther (a record of another
// version), scriptAbsent (no key), scriptForeign (a string too short to be
// a record of this store).
var replaceScript = goredis.NewScript(`
local head = redis.call('GETRANGE', KEYS[1], 0, 7)
if head == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
	return 1
end
if head == string.sub(ARGV[2], 1, 8) then
	return 4
end
if #head == 8 then
	return 2
end
if redis.call('EXISTS', KEYS[1]) == 0 then
	return 0
end
return 3
`)

// The scripts' SHA1s, boxed once: EVALSHA's arguments are interface values,
// and boxing a string on every call would cost an allocation.
var createHash, replaceHash any = createScript.Hash(), replaceScript.Hash()

func (s *Store) replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	if err := driver.BeginWrite(ctx, s.closed.Load(), key, value, ttl, s.maxValue); err != nil {
		return 0, err
	}
	newVersion := driver.NewVersion()
	code, err := s.runReplace(ctx, key, value, ttl, version, newVersion)
	if err != nil {
		return 0, s.fail(ctx, "replace", err)
	}
	switch code {
	case scriptWrote, scriptAlready:
		return newVersion, nil
	case scriptAbsent:
		return 0, store.ErrNotFound
	case scriptOther:
		return 0, store.ErrConflict
	case scriptForeign:
		return 0, errForeign("replace", -1)
	}
	return 0, fmt.Errorf("redis: replace: unexpected reply %d from the script", code)
}

// runReplace runs replaceScript and returns its code.
func (s *Store) runReplace(ctx context.Context, key string, value []byte, ttl time.Duration, version, newVersion uint64) (int64, error) {
	// One allocation: the expected version, then the new record.
	buf := make([]byte, 2*versionLen+len(value))
	binary.BigEndian.PutUint64(buf, version)
	binary.BigEndian.PutUint64(buf[versionLen:], newVersion)
	copy(buf[2*versionLen:], value)
	expected, rec := buf[:versionLen:versionLen], buf[versionLen:]
	keys := []string{s.prefix + key}
	ms := expiry(ttl).Milliseconds()
	cmd := goredis.NewCmd(ctx, "evalsha", replaceHash, 1, keys[0], expected, rec, ms)
	wait, err := s.process(ctx, cmd, len(rec), true)
	if err != nil {
		return 0, err
	}
	code, err := cmd.Int64()
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
		// The server lost its script cache (a restart, SCRIPT FLUSH, a
		// failover): send the script itself, which caches it again.
		var c *goredis.Cmd
		c, wait = s.evalWaited(ctx, replaceScript, keys, expected, rec, ms)
		code, err = c.Int64()
	}
	if err == nil {
		err = s.confirm("replace", wait)
	}
	return code, err
}

func (s *Store) touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := driver.BeginTouch(ctx, s.closed.Load(), key, ttl); err != nil {
		return err
	}
	cmd := goredis.NewBoolCmd(ctx, "pexpire", s.prefix+key, expiry(ttl).Milliseconds())
	wait, err := s.process(ctx, cmd, 0, true)
	if err != nil {
		return s.fail(ctx, "touch", err)
	}
	ok, err := cmd.Result()
	if err == nil {
		err = s.confirm("touch", wait)
	}
	if err != nil {
		return s.fail(ctx, "touch", err)
	}
	if !ok {
		return store.ErrNotFound
	}
	return nil
}

func (s *Store) del(ctx context.Context, key string) error {
	if err := driver.BeginKey(ctx, s.closed.Load(), key); err != nil {
		return err
	}
	cmd := goredis.NewIntCmd(ctx, "unlink", s.prefix+key)
	wait := s.send(ctx, cmd, true)
	err := cmd.Err()
	if err == nil {
		err = s.confirm("delete", wait)
	}
	if err != nil {
		return s.fail(ctx, "delete", err)
	}
	return nil
}

// deleteScript is CompareAndDelete. KEYS[1] is the key, ARGV[1] the
// expected version as 8 raw bytes, compared as a string like
// replaceScript's. Replies: scriptWrote (removed), scriptOther (a record
// of another version), scriptAbsent (no key), scriptForeign (a string too
// short to be a record of this store).
var deleteScript = goredis.NewScript(`
local head = redis.call('GETRANGE', KEYS[1], 0, 7)
if head == ARGV[1] then
	redis.call('UNLINK', KEYS[1])
	return 1
end
if #head == 8 then
	return 2
end
if redis.call('EXISTS', KEYS[1]) == 0 then
	return 0
end
return 3
`)

var deleteHash any = deleteScript.Hash()

func (s *Store) compareAndDelete(ctx context.Context, key string, version uint64) error {
	if err := driver.BeginKey(ctx, s.closed.Load(), key); err != nil {
		return err
	}
	code, err := s.runDelete(ctx, key, version)
	if err != nil {
		return s.fail(ctx, "compare-and-delete", err)
	}
	switch code {
	case scriptWrote:
		return nil
	case scriptAbsent:
		return store.ErrNotFound
	case scriptOther:
		return store.ErrConflict
	case scriptForeign:
		return errForeign("compare-and-delete", -1)
	}
	return fmt.Errorf("redis: compare-and-delete: unexpected reply %d from the script", code)
}

// runDelete runs deleteScript, alone (never in a pipeline, as
// Delete), and returns its code.
func (s *Store) runDelete(ctx context.Context, key string, version uint64) (int64, error) {
	expected := binary.BigEndian.AppendUint64(make([]byte, 0, versionLen), version)
	k := s.prefix + key
	cmd := goredis.NewCmd(ctx, "evalsha", deleteHash, 1, k, expected)
	wait := s.send(ctx, cmd, true)
	code, err := cmd.Int64()
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
		// The server lost its script cache: send the script itself.
		cmd, wait = s.evalWaited(ctx, deleteScript, []string{k}, expected)
		code, err = cmd.Int64()
	}
	if err == nil {
		err = s.confirm("compare-and-delete", wait)
	}
	return code, err
}

// Ping implements store.Store with one PING (on a Cluster, to one
// node).
func (s *Store) Ping(ctx context.Context) error {
	if err := driver.Begin(ctx, s.closed.Load()); err != nil {
		return err
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		return s.fail(ctx, "ping", err)
	}
	if s.cluster && !s.clusterUp.Load() {
		s.clusterUp.Store(true)
	}
	return nil
}

// Close marks the store closed; later calls answer store.ErrClosed. It
// closes the client only if Open made it. Calling it again returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.owns {
			s.closeErr = s.client.Close()
		}
	})
	return s.closeErr
}

// expiry converts a positive ttl to what Redis can express: whole
// milliseconds, rounded up so that a record never expires before its time,
// and at most MaxTTL.
func expiry(ttl time.Duration) time.Duration {
	if ttl >= MaxTTL {
		return MaxTTL
	}
	return (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
}

// fail wraps an error from the client. A client closed under the store means
// the store is closed; an error that came with the end of ctx says so, so
// that errors.Is(err, ctx.Err()) holds even when go-redis reports the end
// of the wait as a network timeout. Keys never appear: they are secrets.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if errors.Is(err, ErrNotReplicated) {
		return err // says op already
	}
	if errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis: %s: %w", op, store.ErrClosed)
	}
	cerr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(d) {
		// The socket deadline (the ctx deadline) fired a moment before
		// the context's own timer.
		cerr = context.DeadlineExceeded
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("redis: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

// decodeVersion reads the big-endian version in front of a stored record
// (at least versionLen bytes) straight from the string, without a copy.
func decodeVersion(v string) uint64 {
	_ = v[versionLen-1]
	return uint64(v[0])<<56 | uint64(v[1])<<48 | uint64(v[2])<<40 | uint64(v[3])<<32 |
		uint64(v[4])<<24 | uint64(v[5])<<16 | uint64(v[6])<<8 | uint64(v[7])
}

func errForeign(op string, n int) error {
	size := "too short"
	if n >= 0 {
		size = fmt.Sprintf("%d bytes, too short", n)
	}
	return fmt.Errorf("redis: %s: the stored value is %s to be a record of this store; is other data under the key prefix?", op, size)
}
