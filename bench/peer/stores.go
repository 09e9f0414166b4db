package peer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
)

// Store is an scs store opened by OpenStore, with what the server needs
// besides: a readiness ping and a Close that releases what was opened.
type Store struct {
	scs.Store
	Ping  func(context.Context) error // nil for memstore
	Close func()
}

// PgxSchema creates the table and index pgxstore needs, as its README
// gives them. It is idempotent.
const PgxSchema = `CREATE TABLE IF NOT EXISTS sessions (
	token TEXT PRIMARY KEY,
	data BYTEA NOT NULL,
	expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry);`

// OpenStore opens the scs store that spec names:
//
//	memory (or memory://)            memstore
//	redis://[user:pass@]host:port/db  goredisstore over a go-redis client
//	postgres://user@host:port/db?...  pgxstore over a pgxpool, creating its
//	                                  sessions table if it does not exist
//
// Errors never contain the URL's password.
func OpenStore(ctx context.Context, spec string) (*Store, error) {
	switch {
	case spec == "memory" || spec == "memory://" || spec == "":
		ms := memstore.New()
		return &Store{Store: ms, Close: ms.StopCleanup}, nil
	case strings.HasPrefix(spec, "redis://"):
		opt, err := goredis.ParseURL(spec)
		if err != nil {
			return nil, fmt.Errorf("peer: bad redis URL %s: %s", redact(spec), scrub(err.Error(), spec))
		}
		client := goredis.NewClient(opt)
		if err := client.Ping(ctx).Err(); err != nil {
			client.Close()
			return nil, fmt.Errorf("peer: redis at %s: %s", redact(spec), scrub(err.Error(), spec))
		}
		return &Store{
			Store: goredisstore.New(client),
			Ping:  func(ctx context.Context) error { return client.Ping(ctx).Err() },
			Close: func() { client.Close() },
		}, nil
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		pool, err := pgxpool.New(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("peer: postgres at %s: %s", redact(spec), scrub(err.Error(), spec))
		}
		if _, err := pool.Exec(ctx, PgxSchema); err != nil {
			pool.Close()
			return nil, fmt.Errorf("peer: postgres at %s: creating the sessions table: %s", redact(spec), scrub(err.Error(), spec))
		}
		ps := pgxstore.New(pool)
		return &Store{
			Store: ps,
			Ping:  pool.Ping,
			Close: func() { ps.StopCleanup(); pool.Close() },
		}, nil
	}
	return nil, errors.New("peer: unknown store " + redact(spec) + `: want memory, redis://… or postgres://…`)
}

// redact hides a URL's secrets, by the main module's rule.
func redact(s string) string { return store.RedactURL(s) }

// scrub removes a URL's secrets from an error message, by the main
// module's rule.
func scrub(msg, rawURL string) string { return driver.Scrub(msg, driver.URLSecrets(rawURL)) }
