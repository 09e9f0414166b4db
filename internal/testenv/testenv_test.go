package testenv

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// fakeTB records how a harness call ended the test, so skip and failure
// paths can be checked without ending the real test.
type fakeTB struct {
	testing.TB // nil: any method not overridden below panics
	skipped    bool
	failed     bool
	msg        string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Logf(string, ...any)            {}
func (f *fakeTB) Skipf(format string, a ...any)  { f.end(&f.skipped, format, a) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.end(&f.failed, format, a) }

func (f *fakeTB) end(flag *bool, format string, a []any) {
	*flag, f.msg = true, fmt.Sprintf(format, a...)
	runtime.Goexit() // as t.Skipf and t.Fatalf do
}

// runFake calls fn with a fakeTB on its own goroutine, as the testing
// package would, and reports how it ended.
func runFake(fn func(testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name       string
		require    string
		err        error
		skip, fail bool
		msgHas     []string
	}{
		{name: "nil", err: nil},
		{name: "unavailable skips", err: unavailable("set TEST_X_URL or run a Docker engine"), skip: true,
			msgHas: []string{"TEST_X_URL", "Docker"}},
		{name: "unavailable fails when required", require: "1", err: unavailable("set TEST_X_URL or run a Docker engine"), fail: true,
			msgHas: []string{"TEST_X_URL", "Docker", "TEST_REQUIRE_STORES"}},
		{name: "require=0 still skips", require: "0", err: unavailable("x"), skip: true},
		{name: "start failure fails", err: errors.New("container died"), fail: true, msgHas: []string{"container died"}},
		{name: "wrapped unavailable skips", err: fmt.Errorf("ctx: %w", unavailable("x")), skip: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TEST_REQUIRE_STORES", tc.require)
			f := runFake(func(tb testing.TB) { check(tb, tc.err) })
			if f.skipped != tc.skip || f.failed != tc.fail {
				t.Fatalf("skipped=%v failed=%v (%q), want skipped=%v failed=%v", f.skipped, f.failed, f.msg, tc.skip, tc.fail)
			}
			for _, s := range tc.msgHas {
				if !strings.Contains(f.msg, s) {
					t.Errorf("message %q does not mention %q", f.msg, s)
				}
			}
		})
	}
}

// Given URLs win over containers: these calls must not start anything.
func TestEnvWins(t *testing.T) {
	t.Setenv("TEST_REDIS_URL", "redis://127.0.0.1:1/0")
	t.Setenv("TEST_POSTGRES_URL", "postgres://u:p@127.0.0.1:1/db?sslmode=disable")
	t.Setenv("TEST_MEMCACHE_URL", "memcache://127.0.0.1:1,127.0.0.1:2,127.0.0.1:3")
	t.Setenv("TEST_REDIS_CLUSTER_ADDRS", "127.0.0.1:1, 127.0.0.1:2,127.0.0.1:3")
	t.Setenv("TEST_REDIS_SENTINEL_URL", "redis+sentinel://127.0.0.1:1,127.0.0.1:2/m/0")
	if got := RedisURL(t); got != "redis://127.0.0.1:1/0" {
		t.Errorf("RedisURL = %q", got)
	}
	if got := PostgresURL(t); got != "postgres://u:p@127.0.0.1:1/db?sslmode=disable" {
		t.Errorf("PostgresURL = %q", got)
	}
	if got, want := MemcacheAddrs(t, 2), []string{"127.0.0.1:1", "127.0.0.1:2"}; !slices.Equal(got, want) {
		t.Errorf("MemcacheAddrs(2) = %q, want %q", got, want)
	}
	if got, want := RedisClusterAddrs(t), []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}; !slices.Equal(got, want) {
		t.Errorf("RedisClusterAddrs = %q, want %q", got, want)
	}
	if got := RedisSentinelURL(t); got != "redis+sentinel://127.0.0.1:1,127.0.0.1:2/m/0" {
		t.Errorf("RedisSentinelURL = %q", got)
	}
}

// Without redis-server on PATH the harness cannot start a Cluster or a
// Sentinel: a skip naming the variable to set, or a failure when required.
func TestNoRedisServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		env   string
		start func(testing.TB) (any, error)
	}{
		{"TEST_REDIS_CLUSTER_ADDRS", func(tb testing.TB) (any, error) { return startCluster(tb) }},
		{"TEST_REDIS_SENTINEL_URL", func(tb testing.TB) (any, error) { return startSentinel(tb) }},
	} {
		for _, require := range []string{"", "1"} {
			t.Setenv("TEST_REQUIRE_STORES", require)
			f := runFake(func(tb testing.TB) {
				_, err := tc.start(tb)
				check(tb, err)
			})
			if f.skipped != (require == "") || f.failed != (require == "1") || !strings.Contains(f.msg, tc.env) || !strings.Contains(f.msg, "redis-server") {
				t.Errorf("%s, TEST_REQUIRE_STORES=%q: skipped=%v failed=%v %q; want a skip (failure when required) naming %s and redis-server",
					tc.env, require, f.skipped, f.failed, f.msg, tc.env)
			}
		}
	}
}

func TestField(t *testing.T) {
	reply := []byte("name\nmymaster\nip\n127.0.0.1\nflags\nmaster\n")
	if got := string(field(reply, "flags")); got != "master" {
		t.Errorf("field(flags) = %q, want master", got)
	}
	if got := field(reply, "mymaster"); got != nil {
		t.Errorf("field(mymaster), a value not a key, = %q, want nil", got)
	}
	if got := field([]byte("flags\n"), "flags"); got != nil {
		t.Errorf("field of a reply missing the value = %q, want nil", got)
	}
}

// Too few servers listed and no engine to start the rest: skip, or fail
// when servers are required. (With an engine, the rest are containers.)
func TestMemcacheURLTooFewServers(t *testing.T) {
	t.Setenv("TEST_MEMCACHE_URL", "memcache://127.0.0.1:1")
	memcached.Lock()
	saved, savedErr := memcached.addrs, memcached.err
	memcached.addrs, memcached.err = nil, nil
	memcached.Unlock()
	realDocker := dockerErr
	dockerErr = func() error { return errors.New("no engine in this test") }
	t.Cleanup(func() {
		dockerErr = realDocker
		memcached.Lock()
		memcached.addrs, memcached.err = saved, savedErr
		memcached.Unlock()
	})
	for _, require := range []string{"", "1"} {
		t.Setenv("TEST_REQUIRE_STORES", require)
		memcached.Lock()
		memcached.err = nil // the first round's failure is remembered
		memcached.Unlock()
		f := runFake(func(tb testing.TB) { MemcacheAddrs(tb, 2) })
		if f.skipped != (require == "") || f.failed != (require == "1") || !strings.Contains(f.msg, "lists 1") {
			t.Errorf("TEST_REQUIRE_STORES=%q: skipped=%v failed=%v %q", require, f.skipped, f.failed, f.msg)
		}
	}
	t.Setenv("TEST_REQUIRE_STORES", "")
	if f := runFake(func(tb testing.TB) { MemcacheAddrs(tb, 0) }); !f.failed {
		t.Errorf("MemcacheAddrs(t, 0) did not fail")
	}
}

// A malformed address in the environment is a mistake to fix, not a reason
// to skip.
func TestMalformedEnvFails(t *testing.T) {
	t.Setenv("TEST_REQUIRE_STORES", "")
	t.Setenv("TEST_REDIS_CLUSTER_ADDRS", "127.0.0.1")
	if f := runFake(func(tb testing.TB) { RedisClusterAddrs(tb) }); !f.failed || !strings.Contains(f.msg, "TEST_REDIS_CLUSTER_ADDRS") {
		t.Errorf("malformed TEST_REDIS_CLUSTER_ADDRS: failed=%v %q", f.failed, f.msg)
	}
	t.Setenv("TEST_MEMCACHE_URL", "127.0.0.1:1")
	if f := runFake(func(tb testing.TB) { MemcacheAddrs(tb, 1) }); !f.failed || !strings.Contains(f.msg, "TEST_MEMCACHE_URL") {
		t.Errorf("malformed TEST_MEMCACHE_URL: failed=%v %q", f.failed, f.msg)
	}
}

func TestParseMemcacheURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // nil: an error
	}{
		{"memcache://127.0.0.1:11211", []string{"127.0.0.1:11211"}},
		{"memcache://h1:1,h2:2", []string{"h1:1", "h2:2"}},
		{"memcache://[::1]:11211/", []string{"[::1]:11211"}},
		{"memcache://h1:1?timeout=1s", []string{"h1:1"}},
		{"127.0.0.1:11211", nil},
		{"redis://h1:1", nil},
		{"memcache://", nil},
		{"memcache://h1", nil},
		{"memcache://h1:1,", nil},
		{"memcache://h1:x", nil},
		{"memcache://h1:0", nil},
		{"memcache://h1:70000", nil},
		{"memcache://:11211", nil},
	} {
		got, err := parseMemcacheURL(tc.in)
		if tc.want == nil && err == nil {
			t.Errorf("parseMemcacheURL(%q) = %q, want an error", tc.in, got)
		}
		if tc.want != nil && (err != nil || !slices.Equal(got, tc.want)) {
			t.Errorf("parseMemcacheURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseAddrList(t *testing.T) {
	if got, err := parseAddrList(" a:1 ,b:2"); err != nil || !slices.Equal(got, []string{"a:1", "b:2"}) {
		t.Errorf("parseAddrList = %q, %v", got, err)
	}
	for _, bad := range []string{"", "a", "a:1,", "a:b", ":1"} {
		if got, err := parseAddrList(bad); err == nil {
			t.Errorf("parseAddrList(%q) = %q, want an error", bad, got)
		}
	}
}

func TestImageFor(t *testing.T) {
	t.Setenv("TEST_X_IMAGE", "")
	if got := imageFor("TEST_X_IMAGE", "x:1"); got != "x:1" {
		t.Errorf("default image = %q", got)
	}
	t.Setenv("TEST_X_IMAGE", "lookalike/x:1")
	if got := imageFor("TEST_X_IMAGE", "x:1"); got != "lookalike/x:1" {
		t.Errorf("overridden image = %q", got)
	}
}

// The tests here call check with fake tests, whose skips are not the
// package's: keep them out of the one-line summary.
func init() { noteSkip = func(string) {} }
