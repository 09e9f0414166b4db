package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

var memcached struct {
	sync.Mutex
	addrs []string // servers started so far, in start order
	err   error    // a start failure, reported to every later caller
}

// MemcacheAddrs returns the addresses of n distinct memcached servers,
// ["127.0.0.1:PORT", ...]: the first n of $TEST_MEMCACHE_URL
// (memcache://h1:p1,h2:p2, which must list at least n) when set, else
// containers (image $TEST_MEMCACHE_IMAGE, default memcached:1.6) started on
// first need and shared by the whole test binary — asking for 2 and later
// for 3 starts one more. Else it skips the test (fails it under
// TEST_REQUIRE_STORES=1).
//
// The servers are shared: tests must use their own key prefixes and must
// not flush_all.
func MemcacheAddrs(t testing.TB, n int) []string {
	t.Helper()
	if n < 1 {
		t.Fatalf("testenv: MemcacheAddrs(t, %d): need at least one server", n)
	}
	if u := os.Getenv("TEST_MEMCACHE_URL"); u != "" {
		addrs, err := parseMemcacheURL(u)
		if err != nil {
			check(t, fmt.Errorf("TEST_MEMCACHE_URL: %w", err))
		}
		if len(addrs) >= n {
			return addrs[:n]
		}
		// Too few listed: the rest come from containers, if Docker answers.
		more, err := startMemcached(t, n-len(addrs))
		if err != nil {
			err = unavailable("TEST_MEMCACHE_URL lists %d memcached server(s), this test needs %d, and the others could not be started: %v", len(addrs), n, err)
		}
		check(t, err)
		return append(addrs, more...)
	}
	addrs, err := startMemcached(t, n)
	check(t, err)
	return addrs
}

// parseMemcacheURL reads memcache://host:port[,host:port...], the form
// store/memcache's Open takes.
func parseMemcacheURL(s string) ([]string, error) {
	rest, ok := strings.CutPrefix(s, "memcache://")
	if !ok {
		return nil, errors.New("want memcache://host:port[,host:port...]")
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	var addrs []string
	for a := range strings.SplitSeq(rest, ",") {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil, fmt.Errorf("server %q: want host:port", a)
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return nil, fmt.Errorf("server %q: bad port", a)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

func startMemcached(t testing.TB, n int) ([]string, error) {
	t.Helper()
	memcached.Lock()
	defer memcached.Unlock()
	if memcached.err != nil {
		return nil, memcached.err
	}
	for len(memcached.addrs) < n {
		addr, err := startOneMemcached(t)
		if err != nil {
			memcached.err = err
			return nil, err
		}
		memcached.addrs = append(memcached.addrs, addr)
	}
	return append([]string(nil), memcached.addrs[:n]...), nil
}

func startOneMemcached(t testing.TB) (string, error) {
	t.Helper()
	if err := needDocker("TEST_MEMCACHE_URL", "memcache://127.0.0.1:11211"); err != nil {
		return "", err
	}
	c, err := startContainer(t, "memcached", "TEST_MEMCACHE_IMAGE", "memcached:1.6", func(ctx context.Context, image string) (*testcontainers.DockerContainer, error) {
		return testcontainers.Run(ctx, image,
			testcontainers.WithExposedPorts("11211/tcp"),
			testcontainers.WithWaitStrategy(wait.ForListeningPort("11211/tcp").WithStartupTimeout(time.Minute)),
		)
	})
	if err != nil {
		return "", err
	}
	addr, err := c.PortEndpoint(context.Background(), "11211/tcp", "")
	if err != nil {
		return "", fmt.Errorf("memcached container address: %w", err)
	}
	return addr, nil
}
