package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stateless-go/stateless/internal/batch"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
)

// Defaults for the zero fields of Options.
const (
	DefaultTable        = "stateless_sessions"
	DefaultReapInterval = time.Minute
	DefaultReapBatch    = 1000
	DefaultMaxValueSize = 64 << 20
)

// MaxValueSizeLimit is the largest Options.MaxValueSize: one bytea holds
// just under 1 GiB, and the whole statement must fit in one protocol
// message of at most 1 GiB, so a MiB is left for the rest of it.
const MaxValueSizeLimit = 1<<30 - 1<<20

// Options configure a Store. Nil or zero fields mean the defaults.
type Options struct {
	// Table is the table's name, "name" or "schema.name", used exactly as
	// given (quoted, so case and any character but NUL are kept). Each part
	// is 1 to 63 bytes. Default DefaultTable, in the first schema of the
	// connection's search_path.
	Table string

	// SkipCreate stops the store from running DDL: the table and its
	// indexes must already exist (see the package documentation), else
	// every call fails with an error naming what is missing.
	SkipCreate bool

	// ReapInterval is the pause between reaping rounds. Zero means
	// DefaultReapInterval; negative turns the background reaper off (for
	// fleets where one job, or another instance, reaps; call Reap, or run
	// the reaper's DELETE yourself). Each pause is jittered by ±10% so
	// that instances started together do not reap in step.
	ReapInterval time.Duration

	// ReapBatch is the most rows one reaping statement deletes, which bounds
	// how long it holds locks. Zero means DefaultReapBatch.
	ReapBatch int

	// MaxValueSize is the longest value in bytes; longer ones are
	// store.ErrTooLarge. Zero means DefaultMaxValueSize; at most
	// MaxValueSizeLimit.
	MaxValueSize int

	// DisableBatching sends every Replace alone, as its own statement.
	// Batching is on by default; the package documentation says what it
	// does and when turning it off makes sense.
	DisableBatching bool

	// Logger receives the background reaper's failures (a reaper has no
	// caller to return them to), at level Warn. Nil means slog.Default(),
	// as it is when the failure happens.
	Logger *slog.Logger
}

// Store is the Postgres Store. It is safe for concurrent use. Create
// it with New or Open.
type Store struct {
	pool    *pgxpool.Pool
	ownPool bool
	table   string // sanitized, possibly schema-qualified
	opts    Options
	sql     statements

	// ready is set once the schema check has passed; until then every
	// call runs it, one at a time (schemaLock is a semaphore so that
	// waiting honours the caller's context).
	ready      atomic.Bool
	schemaLock chan struct{}

	closed     atomic.Bool
	closeOnce  sync.Once
	stopReaper context.CancelFunc
	reaperDone chan struct{}

	// batch groups concurrent Replace calls (batch.go), unless
	// Options.DisableBatching.
	batch batch.Batcher[replaceOp]

	// For Stats: the calls and errors per operation; the batches the
	// server refused, whose calls then ran one by one; the reaping
	// statements run.
	count          driver.Counters
	batchFallbacks atomic.Uint64
	reaps          atomic.Uint64
}

var (
	_ store.StatsReporter     = (*Store)(nil)
	_ store.CompareAndDeleter = (*Store)(nil)
)

// startupProbe bounds the schema check New makes before returning, so that
// a server that cannot be reached does not hold up a service's start.
const startupProbe = 5 * time.Second

// New returns a Store over pool, which the caller keeps owning: Close stops
// the store's reaper but leaves pool open. opts may be nil.
//
// Unlike the other adapters' New(client, opts), it takes a context: New
// checks (and unless SkipCreate, creates) the schema before it returns,
// waiting at most five seconds and no longer than ctx allows. It fails if
// the server refused (wrong credentials or database name, a missing table
// under SkipCreate, a table of the wrong shape, no permission to create it)
// or ctx ended. If the server could not be reached in time it returns a
// working Store that retries the check on every call until it passes.
func New(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: New: nil pool")
	}
	s, err := newStore(pool, opts)
	if err != nil {
		return nil, err
	}
	if err := s.probe(ctx); err != nil {
		return nil, err
	}
	s.startReaper()
	return s, nil
}

func newStore(pool *pgxpool.Pool, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	ident, err := parseTable(o.Table)
	if err != nil {
		return nil, err
	}
	if o.ReapInterval == 0 {
		o.ReapInterval = DefaultReapInterval
	}
	switch {
	case o.ReapBatch == 0:
		o.ReapBatch = DefaultReapBatch
	case o.ReapBatch < 0:
		return nil, fmt.Errorf("postgres: Options.ReapBatch is %d; want a positive number of rows", o.ReapBatch)
	}
	switch {
	case o.MaxValueSize == 0:
		o.MaxValueSize = DefaultMaxValueSize
	case o.MaxValueSize < 0 || o.MaxValueSize > MaxValueSizeLimit:
		return nil, fmt.Errorf("postgres: Options.MaxValueSize is %d; want 1 to %d bytes", o.MaxValueSize, MaxValueSizeLimit)
	}
	table := ident.Sanitize()
	s := &Store{
		pool:       pool,
		table:      table,
		opts:       o,
		sql:        newStatements(table),
		schemaLock: make(chan struct{}, 1),
		reaperDone: make(chan struct{}),
	}
	s.initBatcher(pool)
	return s, nil
}

// probe runs the first schema check. A server that refused is an error; one
// that could not be reached in time is left to the lazy check.
func (s *Store) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, startupProbe)
	defer cancel()
	err := s.ensureSchema(pctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("postgres: checking table %s: %w", s.table, context.Cause(ctx))
	case refused(err):
		return err
	default:
		return nil // unreachable for now; every call retries
	}
}

// Table returns the table's name as it appears in SQL: quoted, and
// schema-qualified if it was given so; ready to put in statements of one's
// own about the store's table (a reaping job, a GRANT, monitoring).
func (s *Store) Table() string { return s.table }

// ensureReady runs the schema check until it has passed once: what every
// call does after driver's checks.
func (s *Store) ensureReady(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	return s.ensureSchema(ctx)
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	r, err := s.get(ctx, key)
	s.count.Count(driver.OpGet, err)
	return r, err
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	v, err := s.create(ctx, key, value, ttl)
	s.count.Count(driver.OpCreate, err)
	return v, err
}

// Replace implements store.Store.
//
// A Replace that races with another writer of the same key answers as of
// the moment its statement began, whether it runs alone or in a batch (see
// Batching in the package documentation): a record missing or expired then
// is store.ErrNotFound, even if a Create revives the key meanwhile; a live
// record it does not replace (another writer changed or deleted it first)
// is store.ErrConflict. Nothing is ever written over the other writer's
// change.
func (s *Store) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	v, err := s.replace(ctx, key, value, ttl, version)
	s.count.Count(driver.OpReplace, err)
	return v, err
}

// Touch implements store.Store.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	err := s.touch(ctx, key, ttl)
	s.count.Count(driver.OpTouch, err)
	return err
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.del(ctx, key)
	s.count.Count(driver.OpDelete, err)
	return err
}

// CompareAndDelete implements store.CompareAndDeleter, in one statement.
// Racing another writer of the key, it judges the record as that writer
// left it: a record deleted meanwhile (by a concurrent CompareAndDelete,
// say) is store.ErrNotFound and one replaced meanwhile store.ErrConflict;
// a record missing or expired when the statement began is
// store.ErrNotFound even if a Create revives it meanwhile. Stats counts it
// as a Delete.
func (s *Store) CompareAndDelete(ctx context.Context, key string, version uint64) error {
	err := s.compareAndDelete(ctx, key, version)
	s.count.Count(driver.OpDelete, err)
	return err
}

func (s *Store) get(ctx context.Context, key string) (store.Record, error) {
	if err := driver.BeginKey(ctx, s.closed.Load(), key); err != nil {
		return store.Record{}, err
	}
	if err := s.ensureReady(ctx); err != nil {
		return store.Record{}, err
	}
	var (
		value   []byte
		version int64
	)
	err := s.pool.QueryRow(ctx, s.sql.get, []byte(key)).Scan(&value, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, s.fail("get", err)
	}
	if value == nil {
		value = []byte{}
	}
	return store.Record{Value: value, Version: uint64(version)}, nil
}

func (s *Store) create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	if err := driver.BeginWrite(ctx, s.closed.Load(), key, value, ttl, s.opts.MaxValueSize); err != nil {
		return 0, err
	}
	if err := s.ensureReady(ctx); err != nil {
		return 0, err
	}
	version := driver.NewVersion()
	tag, err := s.pool.Exec(ctx, s.sql.create, []byte(key), nonNil(value), int64(version), interval(ttl))
	if err != nil {
		return 0, s.fail("create", err)
	}
	if tag.RowsAffected() == 0 {
		return 0, store.ErrExists
	}
	return version, nil
}

// Outcomes of the replace and compare-and-delete statements.
const (
	outcomeNotFound = 0
	outcomeDone     = 1
	outcomeConflict = 2
)

// answer maps an outcome of the replace or compare-and-delete statement to
// the contract's answer.
func answer(outcome int32) error {
	switch outcome {
	case outcomeDone:
		return nil
	case outcomeConflict:
		return store.ErrConflict
	default:
		return store.ErrNotFound
	}
}

func (s *Store) replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	if err := driver.BeginWrite(ctx, s.closed.Load(), key, value, ttl, s.opts.MaxValueSize); err != nil {
		return 0, err
	}
	if err := s.ensureReady(ctx); err != nil {
		return 0, err
	}
	newVersion := driver.NewVersion()
	c := &replaceCall{Ctx: ctx, Op: replaceOp{
		key:        []byte(key),
		value:      nonNil(value),
		newVersion: int64(newVersion),
		ttl:        interval(ttl),
		old:        int64(version),
	}}
	if s.opts.DisableBatching {
		s.replaceOne(c)
	} else if err := s.batch.Do(c); err != nil {
		return 0, err
	}
	if c.Op.err != nil {
		return 0, c.Op.err
	}
	if err := answer(c.Op.outcome); err != nil {
		return 0, err
	}
	return newVersion, nil
}

func (s *Store) touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := driver.BeginTouch(ctx, s.closed.Load(), key, ttl); err != nil {
		return err
	}
	if err := s.ensureReady(ctx); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.sql.touch, []byte(key), interval(ttl))
	if err != nil {
		return s.fail("touch", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (s *Store) del(ctx context.Context, key string) error {
	if err := driver.BeginKey(ctx, s.closed.Load(), key); err != nil {
		return err
	}
	if err := s.ensureReady(ctx); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, s.sql.del, []byte(key)); err != nil {
		return s.fail("delete", err)
	}
	return nil
}

func (s *Store) compareAndDelete(ctx context.Context, key string, version uint64) error {
	if err := driver.BeginKey(ctx, s.closed.Load(), key); err != nil {
		return err
	}
	if err := s.ensureReady(ctx); err != nil {
		return err
	}
	var outcome int32
	if err := s.pool.QueryRow(ctx, s.sql.compareAndDelete, []byte(key), int64(version)).Scan(&outcome); err != nil {
		return s.fail("compare-and-delete", err)
	}
	return answer(outcome)
}

// Stats implements store.StatsReporter; the package documentation lists
// the figures it fills.
func (s *Store) Stats() store.Stats {
	var st store.Stats
	s.count.Fill(&st)
	s.batch.Fill(&st)
	st.BatchFallbacks = s.batchFallbacks.Load()
	st.Reaps = s.reaps.Load()
	ps := s.pool.Stat()
	st.Conns, st.IdleConns, st.InFlight = int(ps.TotalConns()), int(ps.IdleConns()), int(ps.AcquiredConns())
	return st
}

// Ping implements store.Store: nil once the schema check has passed
// and the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := driver.Begin(ctx, s.closed.Load()); err != nil {
		return err
	}
	if err := s.ensureReady(ctx); err != nil {
		return err
	}
	if err := s.pool.Ping(ctx); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close stops the reaper and waits for it, and closes the pool if Open made
// it. Later calls answer store.ErrClosed; a second Close returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.stopReaper != nil {
			s.stopReaper()
			<-s.reaperDone
		}
		if s.ownPool {
			s.pool.Close()
		}
	})
	return nil
}

// fail wraps a pgx error. Context errors stay matchable with errors.Is (pgx
// wraps them), and no error from pgx carries a key, value or password.
func (s *Store) fail(op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: %s: %w (%v)", op, store.ErrClosed, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// interval converts a ttl to whole microseconds, rounding up so a record
// never expires earlier than asked. Any positive time.Duration fits: the
// largest, rounded up, is 9223372036854776 µs.
func interval(ttl time.Duration) pgtype.Interval {
	us := int64(ttl / time.Microsecond)
	if ttl%time.Microsecond != 0 {
		us++
	}
	return pgtype.Interval{Microseconds: us, Valid: true}
}

// nonNil turns a nil value into an empty one: pgx sends nil as NULL, and an
// empty value is a value.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
