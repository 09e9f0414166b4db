package idempotency_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memcache"
	"github.com/stateless-go/stateless/store/postgres"
	"github.com/stateless-go/stateless/store/redis"
	"github.com/stateless-go/stateless/store/storetest"
)

// The multi-instance guarantee over real servers, found or started by
// internal/testenv: three instances, each with its own client as three
// processes would have, share one server.

// instances opens n stores from one URL.
func instances(t *testing.T, n int, open func(context.Context) (store.Store, error)) []store.Store {
	t.Helper()
	var sts []store.Store
	for range n {
		s, err := open(t.Context())
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		sts = append(sts, s)
	}
	return sts
}

// withParam appends a query parameter to a URL.
func withParam(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}

// redisURL is the test server's URL with a key prefix of the test's own.
func redisURL(t *testing.T) string {
	return withParam(testenv.RedisURL(t), "prefix=idem-test:"+storetest.RandomPrefix()+":")
}

// postgresURL is the test server's URL with a table of this package's
// tests. Tests sharing the table keep apart by key (their keys are
// random); the records expire, and the adapter's reaper removes them.
func postgresURL(t *testing.T) string {
	return withParam(testenv.PostgresURL(t), "table=stateless_idempotency_test")
}

func TestOneExecutionRedis(t *testing.T) {
	url := redisURL(t)
	sts := instances(t, 3, func(ctx context.Context) (store.Store, error) { return redis.Open(ctx, url) })
	oneExecutionAcross(t, sts)
}

func TestOneExecutionPostgres(t *testing.T) {
	url := postgresURL(t)
	sts := instances(t, 3, func(ctx context.Context) (store.Store, error) { return postgres.Open(ctx, url) })
	oneExecutionAcross(t, sts)
}

// Memcached cannot delete on a version: releases go through a "released"
// record.
func TestOneExecutionMemcache(t *testing.T) {
	url := "memcache://" + testenv.MemcacheAddrs(t, 1)[0] + "?timeout=10s&prefix=idem-test:" + storetest.RandomPrefix() + ":"
	sts := instances(t, 3, func(ctx context.Context) (store.Store, error) { return memcache.Open(ctx, url) })
	oneExecutionAcross(t, sts)
}
