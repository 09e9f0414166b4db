package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

var redisOnce struct {
	sync.Once
	url string
	err error
}

// RedisURL returns the URL of a standalone Redis server,
// "redis://127.0.0.1:PORT/0": $TEST_REDIS_URL when set, else a container
// (image $TEST_REDIS_IMAGE, default redis:7) started once per test binary,
// else it skips the test (fails it under TEST_REQUIRE_STORES=1).
//
// The server is shared: tests must use their own key prefixes and must not
// FLUSHDB.
func RedisURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	redisOnce.Do(func() { redisOnce.url, redisOnce.err = startRedis(t) })
	check(t, redisOnce.err)
	return redisOnce.url
}

func startRedis(t testing.TB) (string, error) {
	t.Helper()
	if err := needDocker("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"); err != nil {
		return "", err
	}
	c, err := startContainer(t, "redis", "TEST_REDIS_IMAGE", "redis:7", func(ctx context.Context, image string) (*tcredis.RedisContainer, error) {
		return tcredis.Run(ctx, image)
	})
	if err != nil {
		return "", err
	}
	addr, err := c.PortEndpoint(context.Background(), "6379/tcp", "")
	if err != nil {
		return "", fmt.Errorf("redis container address: %w", err)
	}
	return "redis://" + addr + "/0", nil
}
