package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memcache"
	"github.com/stateless-go/stateless/store/postgres"
	"github.com/stateless-go/stateless/store/redis"
)

// The propagation tests run against real servers, found or started by
// internal/testenv (see its package documentation): each test makes two
// instances, each with a client of its own as two processes would have,
// and measures how long a revocation made on one takes to be refused by the
// other.

// revTrials is the number of revocations measured per backend.
const revTrials = 100

// revRandom is a fresh random name, so that runs sharing a server never
// meet.
func revRandom() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// revPropagation makes a Revocations over each of two stores of one server
// (default options, a Key of the test's own), then, revTrials times,
// revokes a session, a token or a subject on the first and measures the
// time from the Revoke call until the second refuses it. Every delay must
// be under a second.
func revPropagation(t *testing.T, sa, sb store.Store) {
	opts := &RevocationOptions{Key: "auth-test:" + revRandom() + ":revocations"}
	a := revNew(t, sa, opts)
	b := revNew(t, sb, opts)
	ctx := t.Context()
	delays := make([]time.Duration, 0, revTrials)
	writes := make([]time.Duration, 0, revTrials)
	now := time.Now()
	for i := range revTrials {
		// A pause of random length, so that the revocations fall at every
		// phase of the other instance's polls, not just after one.
		time.Sleep(time.Duration(mrand.Int64N(int64(300 * time.Millisecond))))
		id := fmt.Sprintf("trial-%d-%s", i, revRandom())
		var s RevocationSubject
		began := time.Now()
		var err error
		switch i % 3 {
		case 0:
			s = RevocationSubject{SID: id}
			err = a.RevokeSession(ctx, id)
		case 1:
			s = RevocationSubject{JTI: id}
			err = a.RevokeToken(ctx, id, now.Add(5*time.Minute))
		case 2:
			s = RevocationSubject{Subject: id, IssuedAt: now}
			err = a.RevokeSubject(ctx, id, time.Now())
		}
		if err != nil {
			t.Fatalf("trial %d: revoke: %v", i, err)
		}
		writes = append(writes, time.Since(began))
		revWant(t, a, s, true)
		d := revAwait(t, b, s, began, 5*time.Second)
		if d >= time.Second {
			t.Errorf("trial %d: refused by the other instance after %v, want under 1s", i, d)
		}
		delays = append(delays, d)
	}
	revWant(t, b, RevocationSubject{Subject: "live", SID: "live", JTI: "live", IssuedAt: now}, false)
	slices.Sort(delays)
	slices.Sort(writes)
	t.Logf("%d trials: delay until refused by the other instance: median %v, max %v (min %v); Revoke call: median %v, max %v",
		revTrials, delays[len(delays)/2].Round(time.Microsecond), delays[len(delays)-1].Round(time.Microsecond),
		delays[0].Round(time.Microsecond), writes[len(writes)/2].Round(time.Microsecond), writes[len(writes)-1].Round(time.Microsecond))
}

func TestRevocationsPropagationRedis(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	newStore := func() store.Store {
		opts, err := goredis.ParseURL(url)
		if err != nil {
			t.Fatalf("the test server's URL: %v", err)
		}
		opts.ContextTimeoutEnabled = true
		c := goredis.NewClient(opts)
		t.Cleanup(func() { c.Close() })
		s, err := redis.New(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	revPropagation(t, newStore(), newStore())
}

func TestRevocationsPropagationRedisCluster(t *testing.T) {
	t.Parallel()
	addrs := testenv.RedisClusterAddrs(t)
	newStore := func() store.Store {
		c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
		t.Cleanup(func() { c.Close() })
		s, err := redis.New(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	revPropagation(t, newStore(), newStore())
}

func TestRevocationsPropagationMemcache(t *testing.T) {
	t.Parallel()
	addrs := testenv.MemcacheAddrs(t, 1)
	newStore := func() store.Store {
		c := gomemcache.New(addrs...)
		c.Timeout = memcache.DefaultTimeout
		t.Cleanup(func() { c.Close() })
		s, err := memcache.New(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	revPropagation(t, newStore(), newStore())
}

func TestRevocationsPropagationPostgres(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	ctx := t.Context()
	newPool := func() *pgxpool.Pool {
		p, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatalf("pool: %v", err)
		}
		t.Cleanup(p.Close)
		return p
	}
	admin := newPool()
	schema := "rev_" + revRandom()
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+q); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+q+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	newStore := func() store.Store {
		s, err := postgres.New(ctx, newPool(), &postgres.Options{Table: schema + ".records"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	revPropagation(t, newStore(), newStore())
}
