package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/postgres"
	"github.com/stateless-go/stateless/store/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var shared struct {
	sync.Once
	pool *pgxpool.Pool
	err  error
}

// testPool returns a pool on the test server, shared by the whole binary
// (the process exit closes it). Tests isolate themselves by schema.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := testenv.PostgresURL(t) // skips or fails here, outside the Once
	shared.Do(func() {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			shared.err = err
			return
		}
		cfg.MaxConns = 16
		shared.pool, shared.err = pgxpool.NewWithConfig(context.Background(), cfg)
	})
	if shared.err != nil {
		t.Fatalf("pool for %s: %v", store.RedactURL(url), shared.err)
	}
	return shared.pool
}

// testSchema creates a schema of the test's own and drops it, with every
// table in it, when the test ends.
func testSchema(t testing.TB) string {
	t.Helper()
	pool := testPool(t)
	name := "st_" + storetest.RandomPrefix()
	q := pgx.Identifier{name}.Sanitize()
	if _, err := pool.Exec(t.Context(), "CREATE SCHEMA "+q); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA "+q+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", q, err)
		}
	})
	return name
}

// newStore returns a Store on the shared pool over a fresh table in a fresh
// schema, closed when the test ends. opts may be nil; its Table is set.
func newStore(t testing.TB, opts *postgres.Options) *postgres.Store {
	t.Helper()
	o := postgres.Options{}
	if opts != nil {
		o = *opts
	}
	o.Table = testSchema(t) + ".sessions"
	s, err := postgres.New(t.Context(), testPool(t), &o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// count returns the number of rows in the store's table, expired or not.
func count(t testing.TB, s *postgres.Store) int64 {
	t.Helper()
	var n int64
	if err := testPool(t).QueryRow(context.Background(), "SELECT count(*) FROM "+s.Table()).Scan(&n); err != nil {
		t.Fatalf("count rows: %v", err)
	}
	return n
}

func TestConformance(t *testing.T) {
	pool := testPool(t)
	schema := testSchema(t) // dropped after every parallel subtest is done
	storetest.Run(t, func(ctx context.Context) (store.Store, error) {
		return postgres.New(ctx, pool, &postgres.Options{Table: schema + "." + storetest.RandomPrefix()})
	}, nil)
}

// TestConformanceUnbatched runs the suite with batching off: every Replace
// alone. Concurrency/SameAnswersUnderLoad, in both runs, holds the answers
// of batched and lone calls to each other.
func TestConformanceUnbatched(t *testing.T) {
	pool := testPool(t)
	schema := testSchema(t)
	storetest.Run(t, func(ctx context.Context) (store.Store, error) {
		return postgres.New(ctx, pool, &postgres.Options{Table: schema + "." + storetest.RandomPrefix(), DisableBatching: true})
	}, nil)
}

// TestConformanceOpen runs the suite through store.Open, each store with
// its own pool, as a service configured by URL would.
func TestConformanceOpen(t *testing.T) {
	url := testenv.PostgresURL(t)
	schema := testSchema(t)
	storetest.Run(t, func(ctx context.Context) (store.Store, error) {
		return store.Open(ctx, withParams(url, "table="+schema+"."+storetest.RandomPrefix(), "pool_max_conns=8"))
	}, nil)
}

// withParams appends query parameters to a URL.
func withParams(url string, params ...string) string {
	for _, p := range params {
		if strings.Contains(url, "?") {
			url += "&" + p
		} else {
			url += "?" + p
		}
	}
	return url
}
