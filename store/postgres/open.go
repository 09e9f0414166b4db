package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
)

func init() {
	open := func(ctx context.Context, rawURL string) (store.Store, error) {
		s, err := Open(ctx, rawURL)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	store.Register("postgres", open)
	store.Register("postgresql", open)
}

// Open opens a pool from a URL and returns a Store over it that owns it:
// Close closes the pool. The URL is pgx's (libpq's), as in
// "postgres://user:pass@127.0.0.1:5432/db?sslmode=disable", with every
// parameter pgx and pgxpool know (sslmode, pool_max_conns, ...), plus the
// store's own, which ParseURL describes. Open does not need the server to
// be up; see New for what it checks before returning. Its errors never
// contain the password.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	cfg, opts, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s", driver.Scrub(err.Error(), driver.URLSecrets(rawURL)))
	}
	s, err := New(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownPool = true
	return s, nil
}

// The store's own URL parameters. They are removed before the URL reaches
// pgx, which would otherwise send them to the server as run-time settings
// and fail to connect.
const (
	paramTable        = "table"
	paramSkipCreate   = "skip_create"
	paramReapInterval = "reap_interval"
	paramReapBatch    = "reap_batch"
	paramMaxValueSize = "max_value_size"
	paramBatching     = "batching"
)

// ParseURL splits a "postgres://" or "postgresql://" URL into a pool
// configuration and the store's Options. The store's parameters are:
//
//	table=NAME             Options.Table ("name" or "schema.name")
//	skip_create=true       Options.SkipCreate
//	reap_interval=30s      Options.ReapInterval, a Go duration; "off" turns the reaper off
//	reap_batch=500         Options.ReapBatch
//	max_value_size=1048576 Options.MaxValueSize, in bytes
//	batching=false         Options.DisableBatching (batching=true, the default, keeps it on)
//
// Each may appear once. Every other parameter goes to pgx unchanged. No
// error contains the URL's password.
func ParseURL(rawURL string) (*pgxpool.Config, *Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url's errors quote the whole URL, password included.
		return nil, nil, errors.New("postgres: malformed URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, nil, fmt.Errorf("postgres: URL scheme is %q, want postgres or postgresql", u.Scheme)
	}
	if u.Fragment != "" || strings.HasSuffix(rawURL, "#") {
		return nil, nil, errors.New("postgres: malformed URL: it has a #fragment (a # in a password must be written %23)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, nil, errors.New("postgres: malformed URL query")
	}
	opts := &Options{}
	for _, name := range []string{paramTable, paramSkipCreate, paramReapInterval, paramReapBatch, paramMaxValueSize, paramBatching} {
		vs, ok := q[name]
		if !ok {
			continue
		}
		delete(q, name)
		if len(vs) != 1 {
			return nil, nil, fmt.Errorf("postgres: URL parameter %s given %d times", name, len(vs))
		}
		if err := setParam(opts, name, vs[0]); err != nil {
			return nil, nil, err
		}
	}
	u.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: bad connection URL: %s", pgxParseMessage(err, driver.URLSecrets(rawURL)))
	}
	return cfg, opts, nil
}

func setParam(o *Options, name, v string) error {
	bad := func(want string) error {
		return fmt.Errorf("postgres: URL parameter %s=%q: want %s", name, v, want)
	}
	switch name {
	case paramTable:
		if _, err := parseTable(v); err != nil {
			return err
		}
		o.Table = v
	case paramSkipCreate:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return bad("true or false")
		}
		o.SkipCreate = b
	case paramReapInterval:
		if v == "off" {
			o.ReapInterval = -1
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return bad(`a positive duration such as 30s, or "off"`)
		}
		o.ReapInterval = d
	case paramReapBatch:
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return bad("a positive number of rows")
		}
		o.ReapBatch = n
	case paramMaxValueSize:
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > MaxValueSizeLimit {
			return bad(fmt.Sprintf("a number of bytes from 1 to %d", MaxValueSizeLimit))
		}
		o.MaxValueSize = n
	case paramBatching:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return bad("true or false")
		}
		o.DisableBatching = !b
	}
	return nil
}

// pgxParseMessage is the useful part of a pgx parse error, without the
// connection string pgx quotes in it (its redaction is best effort), and
// without any secret that might still be in the rest.
func pgxParseMessage(err error, secrets []string) string {
	msg := err.Error()
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		// "cannot parse `CONNSTRING`: message (cause)"
		_, rest, ok := strings.Cut(msg, "`: ")
		if !ok {
			return "invalid connection settings"
		}
		msg = rest
		// These causes quote a part of the input, which may be a password
		// where the URL is too broken to tell.
		if strings.HasPrefix(msg, "failed to parse as URL") {
			msg = "failed to parse as URL"
		} else if strings.HasPrefix(msg, "failed to parse as keyword/value") {
			msg = "failed to parse as keyword/value"
		}
	}
	return driver.Scrub(msg, secrets)
}
