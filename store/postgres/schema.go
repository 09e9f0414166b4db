package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxIdentLen is Postgres' NAMEDATALEN-1: a longer name would be silently
// truncated by the server, and two long names could then meet.
const maxIdentLen = 63

// parseTable splits "name" or "schema.name" into an identifier that
// pgx.Identifier.Sanitize quotes. It refuses what Sanitize would change
// (NUL, which it drops) or the server would (overlong names).
func parseTable(name string) (pgx.Identifier, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return nil, fmt.Errorf("postgres: table name %q: want name or schema.name", name)
	}
	for _, p := range parts {
		switch {
		case p == "":
			return nil, fmt.Errorf("postgres: table name %q has an empty part", name)
		case len(p) > maxIdentLen:
			return nil, fmt.Errorf("postgres: table name %q: %q is longer than %d bytes", name, p, maxIdentLen)
		case strings.IndexByte(p, 0) >= 0:
			return nil, fmt.Errorf("postgres: table name %q contains a NUL byte", name)
		}
	}
	return pgx.Identifier(parts), nil
}

// statements holds the SQL of every operation, built once from the
// sanitized table name; all data travels as parameters.
type statements struct {
	get, create, createOrGet, replace, replaceBatch, touch, del, compareAndDelete, reap string
	createTable, createIndex                                                            string
}

func newStatements(t string) statements {
	return statements{
		get: `SELECT value, version FROM ` + t + ` WHERE key = $1 AND expires_at > now()`,

		// A live row makes the DO UPDATE's WHERE false: no row is written
		// and the command tag says 0 rows. Concurrent Creates of one key
		// serialize on the row (or on the speculative insertion), and each
		// later one sees the winner's row as live.
		create: `INSERT INTO ` + t + ` AS s (key, value, version, expires_at)
VALUES ($1, $2, $3, now() + $4::interval)
ON CONFLICT (key) DO UPDATE
SET value = excluded.value, version = excluded.version, expires_at = excluded.expires_at
WHERE s.expires_at <= now()`,

		// create, then, when it wrote nothing, the live row, in one
		// statement. The SELECT reads the statement's snapshot, so a row
		// another transaction committed after it began — the very row
		// the INSERT found in its way — may be invisible to it: then
		// nothing comes back and CreateOrGet reads again (createorget.go).
		createOrGet: `WITH ins AS (
	INSERT INTO ` + t + ` AS s (key, value, version, expires_at)
	VALUES ($1, $2, $3, now() + $4::interval)
	ON CONFLICT (key) DO UPDATE
	SET value = excluded.value, version = excluded.version, expires_at = excluded.expires_at
	WHERE s.expires_at <= now()
	RETURNING s.version
)
SELECT NULL::bytea, version, true FROM ins
UNION ALL
SELECT value, version, false FROM ` + t + `
WHERE key = $1 AND expires_at > now() AND NOT EXISTS (SELECT 1 FROM ins)`,

		// The data-modifying CTE always runs; the CASE reads the table
		// again only when it updated nothing (an uncorrelated EXISTS is an
		// InitPlan, evaluated when first needed), to tell a stale version
		// (a live row is there: 2) from a missing or expired row (0).
		replace: `WITH upd AS (
	UPDATE ` + t + ` SET value = $2, version = $3, expires_at = now() + $4::interval
	WHERE key = $1 AND version = $5 AND expires_at > now()
	RETURNING 1
)
SELECT CASE
	WHEN EXISTS (SELECT 1 FROM upd) THEN 1
	WHEN EXISTS (SELECT 1 FROM ` + t + ` WHERE key = $1 AND expires_at > now()) THEN 2
	ELSE 0
END`,

		// Many Replaces in one statement (batch.go). $1..$5 are arrays,
		// one element per call: key, value, new version, ttl, old
		// version; no key twice. Each call is judged exactly as replace
		// judges a lone call, so a call answers the same whichever path it
		// takes, races included:
		//   - b reads every row as it was when the statement began (its
		//     snapshot, as replace's EXISTS does): a row missing or expired
		//     there is not found (0), even if a Create has since revived
		//     it, and a row live there but not updated is a conflict (2),
		//     even if a Delete has since removed it.
		//   - l locks, in key order, only the rows live in that snapshot,
		//     as replace's UPDATE does (it never waits on a row that was
		//     not live when it began); a row changed meanwhile is locked
		//     in its latest form and dropped if that is no longer live.
		//     Taking every lock of a batch in key order keeps concurrent
		//     batches from deadlocking.
		//   - u updates only rows l has locked (u joins l) whose latest
		//     version is the call's (1).
		// Liveness is tested as "(…) IS TRUE" in l and as a column in b so
		// that the planner finds rows by the primary key only (on a young
		// table it would otherwise pick the expires_at index and scan
		// every live row). The outcomes come back in the order of the
		// arrays.
		replaceBatch: `WITH i AS (
	SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::interval[], $5::bigint[])
		WITH ORDINALITY AS i(key, value, version, ttl, old, n)
), b AS (
	SELECT s.key, s.expires_at > now() AS live FROM ` + t + ` s
	WHERE s.key = ANY ($1::bytea[])
), l AS MATERIALIZED (
	SELECT s.key FROM ` + t + ` s
	WHERE s.key = ANY ($1::bytea[]) AND (s.expires_at > now()) IS TRUE
	ORDER BY s.key FOR UPDATE
), u AS (
	UPDATE ` + t + ` s SET value = i.value, version = i.version, expires_at = now() + i.ttl
	FROM i, l
	WHERE s.key = ANY ($1::bytea[]) AND s.key = i.key AND l.key = i.key
		AND s.version = i.old
	RETURNING s.key
)
SELECT CASE WHEN u.key IS NOT NULL THEN 1 WHEN b.live THEN 2 ELSE 0 END
FROM i LEFT JOIN u ON u.key = i.key LEFT JOIN b ON b.key = i.key
ORDER BY i.n`,

		touch: `UPDATE ` + t + ` SET expires_at = now() + $2::interval WHERE key = $1 AND expires_at > now()`,

		del: `DELETE FROM ` + t + ` WHERE key = $1`,

		// Built as replace is: the DELETE always runs, and the CASE reads
		// the table again only when it deleted nothing (CASE stops at its
		// first true branch, and an uncorrelated EXISTS is evaluated when
		// first needed). That read locks (FOR SHARE), so that it judges
		// the row in its latest committed form, as the DELETE did, not as
		// the statement's snapshot had it: a row deleted by a writer that
		// committed while the DELETE waited for its lock is gone (0, not
		// found, as it is for every loser of concurrent CompareAndDeletes),
		// and one replaced meanwhile is live under another version (2,
		// conflict). A row missing or expired in the snapshot is never
		// waited on and is not found (0), even if a Create has revived it
		// since. The statement holds at most one row lock at a time.
		compareAndDelete: `WITH del AS (
	DELETE FROM ` + t + ` WHERE key = $1 AND version = $2 AND expires_at > now()
	RETURNING 1
)
SELECT CASE
	WHEN EXISTS (SELECT 1 FROM del) THEN 1
	WHEN EXISTS (SELECT 1 FROM ` + t + ` WHERE key = $1 AND expires_at > now() FOR SHARE) THEN 2
	ELSE 0
END`,

		// SKIP LOCKED: rows another reaper (or a writer) holds are left to
		// it, so reapers never wait on each other and traffic waits at most
		// for one batch. The outer condition repeats the expiry test as a
		// guard; the inner one uses the expires_at index.
		reap: `DELETE FROM ` + t + `
WHERE key = ANY (ARRAY(
	SELECT key FROM ` + t + ` WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED
)) AND expires_at <= now()`,

		createTable: `CREATE TABLE IF NOT EXISTS ` + t + ` (
	key        bytea       PRIMARY KEY,
	value      bytea       NOT NULL,
	version    bigint      NOT NULL,
	expires_at timestamptz NOT NULL
)`,
		// Unnamed: Postgres names it <table>_expires_at_idx, shortened and
		// made unique as needed. It runs only when no index leads on
		// expires_at, checked under the advisory lock.
		createIndex: `CREATE INDEX ON ` + t + ` (expires_at)`,
	}
}

// inspectSQL reads what the store needs to know about its table in one
// round trip. $1 is the sanitized name, resolved the way the statements
// resolve it (search_path included).
const inspectSQL = `WITH rel AS (SELECT to_regclass($1::text) AS oid)
SELECT rel.oid IS NOT NULL,
	coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
		WHERE a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}'),
	coalesce((SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) FROM pg_attribute a
		WHERE a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}'),
	EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = rel.oid AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = 'key'),
	EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = rel.oid AND i.indpred IS NULL AND a.attname = 'expires_at')
FROM rel`

// wantColumns are the columns the statements use, with their types as
// format_type spells them.
var wantColumns = []struct{ name, typ string }{
	{"key", "bytea"},
	{"value", "bytea"},
	{"version", "bigint"},
	{"expires_at", "timestamp with time zone"},
}

type tableState struct {
	exists       bool
	columns      map[string]string // name → type
	keyUnique    bool
	expiresIndex bool
}

// querier is what inspect needs: a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) inspect(ctx context.Context, q querier) (tableState, error) {
	var (
		st           tableState
		names, types []string
	)
	err := q.QueryRow(ctx, inspectSQL, s.table).Scan(&st.exists, &names, &types, &st.keyUnique, &st.expiresIndex)
	if err != nil {
		return st, err
	}
	st.columns = make(map[string]string, len(names))
	for i, n := range names {
		if i < len(types) {
			st.columns[n] = types[i]
		}
	}
	return st, nil
}

// problems lists what keeps the table from serving the statements; none
// means ready. missingOnly reports whether creating the table (if absent)
// and the expires_at index would fix them all.
func (st tableState) problems() (list []string, missingOnly bool) {
	if !st.exists {
		return []string{"the table does not exist"}, true
	}
	missingOnly = true
	for _, c := range wantColumns {
		switch got, ok := st.columns[c.name]; {
		case !ok:
			list = append(list, fmt.Sprintf("column %s is missing (want %s)", c.name, c.typ))
			missingOnly = false
		case got != c.typ:
			list = append(list, fmt.Sprintf("column %s is %s, want %s", c.name, got, c.typ))
			missingOnly = false
		}
	}
	if !st.keyUnique {
		list = append(list, "no primary key or unique index on key alone")
		missingOnly = false
	}
	if !st.expiresIndex {
		list = append(list, "no index on expires_at")
	}
	return list, missingOnly
}

// schemaError is a table the store cannot use as it is: the server
// answered, and waiting will not help.
type schemaError struct {
	table string
	msg   string
}

func (e *schemaError) Error() string {
	return "postgres: table " + e.table + ": " + e.msg
}

// ensureSchema checks the table and, unless SkipCreate, creates what is
// missing. Calls queue on schemaLock; once one has passed, the rest return
// at once and the hot path no longer comes here.
func (s *Store) ensureSchema(ctx context.Context) error {
	select {
	case s.schemaLock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.schemaLock }()
	if s.ready.Load() {
		return nil
	}
	if err := s.checkSchema(ctx); err != nil {
		var se *schemaError
		if errors.As(err, &se) {
			return err
		}
		return fmt.Errorf("postgres: checking table %s: %w", s.table, err)
	}
	s.ready.Store(true)
	return nil
}

func (s *Store) checkSchema(ctx context.Context) error {
	st, err := s.inspect(ctx, s.pool)
	if err != nil {
		return err
	}
	list, _ := st.problems()
	if len(list) == 0 {
		return nil
	}
	if s.opts.SkipCreate {
		return &schemaError{s.table, strings.Join(list, "; ") +
			" (Options.SkipCreate is set: apply the DDL in the package documentation of github.com/stateless-go/stateless/store/postgres)"}
	}
	// A table of another shape is judged again under the lock below: a
	// table another instance is creating at this moment can look like one
	// (to_regclass may see it committed while the same statement's
	// snapshot sees none of its columns yet); once that instance has
	// released the lock, its table is seen whole.
	shapeErr := func(list []string) error {
		return &schemaError{s.table, strings.Join(list, "; ") + " (an existing table of another shape is never altered; use another table name or fix it by hand)"}
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Instances starting together would otherwise race in CREATE TABLE
		// IF NOT EXISTS (which can fail on pg_type's unique index) and
		// could each add an index.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(s.table)); err != nil {
			return err
		}
		st, err := s.inspect(ctx, tx)
		if err != nil {
			return err
		}
		if list, missingOnly := st.problems(); !missingOnly {
			return shapeErr(list)
		}
		if !st.exists {
			if _, err := tx.Exec(ctx, s.sql.createTable); err != nil {
				return err
			}
			st.expiresIndex = false
		}
		if !st.expiresIndex {
			if _, err := tx.Exec(ctx, s.sql.createIndex); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	st, err = s.inspect(ctx, s.pool)
	if err != nil {
		return err
	}
	if list, _ := st.problems(); len(list) > 0 {
		return &schemaError{s.table, "after creating it: " + strings.Join(list, "; ")}
	}
	return nil
}

// lockKey is the advisory lock that serializes schema creation of one
// table across instances: a hash of this package's path and the table.
func lockKey(table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/stateless-go/stateless/store/postgres\x00"))
	h.Write([]byte(table))
	return int64(h.Sum64())
}

// refused reports whether err says the server answered and will keep
// refusing, as opposed to not being reachable (yet): a table of the wrong
// shape, an error from a statement (no permission to create, say), or a
// connection refused for its credentials or database name.
func refused(err error) bool {
	var se *schemaError
	if errors.As(err, &se) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	var connErr *pgconn.ConnectError
	if !errors.As(err, &connErr) {
		return true
	}
	// Class 28: invalid authorization; 3D000: no such database. Others
	// while connecting (57P03, starting up) pass with time.
	return strings.HasPrefix(pgErr.Code, "28") || pgErr.Code == "3D000"
}
