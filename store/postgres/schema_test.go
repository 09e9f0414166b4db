package postgres_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stateless-go/stateless/store/postgres"
)

// TestTableNames: any table name works, used exactly as given, and none
// can inject SQL.
func TestTableNames(t *testing.T) {
	pool := testPool(t)
	schema := testSchema(t)
	weirdSchema := `we"ird schema ` + schema
	if _, err := pool.Exec(t.Context(), "CREATE SCHEMA "+pgx.Identifier{weirdSchema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{weirdSchema}.Sanitize()+" CASCADE")
	})
	for _, tc := range []struct{ schema, table string }{
		{schema, `we"ird`},
		{schema, `Mixed Case`},
		{schema, `mixed case`},
		{schema, `x"); DROP TABLE y; --`},
		{schema, `semi;colon`},
		{schema, `ключ 🔑`},
		{schema, strings.Repeat("n", 63)},
		{weirdSchema, `we"ird`},
	} {
		s, err := postgres.New(t.Context(), pool, &postgres.Options{Table: tc.schema + "." + tc.table})
		if err != nil {
			t.Errorf("New(table %q in schema %q): %v", tc.table, tc.schema, err)
			continue
		}
		v, err := s.Create(t.Context(), "k", []byte(tc.table), time.Hour)
		if err != nil {
			t.Errorf("table %q: Create: %v", tc.table, err)
		}
		if rec, err := s.Get(t.Context(), "k"); err != nil || string(rec.Value) != tc.table || rec.Version != v {
			t.Errorf("table %q: Get = (%q, %v)", tc.table, rec.Value, err)
		}
		s.Close()
		var n int
		err = pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'`, tc.schema, tc.table).Scan(&n)
		if err != nil || n != 1 {
			t.Errorf("table %q in schema %q: %d tables of exactly that name (%v), want 1", tc.table, tc.schema, n, err)
		}
	}
	// "Mixed Case" and "mixed case" are two tables: one value each.
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&n); err != nil || n != 7 {
		t.Errorf("%d tables in the schema (%v), want 7", n, err)
	}
}

// expiresIndexes counts the indexes of a table that lead on expires_at.
func expiresIndexes(t *testing.T, table string) int {
	t.Helper()
	var n int
	err := testPool(t).QueryRow(t.Context(), `SELECT count(*) FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = to_regclass($1) AND a.attname = 'expires_at'`, table).Scan(&n)
	if err != nil {
		t.Fatalf("count indexes: %v", err)
	}
	return n
}

// TestConcurrentStartup: instances starting together on a table that does
// not exist yet all succeed, and make one table with one expires_at index.
func TestConcurrentStartup(t *testing.T) {
	pool := testPool(t)
	schema := testSchema(t)
	for round := range 3 {
		table := pgx.Identifier{schema, "race" + string(rune('a'+round))}
		const n = 8
		var (
			wg     sync.WaitGroup
			start  = make(chan struct{})
			stores [n]*postgres.Store
			errs   [n]error
		)
		for i := range n {
			wg.Go(func() {
				<-start
				stores[i], errs[i] = postgres.New(t.Context(), pool, &postgres.Options{Table: schema + "." + table[1]})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: New #%d of %d at once: %v", round, i, n, err)
				continue
			}
			if _, err := stores[i].Create(t.Context(), string(rune('a'+i)), nil, time.Hour); err != nil {
				t.Errorf("round %d: store #%d: Create: %v", round, i, err)
			}
			stores[i].Close()
		}
		if got := expiresIndexes(t, table.Sanitize()); got != 1 {
			t.Errorf("round %d: %d indexes on expires_at, want 1", round, got)
		}
	}
}

// documentedDDL returns the DDL the package documentation gives operators,
// so that this test fails if the documentation and the code part ways.
func documentedDDL(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var ddl []string
	for line := range strings.Lines(string(src)) {
		code, ok := strings.CutPrefix(line, "//\t")
		switch {
		case ok && (len(ddl) > 0 || strings.HasPrefix(code, "CREATE TABLE")):
			ddl = append(ddl, code)
		case len(ddl) > 0:
			return strings.Join(ddl, "")
		}
	}
	t.Fatal("no CREATE TABLE block in doc.go")
	return ""
}

// execIn runs SQL (several statements allowed) with search_path set to
// schema, as an operator applying the documented DDL would.
func execIn(t *testing.T, schema, sql string) {
	t.Helper()
	conn, err := testPool(t).Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	_, err = conn.Conn().PgConn().Exec(t.Context(),
		"SET search_path TO "+pgx.Identifier{schema}.Sanitize()+"; "+sql+"; RESET search_path").ReadAll()
	if err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func TestSkipCreate(t *testing.T) {
	pool := testPool(t)
	schema := testSchema(t)
	table := schema + "." + postgres.DefaultTable

	_, err := postgres.New(t.Context(), pool, &postgres.Options{Table: table, SkipCreate: true})
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "SkipCreate") {
		t.Fatalf("New with SkipCreate and no table = %v, want an error saying the table does not exist and SkipCreate is set", err)
	}
	if n := tableCount(t, schema); n != 0 {
		t.Fatalf("New with SkipCreate created %d tables", n)
	}

	ddl := documentedDDL(t)
	t.Logf("documented DDL:\n%s", ddl)
	execIn(t, schema, ddl)
	s, err := postgres.New(t.Context(), pool, &postgres.Options{Table: table, SkipCreate: true})
	if err != nil {
		t.Fatalf("New with SkipCreate over the documented DDL: %v", err)
	}
	defer s.Close()
	if _, err := s.Create(t.Context(), "k", []byte("v"), time.Hour); err != nil {
		t.Fatalf("Create: %v", err)
	}
	// Without SkipCreate, the operator's table and index are taken as they
	// are: no second index.
	s2, err := postgres.New(t.Context(), pool, &postgres.Options{Table: table})
	if err != nil {
		t.Fatalf("New over the documented DDL: %v", err)
	}
	s2.Close()
	if n := expiresIndexes(t, pgx.Identifier{schema, postgres.DefaultTable}.Sanitize()); n != 1 {
		t.Errorf("%d indexes on expires_at, want the documented one only", n)
	}
}

func tableCount(t *testing.T, schema string) int {
	t.Helper()
	var n int
	if err := testPool(t).QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTableOfWrongShape: a table that exists but cannot serve the store is
// a clear error naming what is wrong, and is never altered; a missing
// expires_at index alone is added (or, under SkipCreate, reported).
func TestTableOfWrongShape(t *testing.T) {
	pool := testPool(t)
	schema := testSchema(t)
	execIn(t, schema, `CREATE TABLE textkeys (key text PRIMARY KEY, value bytea NOT NULL, version integer NOT NULL, expires_at timestamptz NOT NULL)`)
	execIn(t, schema, `CREATE TABLE nokey (key bytea, value bytea NOT NULL, version bigint NOT NULL)`)
	execIn(t, schema, `CREATE TABLE noindex (key bytea PRIMARY KEY, value bytea NOT NULL, version bigint NOT NULL, expires_at timestamptz NOT NULL)`)

	for _, tc := range []struct {
		table string
		skip  bool
		want  []string
	}{
		{"textkeys", false, []string{"column key is text, want bytea", "column version is integer, want bigint", "no index on expires_at"}},
		{"nokey", false, []string{"column expires_at is missing", "no primary key or unique index on key"}},
		{"noindex", true, []string{"no index on expires_at", "SkipCreate"}},
	} {
		_, err := postgres.New(t.Context(), pool, &postgres.Options{Table: schema + "." + tc.table, SkipCreate: tc.skip})
		if err == nil {
			t.Errorf("New over table %s succeeded, want an error", tc.table)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("New over table %s = %q, want it to say %q", tc.table, err, w)
			}
		}
	}
	if n := expiresIndexes(t, schema+".textkeys"); n != 0 {
		t.Errorf("a table of the wrong shape was given an index")
	}
	s, err := postgres.New(t.Context(), pool, &postgres.Options{Table: schema + ".noindex"})
	if err != nil {
		t.Fatalf("New over a table without the expires_at index: %v", err)
	}
	s.Close()
	if n := expiresIndexes(t, schema+".noindex"); n != 1 {
		t.Errorf("%d indexes on expires_at after New, want 1", n)
	}
}
