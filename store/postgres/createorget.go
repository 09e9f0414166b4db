package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
)

var _ store.CreateOrGetter = (*Store)(nil)

// CreateOrGet implements store.CreateOrGetter with one statement: the
// Create's INSERT and, when it wrote nothing, a read of the live row.
// Stats counts it as a Create.
//
// When a concurrent Create commits the key after the statement began, the
// INSERT waits for it and writes nothing, but the read, which sees the
// table as it was when the statement began, finds no row either; only
// then does CreateOrGet read again, as Get does (and, if that row is gone
// again, starts over, a bounded number of times).
func (s *Store) CreateOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) (store.Record, bool, error) {
	rec, created, err := s.createOrGet(ctx, key, value, ttl)
	s.count.Count(driver.OpCreate, err)
	return rec, created, err
}

// maxCreateOrGetRounds bounds the rounds of CreateOrGet against a key
// that keeps being created and deleted under it.
const maxCreateOrGetRounds = 8

func (s *Store) createOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) (store.Record, bool, error) {
	if err := driver.BeginWrite(ctx, s.closed.Load(), key, value, ttl, s.opts.MaxValueSize); err != nil {
		return store.Record{}, false, err
	}
	if err := s.ensureReady(ctx); err != nil {
		return store.Record{}, false, err
	}
	for range maxCreateOrGetRounds {
		var (
			got     []byte
			version int64
			created bool
		)
		err := s.pool.QueryRow(ctx, s.sql.createOrGet, []byte(key), nonNil(value), int64(driver.NewVersion()), interval(ttl)).Scan(&got, &version, &created)
		switch {
		case err == nil && created:
			return store.Record{Version: uint64(version)}, true, nil
		case err == nil:
			if got == nil {
				got = []byte{}
			}
			return store.Record{Value: got, Version: uint64(version)}, false, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return store.Record{}, false, s.fail("create", err)
		}
		// The row a concurrent Create committed after the statement began.
		rec, err := s.get(ctx, key)
		if !errors.Is(err, store.ErrNotFound) {
			return rec, false, err
		}
	}
	return store.Record{}, false, errors.New("postgres: create: the key was created and deleted under every attempt to read it")
}
