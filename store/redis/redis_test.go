package redis_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/redis"
	"github.com/stateless-go/stateless/store/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// suiteOptions declares the adapter's expiry resolution: a ttl is rounded
// up to whole milliseconds, and Redis removes a key in the millisecond after
// its deadline.
var suiteOptions = &storetest.Options{TTLResolution: 2 * time.Millisecond}

// newClient returns a client of the shared test server, closed when the
// test ends.
func newClient(t testing.TB) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatalf("the test server's URL: %v", err)
	}
	opts.ContextTimeoutEnabled = true
	c := goredis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// newClusterClient returns a client of the shared test Cluster: a
// UniversalClient given several addresses is a Cluster client.
func newClusterClient(t testing.TB) goredis.UniversalClient {
	t.Helper()
	c := goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:                 testenv.RedisClusterAddrs(t),
		ContextTimeoutEnabled: true,
	})
	if _, ok := c.(*goredis.ClusterClient); !ok {
		t.Fatalf("NewUniversalClient with the Cluster's addresses made a %T, want *ClusterClient", c)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testPrefix is a fresh key prefix, so tests sharing a server never meet.
func testPrefix() string { return "stateless-test:" + storetest.RandomPrefix() + ":" }

// factory gives the suite a fresh store per check over one shared client.
func factory(client goredis.UniversalClient, maxValue int) storetest.Factory {
	return func(ctx context.Context) (store.Store, error) {
		return redis.New(client, &redis.Options{KeyPrefix: testPrefix(), MaxValueSize: maxValue})
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, factory(newClient(t), 0), suiteOptions)
}

func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	storetest.Run(t, factory(newClusterClient(t), 0), suiteOptions)
}

// TestConformanceNoBatching runs the suite with batching off: every call
// goes alone.
func TestConformanceNoBatching(t *testing.T) {
	t.Parallel()
	client := newClient(t)
	storetest.Run(t, func(ctx context.Context) (store.Store, error) {
		return redis.New(client, &redis.Options{KeyPrefix: testPrefix(), DisableBatching: true})
	}, suiteOptions)
}

// TestConformanceMaxValueSize runs the suite with a value limit, which the
// suite probes at exactly the limit and one byte over.
func TestConformanceMaxValueSize(t *testing.T) {
	t.Parallel()
	opts := *suiteOptions
	opts.MaxValueSize = 1000
	storetest.Run(t, factory(newClient(t), 1000), &opts)
}

// TestConformanceOpen runs the suite on stores that store.Open makes from a
// URL, each owning its client, so the URL's prefix parameter and Close's
// closing of an owned client are exercised too.
func TestConformanceOpen(t *testing.T) {
	t.Parallel()
	base := testenv.RedisURL(t)
	storetest.Run(t, func(ctx context.Context) (store.Store, error) {
		return store.Open(ctx, withParam(t, base, "prefix", testPrefix()))
	}, suiteOptions)
}

// withParam sets the query parameter k of a store URL. It leaves the part
// before the query as it is, since net/url cannot parse a host list.
func withParam(t testing.TB, rawURL, k, v string) string {
	t.Helper()
	base, rawQuery, _ := strings.Cut(rawURL, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatalf("the query of %s: %v", store.RedactURL(rawURL), err)
	}
	q.Set(k, v)
	return base + "?" + q.Encode()
}

func TestOpenCluster(t *testing.T) {
	ctx := t.Context()
	addrs := testenv.RedisClusterAddrs(t)
	prefix := testPrefix()
	s, err := store.Open(ctx, "redis+cluster://"+strings.Join(addrs, ",")+"?prefix="+url.QueryEscape(prefix))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	// Enough keys to land on every master.
	for i := range 30 {
		k := string(rune('a'+i%26)) + strings.Repeat("k", i)
		v, err := s.Create(ctx, k, []byte(k), time.Minute)
		if err != nil {
			t.Fatalf("Create #%d: %v", i, err)
		}
		if _, err := s.Replace(ctx, k, []byte("r"+k), time.Minute, v); err != nil {
			t.Fatalf("Replace #%d: %v", i, err)
		}
		rec, err := s.Get(ctx, k)
		if err != nil || string(rec.Value) != "r"+k {
			t.Fatalf("Get #%d = (%q, %v), want %q", i, rec.Value, err, "r"+k)
		}
	}
	// The records are where the prefix says, on whichever node owns them.
	raw := newClusterClient(t)
	if n, err := raw.Exists(ctx, prefix+"a").Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS %sa on the Cluster = (%d, %v), want 1", prefix, n, err)
	}
}

// TestConformanceSentinel runs the suite on stores opened from a Sentinel
// URL, so every operation goes through go-redis' failover client to the
// master the sentinels name.
func TestConformanceSentinel(t *testing.T) {
	t.Parallel()
	base := testenv.RedisSentinelURL(t)
	storetest.Run(t, func(ctx context.Context) (store.Store, error) {
		return store.Open(ctx, withParam(t, base, "prefix", testPrefix()))
	}, suiteOptions)
}

// TestOpenSentinel checks that a store opened from a Sentinel URL writes to
// the master the sentinel names, under the URL's prefix.
func TestOpenSentinel(t *testing.T) {
	ctx := t.Context()
	u := testenv.RedisSentinelURL(t)
	prefix := testPrefix()
	s, err := store.Open(ctx, withParam(t, u, "prefix", prefix))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	v, err := s.Create(ctx, "k", []byte("v"), time.Minute)
	if err != nil {
		t.Fatalf("Create through Sentinel: %v", err)
	}
	if rec, err := s.Get(ctx, "k"); err != nil || rec.Version != v {
		t.Fatalf("Get through Sentinel = (%+v, %v), want version %d", rec, err, v)
	}
	master := sentinelMaster(t, u)
	raw, err := master.Get(ctx, prefix+"k").Bytes()
	if want := append(binary.BigEndian.AppendUint64(nil, v), 'v'); err != nil || !bytes.Equal(raw, want) {
		t.Errorf("GET %sk on the master the sentinel names = (%q, %v), want %q", prefix, raw, err, want)
	}
}

// sentinelMaster returns a client of the master that the first sentinel of
// a redis+sentinel URL names, with the URL's credentials and database,
// closed when the test ends.
func sentinelMaster(t *testing.T, rawURL string) *goredis.Client {
	t.Helper()
	// net/url cannot read a host list: keep the first sentinel.
	rest, ok := strings.CutPrefix(rawURL, "redis+sentinel://")
	authority, path, _ := strings.Cut(rest, "/")
	hosts := authority[strings.LastIndex(authority, "@")+1:]
	first, _, _ := strings.Cut(hosts, ",")
	u, err := url.Parse("redis://" + authority[:len(authority)-len(hosts)] + first + "/" + path)
	if !ok || err != nil {
		t.Fatalf("want a redis+sentinel:// URL, got %s", store.RedactURL(rawURL))
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "26379")
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	db := 0
	if len(segs) == 2 {
		if db, err = strconv.Atoi(segs[1]); err != nil {
			t.Fatalf("bad database number in %s", store.RedactURL(rawURL))
		}
	}
	q := u.Query()
	sentinel := goredis.NewSentinelClient(&goredis.Options{Addr: addr, Username: q.Get("sentinel_username"), Password: q.Get("sentinel_password")})
	defer sentinel.Close()
	hp, err := sentinel.GetMasterAddrByName(t.Context(), segs[0]).Result()
	if err != nil || len(hp) != 2 {
		t.Fatalf("SENTINEL get-master-addr-by-name %s = (%q, %v)", segs[0], hp, err)
	}
	password, _ := u.User.Password()
	c := goredis.NewClient(&goredis.Options{Addr: net.JoinHostPort(hp[0], hp[1]), Username: u.User.Username(), Password: password, DB: db})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNewDoesNotOwnClient(t *testing.T) {
	ctx := t.Context()
	client := newClient(t)
	s, err := redis.New(client, &redis.Options{KeyPrefix: testPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("the caller's client after the store's Close: Ping = %v, want it still open", err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close = %v, want store.ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

// TestOpenOwnsClient checks that Close of an opened store closes its
// connections: the server stops listing the client by its name.
func TestOpenOwnsClient(t *testing.T) {
	ctx := t.Context()
	name := "owned-" + storetest.RandomPrefix()
	s, err := redis.Open(ctx, withParam(t, testenv.RedisURL(t), "client_name", name))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	observer := newClient(t)
	if n := connectionsNamed(t, observer, name); n == 0 {
		t.Fatalf("after Open, the server lists no connection named %s", name)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The server notices a closed connection when it next polls; wait for
	// that without asserting how long it takes.
	for connectionsNamed(t, observer, name) > 0 {
		if ctx.Err() != nil {
			t.Fatalf("after Close, the server still lists the store's connection %s", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close = %v, want store.ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func connectionsNamed(t *testing.T, c *goredis.Client, name string) int {
	t.Helper()
	list, err := c.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	return strings.Count(list, " name="+name+" ")
}

func TestNewInvalid(t *testing.T) {
	if _, err := redis.New(nil, nil); err == nil {
		t.Error("New(nil client) succeeded, want an error")
	}
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer client.Close()
	if _, err := redis.New(client, &redis.Options{MaxValueSize: -1}); err == nil {
		t.Error("New with a negative MaxValueSize succeeded, want an error")
	}
}

// TestStorageFormat pins what Redis holds, which operators see and other
// tools may read: the 8-byte big-endian version, then the value, under
// KeyPrefix+key, with the ttl in milliseconds, capped at MaxTTL.
func TestStorageFormat(t *testing.T) {
	ctx := t.Context()
	client := newClient(t)
	prefix := testPrefix()
	s, err := redis.New(client, &redis.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Create(ctx, "k", []byte("hello"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := client.Get(ctx, prefix+"k").Bytes()
	if err != nil {
		t.Fatalf("GET %sk: %v", prefix, err)
	}
	want := binary.BigEndian.AppendUint64(nil, v)
	want = append(want, "hello"...)
	if !bytes.Equal(raw, want) {
		t.Errorf("stored %q, want %q (version %d then the value)", raw, want, v)
	}
	if pttl := client.PTTL(ctx, prefix+"k").Val(); pttl <= 59*time.Minute || pttl > time.Hour {
		t.Errorf("PTTL after Create(ttl 1h) = %v, want just under 1h", pttl)
	}

	if err := s.Touch(ctx, "k", math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	if pttl := client.PTTL(ctx, prefix+"k").Val(); pttl <= redis.MaxTTL-time.Hour || pttl > redis.MaxTTL {
		t.Errorf("PTTL after Touch(ttl math.MaxInt64) = %v, want just under MaxTTL %v", pttl, redis.MaxTTL)
	}
	if _, err := s.Replace(ctx, "k", []byte("x"), math.MaxInt64, v); err != nil {
		t.Fatal(err)
	}
	if pttl := client.PTTL(ctx, prefix+"k").Val(); pttl <= redis.MaxTTL-time.Hour || pttl > redis.MaxTTL {
		t.Errorf("PTTL after Replace(ttl math.MaxInt64) = %v, want just under MaxTTL %v", pttl, redis.MaxTTL)
	}
}

func TestDefaultKeyPrefix(t *testing.T) {
	ctx := t.Context()
	client := newClient(t)
	s, err := redis.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := "default-prefix-" + storetest.RandomPrefix()
	if _, err := s.Create(ctx, k, []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	defer s.Delete(ctx, k)
	if n := client.Exists(ctx, redis.DefaultKeyPrefix+k).Val(); n != 1 {
		t.Errorf("EXISTS %s%s = %d after Create with no KeyPrefix, want 1", redis.DefaultKeyPrefix, k, n)
	}
}

// TestPrefixIsolation checks that stores with different prefixes over one
// client never see each other's records.
func TestPrefixIsolation(t *testing.T) {
	ctx := t.Context()
	client := newClient(t)
	base := testPrefix()
	a, _ := redis.New(client, &redis.Options{KeyPrefix: base + "a:"})
	b, _ := redis.New(client, &redis.Options{KeyPrefix: base + "b:"})
	// "a:" + "b:k" and "a:b:" + "k" are one Redis key; isolation holds
	// between prefixes neither of which extends the other.
	va, err := a.Create(ctx, "k", []byte("in a"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("b.Get of a key only a has = %v, want store.ErrNotFound", err)
	}
	vb, err := b.Create(ctx, "k", []byte("in b"), time.Minute)
	if err != nil {
		t.Fatalf("b.Create of a key a has: %v", err)
	}
	if _, err := b.Replace(ctx, "k", []byte("x"), time.Minute, va); !errors.Is(err, store.ErrConflict) {
		t.Errorf("b.Replace with a's version = %v, want store.ErrConflict", err)
	}
	if rec, err := b.Get(ctx, "k"); err != nil || string(rec.Value) != "in b" || rec.Version != vb {
		t.Errorf("b.Get = (%q, %d, %v), want (\"in b\", %d)", rec.Value, rec.Version, err, vb)
	}
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if rec, err := a.Get(ctx, "k"); err != nil || string(rec.Value) != "in a" || rec.Version != va {
		t.Errorf("a.Get after b.Delete = (%q, %d, %v), want (\"in a\", %d)", rec.Value, rec.Version, err, va)
	}
}

// TestForeignData puts values this store did not write under its prefix:
// every operation answers an error or a documented result, never a panic
// and never a wrong record.
func TestForeignData(t *testing.T) {
	ctx := t.Context()
	client := newClient(t)
	prefix := testPrefix()
	s, _ := redis.New(client, &redis.Options{KeyPrefix: prefix})
	for _, tc := range []struct{ key, value string }{
		{"empty", ""}, {"short", "abc"}, {"seven", "1234567"}, {"zero", "\x00\x00\x00\x00\x00\x00\x00\x00tail"},
	} {
		if err := client.Set(ctx, prefix+tc.key, tc.value, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		rec, err := s.Get(ctx, tc.key)
		if err == nil || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "not a record of this store") && !strings.Contains(err.Error(), "too short") {
			t.Errorf("Get of foreign value %q = (%+v, %v), want an error saying it is not this store's", tc.value, rec, err)
		}
		if tc.key != "zero" {
			if _, err := s.Replace(ctx, tc.key, []byte("x"), time.Minute, 1); err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
				t.Errorf("Replace of foreign value %q = %v, want an error saying it is not this store's", tc.value, err)
			}
			if got := client.Get(ctx, prefix+tc.key).Val(); got != tc.value {
				t.Errorf("after a refused Replace the foreign value is %q, want %q untouched", got, tc.value)
			}
		}
		if _, err := s.Create(ctx, tc.key, []byte("x"), time.Minute); !errors.Is(err, store.ErrExists) {
			t.Errorf("Create over foreign value %q = %v, want store.ErrExists", tc.value, err)
		}
	}
	// A key of another type: Redis' WRONGTYPE, as an error.
	if err := client.HSet(ctx, prefix+"hash", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "hash"); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("Get of a hash = %v, want a WRONGTYPE error", err)
	}
	if _, err := s.Replace(ctx, "hash", []byte("x"), time.Minute, 1); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("Replace of a hash = %v, want a WRONGTYPE error", err)
	}
}

// silentServer accepts connections and reads from them but never answers,
// like a server that hangs.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go io.Copy(io.Discard, c)
		}
	}()
	return l.Addr().String()
}

// TestContextEndsWhileWaiting checks that a context ending while a call
// waits for a hung server ends the call with an error matching ctx.Err().
func TestContextEndsWhileWaiting(t *testing.T) {
	addr := silentServer(t)

	// A deadline: the client Open makes bounds its socket wait by it.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := redis.Open(ctx, "redis://"+addr+"/0?max_retries=-1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open of a hung server with a deadline = %v, want context.DeadlineExceeded", err)
	}

	// A cancellation: go-redis notices it only when the read times out, and
	// the error then says the context ended.
	client := goredis.NewClient(&goredis.Options{Addr: addr, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1, Protocol: 2})
	defer client.Close()
	s, _ := redis.New(client, nil)
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get cancelled while waiting = %v, want context.Canceled", err)
	}
}

// TestClientClosedUnderStore: a caller that closes its client under a store
// gets store.ErrClosed.
func TestClientClosedUnderStore(t *testing.T) {
	opts, _ := goredis.ParseURL(testenv.RedisURL(t))
	client := goredis.NewClient(opts)
	s, _ := redis.New(client, nil)
	client.Close()
	if _, err := s.Get(t.Context(), "k"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get over a closed client = %v, want store.ErrClosed", err)
	}
}

// TestOpenErrorsHideThePassword opens URLs that fail after parsing: the
// server refuses the password, or nothing listens.
func TestOpenErrorsHideThePassword(t *testing.T) {
	const pw = "hunter2pw"
	ctx := t.Context()
	u, _ := url.Parse(testenv.RedisURL(t))
	u.User = url.UserPassword("nosuchuser", pw)
	dead := silentServer(t)
	closedPort := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}()
	// Nothing answers: Open succeeds (the service starts and turns ready
	// when its store comes up), Ping fails, and neither shows the password.
	for _, raw := range []string{
		"redis://:" + pw + "@" + closedPort + "/0?dial_timeout=1s&max_retries=-1",
		"redis+cluster://:" + pw + "@" + closedPort + "?dial_timeout=1s&max_retries=-1",
		"redis://:" + pw + "@" + dead + "/0?read_timeout=100ms&max_retries=-1",
	} {
		s, err := store.Open(ctx, raw)
		if err != nil {
			t.Errorf("store.Open(%s) of an unreachable server = %v, want success", store.RedactURL(raw), err)
			continue
		}
		err = s.Ping(ctx)
		s.Close()
		if err == nil {
			t.Errorf("Ping of an unreachable server %s succeeded", store.RedactURL(raw))
			continue
		}
		for _, form := range []string{pw, url.QueryEscape(pw)} {
			if strings.Contains(err.Error(), form) {
				t.Errorf("Ping error %q shows the password", err)
			}
		}
	}
	for _, raw := range []string{
		u.String(),
		"redis://:" + pw + "@h/0?bogus=1",
		"redis://:" + pw + "@h,i/0",
		"redis://u:hun/ter2pw@h/0",
	} {
		s, err := store.Open(ctx, raw)
		if err == nil {
			s.Close()
			t.Errorf("store.Open(%s) succeeded, want an error", store.RedactURL(raw))
			continue
		}
		for _, form := range []string{pw, url.QueryEscape(pw), "hun/ter2pw", "ter2pw"} {
			if strings.Contains(err.Error(), form) {
				t.Errorf("store.Open(%s) error %q shows the password", store.RedactURL(raw), err)
			}
		}
	}
}

// TestCompareAndDelete checks store.CompareAndDeleter's answers, on a
// standalone server and on a Cluster.
func TestCompareAndDelete(t *testing.T) {
	for name, client := range map[string]func(testing.TB) goredis.UniversalClient{
		"standalone": func(t testing.TB) goredis.UniversalClient { return newClient(t) },
		"cluster":    newClusterClient,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			raw := client(t)
			prefix := testPrefix()
			s, err := redis.New(raw, &redis.Options{KeyPrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			v, err := s.Create(ctx, "k", []byte("v"), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CompareAndDelete(ctx, "k", v^1); !errors.Is(err, store.ErrConflict) {
				t.Errorf("CompareAndDelete with another version = %v, want store.ErrConflict", err)
			}
			if rec, err := s.Get(ctx, "k"); err != nil || rec.Version != v {
				t.Errorf("Get after a refused CompareAndDelete = (%+v, %v), want version %d", rec, err, v)
			}
			if err := s.CompareAndDelete(ctx, "k", v); err != nil {
				t.Errorf("CompareAndDelete with the version = %v, want success", err)
			}
			if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get after CompareAndDelete = %v, want store.ErrNotFound", err)
			}
			if err := s.CompareAndDelete(ctx, "k", v); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("CompareAndDelete of a missing key = %v, want store.ErrNotFound", err)
			}
			// Data that is not this store's is an error, and is left alone.
			if err := raw.Set(ctx, prefix+"short", "abc", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if err := s.CompareAndDelete(ctx, "short", 1); err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
				t.Errorf("CompareAndDelete of a foreign value = %v, want an error saying it is not this store's", err)
			}
			if err := raw.HSet(ctx, prefix+"hash", "f", "v").Err(); err != nil {
				t.Fatal(err)
			}
			if err := s.CompareAndDelete(ctx, "hash", 1); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
				t.Errorf("CompareAndDelete of a hash = %v, want a WRONGTYPE error", err)
			}
			if n := raw.Exists(ctx, prefix+"short", prefix+"hash").Val(); n != 2 && name == "standalone" {
				t.Errorf("EXISTS of the foreign keys = %d, want 2: they must be left alone", n)
			}
		})
	}
}

// TestStats checks what Stats reports: calls per operation
// (CompareAndDelete as a Delete), errors other than the contract's
// answers, and the client's connections.
func TestStats(t *testing.T) {
	ctx := t.Context()
	s, err := redis.New(newClient(t), &redis.Options{KeyPrefix: testPrefix(), MaxValueSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := s.Create(ctx, "k", []byte("v"), time.Minute)
	s.Create(ctx, "k", []byte("v"), time.Minute)        // ErrExists: an answer
	s.Create(ctx, "big", make([]byte, 11), time.Minute) // ErrTooLarge: an error
	s.Get(ctx, "k")
	s.Get(ctx, "missing") // ErrNotFound: an answer
	s.Get(ctx, "")        // ErrInvalid: an error
	v, _ = s.Replace(ctx, "k", []byte("w"), time.Minute, v)
	s.Replace(ctx, "k", []byte("x"), time.Minute, v^1) // ErrConflict: an answer
	s.Touch(ctx, "k", time.Minute)
	s.Touch(ctx, "k", 0)            // ErrInvalid: an error
	s.CompareAndDelete(ctx, "k", v) // a Delete
	s.Delete(ctx, "k")
	st := s.Stats()
	want := store.Stats{Gets: 3, Creates: 3, Replaces: 2, Touches: 2, Deletes: 2, Errors: 3}
	got := st
	got.Conns, got.IdleConns = 0, 0
	if got != want {
		t.Errorf("Stats =\n %+v\nwant\n %+v", got, want)
	}
	if st.Conns < 1 || st.IdleConns < 1 || st.IdleConns > st.Conns {
		t.Errorf("Stats: %d connections, %d idle; want at least one, idle now", st.Conns, st.IdleConns)
	}
	s.Close()
	s.Get(ctx, "k") // ErrClosed: an error
	if st := s.Stats(); st.Gets != 4 || st.Errors != 4 {
		t.Errorf("Stats after Close: %d Gets, %d errors; want 4, 4", st.Gets, st.Errors)
	}
}

// TestStatsClusterNoNetwork: Stats of a store over a Cluster client that
// has never had a reply returns at once, without asking the Cluster for
// its layout (go-redis' PoolStats would), and counts no connection.
func TestStatsClusterNoNetwork(t *testing.T) {
	client := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{silentServer(t)}, DialTimeout: time.Minute, ReadTimeout: time.Minute})
	defer client.Close()
	s, _ := redis.New(client, nil)
	start := time.Now()
	st := s.Stats()
	if d := time.Since(start); d > time.Second || st.Conns != 0 {
		t.Errorf("Stats of an unused Cluster store took %v and reports %d connections; want at once, 0", d, st.Conns)
	}
}

// TestCheckOrder: every call checks its context first, then whether the
// store is closed, then its arguments (store/driver's order).
func TestCheckOrder(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer client.Close()
	s, _ := redis.New(client, nil)
	s.Close()
	done, cancel := context.WithCancel(t.Context())
	cancel()
	for name, err := range map[string]error{
		"Get":              func() error { _, err := s.Get(done, ""); return err }(),
		"Create":           func() error { _, err := s.Create(done, "", nil, 0); return err }(),
		"Replace":          func() error { _, err := s.Replace(done, "", nil, 0, 1); return err }(),
		"Touch":            s.Touch(done, "", 0),
		"Delete":           s.Delete(done, ""),
		"CompareAndDelete": s.CompareAndDelete(done, "", 1),
		"Ping":             s.Ping(done),
	} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s on a closed store with an ended context and bad arguments = %v, want context.Canceled", name, err)
		}
	}
	if _, err := s.Get(t.Context(), ""); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get on a closed store with a bad key = %v, want store.ErrClosed", err)
	}
}
