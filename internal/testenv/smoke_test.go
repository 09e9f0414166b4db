package testenv_test

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The smoke tests prove each endpoint the harness hands out answers.

func TestRedisAnswers(t *testing.T) {
	opts, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	// A second call hands out the same server.
	if a, b := testenv.RedisURL(t), testenv.RedisURL(t); a != b {
		t.Errorf("RedisURL changed: %q then %q", a, b)
	}
}

func TestRedisClusterAnswers(t *testing.T) {
	addrs := testenv.RedisClusterAddrs(t)
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	ctx := t.Context()
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER INFO: %v", err)
	}
	for _, want := range []string{"cluster_state:ok", "cluster_size:3"} {
		if !strings.Contains(info, want) {
			t.Errorf("CLUSTER INFO lacks %q:\n%s", want, info)
		}
	}
	// Keys spread over all masters, through MOVED redirections.
	for _, k := range []string{"testenv:a", "testenv:b", "testenv:c", "testenv:d", "testenv:e"} {
		if err := c.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		if got, err := c.Get(ctx, k).Result(); err != nil || got != k {
			t.Fatalf("GET %s = %q, %v", k, got, err)
		}
	}
	var masters atomic.Int32
	if err := c.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		masters.Add(1)
		return m.Ping(ctx).Err()
	}); err != nil {
		t.Fatal(err)
	}
	if n := masters.Load(); n != 3 {
		t.Errorf("%d masters answered, want 3", n)
	}
}

// TestRedisSentinelAnswers checks the Sentinel URL the way a failover
// client uses it: the sentinel names the master, and writes through the
// failover client land on that master.
func TestRedisSentinelAnswers(t *testing.T) {
	raw := testenv.RedisSentinelURL(t)
	if again := testenv.RedisSentinelURL(t); again != raw {
		t.Errorf("RedisSentinelURL changed: %q then %q", raw, again)
	}
	// net/url cannot read a host list; one from TEST_REDIS_SENTINEL_URL may
	// list several sentinels, and the first will do.
	rest, ok := strings.CutPrefix(raw, "redis+sentinel://")
	authority, path, _ := strings.Cut(rest, "/")
	hosts := authority[strings.LastIndex(authority, "@")+1:]
	first, _, _ := strings.Cut(hosts, ",")
	u, err := url.Parse("redis+sentinel://" + authority[:len(authority)-len(hosts)] + first + "/" + path)
	if !ok || err != nil || strings.Trim(u.Path, "/") == "" {
		t.Fatalf("RedisSentinelURL = %s, want redis+sentinel://[:password@]host:port/master[/db] (%v)", store.RedactURL(raw), err)
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	sentinelAddr, masterName := u.Host, segs[0]
	if _, port, _ := net.SplitHostPort(sentinelAddr); port == "" {
		sentinelAddr = net.JoinHostPort(sentinelAddr, "26379")
	}
	password, _ := u.User.Password()
	sentinelPassword := u.Query().Get("sentinel_password")

	ctx := t.Context()
	sentinel := goredis.NewSentinelClient(&goredis.Options{Addr: sentinelAddr, Password: sentinelPassword})
	defer sentinel.Close()
	addr, err := sentinel.GetMasterAddrByName(ctx, masterName).Result()
	if err != nil || len(addr) != 2 {
		t.Fatalf("SENTINEL get-master-addr-by-name %s = %q, %v", masterName, addr, err)
	}

	c := goredis.NewFailoverClient(&goredis.FailoverOptions{
		MasterName: masterName, SentinelAddrs: []string{sentinelAddr},
		SentinelPassword: sentinelPassword, Password: password,
	})
	defer c.Close()
	key := "testenv-" + strings.ReplaceAll(t.Name(), "/", "-")
	if err := c.Set(ctx, key, "through sentinel", 0).Err(); err != nil {
		t.Fatalf("SET through the failover client: %v", err)
	}
	defer c.Del(context.Background(), key)
	direct := goredis.NewClient(&goredis.Options{Addr: net.JoinHostPort(addr[0], addr[1]), Password: password})
	defer direct.Close()
	if got, err := direct.Get(ctx, key).Result(); err != nil || got != "through sentinel" {
		t.Errorf("GET %s on the master the sentinel names (%s) = %q, %v", key, net.JoinHostPort(addr[0], addr[1]), got, err)
	}
}

func TestMemcachedAnswers(t *testing.T) {
	one := testenv.MemcacheAddrs(t, 1)
	two := testenv.MemcacheAddrs(t, 2)
	if len(one) != 1 || len(two) != 2 || one[0] != two[0] || two[0] == two[1] {
		t.Fatalf("MemcacheAddrs(1) = %q, then MemcacheAddrs(2) = %q: want the first reused and two distinct", one, two)
	}
	key := "testenv-" + strings.ReplaceAll(t.Name(), "/", "-")
	for _, addr := range two {
		c := memcache.New(addr)
		if err := c.Ping(); err != nil {
			t.Fatalf("%s: ping: %v", addr, err)
		}
		if err := c.Set(&memcache.Item{Key: key, Value: []byte(addr)}); err != nil {
			t.Fatalf("%s: set: %v", addr, err)
		}
	}
	// Distinct servers each keep their own value of the same key.
	for _, addr := range two {
		it, err := memcache.New(addr).Get(key)
		if err != nil || string(it.Value) != addr {
			t.Errorf("%s: get = %v, %v; want its own address back", addr, it, err)
		}
	}
}

func TestPostgresAnswers(t *testing.T) {
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, testenv.PostgresURL(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}
