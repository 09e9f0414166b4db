package memcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memcache"
	"github.com/stateless-go/stateless/store/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// suiteOptions is what this adapter declares to the conformance suite.
var suiteOptions = &storetest.Options{
	TTLResolution: time.Second,
	MaxValueSize:  memcache.DefaultMaxValueSize,
}

// newClient returns a client over addrs with a RendezvousSelector, closed
// when the test ends.
func newClient(t testing.TB, addrs []string) (*gomemcache.Client, *memcache.RendezvousSelector) {
	t.Helper()
	sel, err := memcache.NewRendezvousSelector(addrs...)
	if err != nil {
		t.Fatal(err)
	}
	c := gomemcache.NewFromSelector(sel)
	c.Timeout = memcache.DefaultTimeout
	c.MaxIdleConns = memcache.DefaultMaxIdleConns
	t.Cleanup(func() { c.Close() })
	return c, sel
}

// newStore returns a store over client with a fresh random prefix, so it
// sees no other test's records.
func newStore(t testing.TB, client *gomemcache.Client, opts *memcache.Options) *memcache.Store {
	t.Helper()
	o := memcache.Options{}
	if opts != nil {
		o = *opts
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = storetest.RandomPrefix() + ":"
	}
	s, err := memcache.New(client, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func factory(client *gomemcache.Client) storetest.Factory {
	return func(ctx context.Context) (store.Store, error) {
		return memcache.New(client, &memcache.Options{KeyPrefix: storetest.RandomPrefix() + ":"})
	}
}

func TestConformance(t *testing.T) {
	t.Run("OneServer", func(t *testing.T) {
		client, _ := newClient(t, testenv.MemcacheAddrs(t, 1))
		storetest.Run(t, factory(client), suiteOptions)
	})
	t.Run("TwoServers", func(t *testing.T) {
		client, _ := newClient(t, testenv.MemcacheAddrs(t, 2))
		storetest.Run(t, factory(client), suiteOptions)
	})
}

// TestTwoServersSpread checks that a store over two servers really uses
// both, and that each key is on the server the selector names, under the
// documented readable key layout (prefix + key).
func TestTwoServersSpread(t *testing.T) {
	addrs := testenv.MemcacheAddrs(t, 2)
	client, sel := newClient(t, addrs)
	prefix := storetest.RandomPrefix() + ":"
	s := newStore(t, client, &memcache.Options{KeyPrefix: prefix})
	const n = 200
	var itemKeys []string
	for i := range n {
		key := fmt.Sprintf("session-%d", i)
		if _, err := s.Create(t.Context(), key, []byte("v"), time.Minute); err != nil {
			t.Fatalf("Create: %v", err)
		}
		itemKeys = append(itemKeys, prefix+key)
	}
	total := 0
	for _, addr := range addrs {
		direct := gomemcache.New(addr)
		found, err := direct.GetMulti(itemKeys)
		direct.Close()
		if err != nil {
			t.Fatalf("GetMulti on %s: %v", addr, err)
		}
		for k := range found {
			picked, err := sel.PickServer(k)
			if err != nil {
				t.Fatal(err)
			}
			if picked.String() != addr {
				t.Errorf("item %q is on %s, the selector names %s", k, addr, picked)
			}
		}
		t.Logf("server %s holds %d of %d keys", addr, len(found), n)
		if len(found) == 0 {
			t.Errorf("server %s holds none of the %d keys", addr, n)
		}
		total += len(found)
	}
	if total != n {
		t.Errorf("the servers hold %d items in all, want %d", total, n)
	}
}

// TestValueSizeLimit checks the documented limit against a real server with
// the default item size, with the longest memcached key there is.
func TestValueSizeLimit(t *testing.T) {
	client, _ := newClient(t, testenv.MemcacheAddrs(t, 1))
	prefix := storetest.RandomPrefix() + ":"
	s := newStore(t, client, &memcache.Options{KeyPrefix: prefix})
	ctx := t.Context()
	longest := strings.Repeat("k", 250-len(prefix)) // stored as is: a 250-byte item key
	if got := memcache.ItemKey(prefix, longest); len(got) != 250 {
		t.Fatalf("item key is %d bytes, want 250", len(got))
	}
	for _, key := range []string{longest, "key with spaces"} {
		full := bytes.Repeat([]byte{'x'}, memcache.DefaultMaxValueSize)
		v, err := s.Create(ctx, key, full, time.Minute)
		if err != nil {
			t.Fatalf("Create of %d bytes: %v", len(full), err)
		}
		rec, err := s.Get(ctx, key)
		if err != nil || !bytes.Equal(rec.Value, full) {
			t.Fatalf("Get after Create of %d bytes: %d bytes, err %v", len(full), len(rec.Value), err)
		}
		if _, err := s.Replace(ctx, key, full, time.Minute, v); err != nil {
			t.Fatalf("Replace of %d bytes: %v", len(full), err)
		}
		over := append(full, 'x')
		if _, err := s.Create(ctx, key+"2", over, time.Minute); !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("Create of %d bytes: err %v, want store.ErrTooLarge", len(over), err)
		}
	}
}

// TestServerTooLarge raises the client-side limit past the server's, so
// the server refuses the item: that answer must be store.ErrTooLarge too,
// and the store must keep working.
func TestServerTooLarge(t *testing.T) {
	client, _ := newClient(t, testenv.MemcacheAddrs(t, 1))
	s := newStore(t, client, &memcache.Options{MaxValueSize: 4 << 20})
	ctx := t.Context()
	big := make([]byte, 2<<20)
	if _, err := s.Create(ctx, "big", big, time.Minute); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Create of 2 MiB: err %v, want store.ErrTooLarge", err)
	}
	v, err := s.Create(ctx, "small", []byte("v"), time.Minute)
	if err != nil {
		t.Fatalf("Create after a refused item: %v", err)
	}
	if _, err := s.Replace(ctx, "small", big, time.Minute, v); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Replace with 2 MiB: err %v, want store.ErrTooLarge", err)
	}
	if rec, err := s.Get(ctx, "small"); err != nil || string(rec.Value) != "v" || rec.Version != v {
		t.Errorf("Get after a refused Replace = %q, %d, %v; want the record unchanged", rec.Value, rec.Version, err)
	}
}

// TestLongTTL stores records whose TTL is sent as an absolute time, or
// capped: a relative 31 days would be read as a time in January 1970, and
// expire at once.
func TestLongTTL(t *testing.T) {
	client, _ := newClient(t, testenv.MemcacheAddrs(t, 1))
	s := newStore(t, client, nil)
	ctx := t.Context()
	day := 24 * time.Hour
	for _, ttl := range []time.Duration{30 * day, 30*day + time.Nanosecond, 31 * day, 3650 * day, math.MaxInt64} {
		key := fmt.Sprint("ttl-", int64(ttl))
		v, err := s.Create(ctx, key, []byte("v"), ttl)
		if err != nil {
			t.Fatalf("Create(ttl %v): %v", ttl, err)
		}
		if _, err := s.Get(ctx, key); err != nil {
			t.Errorf("Get after Create(ttl %v): %v", ttl, err)
		}
		if err := s.Touch(ctx, key, ttl); err != nil {
			t.Errorf("Touch(ttl %v): %v", ttl, err)
		}
		if _, err := s.Get(ctx, key); err != nil {
			t.Errorf("Get after Touch(ttl %v): %v", ttl, err)
		}
		if _, err := s.Replace(ctx, key, []byte("w"), ttl, v); err != nil {
			t.Errorf("Replace(ttl %v): %v", ttl, err)
		}
		if _, err := s.Get(ctx, key); err != nil {
			t.Errorf("Get after Replace(ttl %v): %v", ttl, err)
		}
	}
}

// TestOddKeys stores keys memcached would refuse as they are, and keys
// whose readable and hashed forms could be confused, side by side: each
// must keep its own record.
func TestOddKeys(t *testing.T) {
	client, _ := newClient(t, testenv.MemcacheAddrs(t, 1))
	prefix := storetest.RandomPrefix() + ":"
	s := newStore(t, client, &memcache.Options{KeyPrefix: prefix})
	ctx := t.Context()
	keys := oddKeys(prefix)
	for i, k := range keys {
		if _, err := s.Create(ctx, k, []byte{byte(i)}, time.Minute); err != nil {
			t.Fatalf("Create(key %q): %v", k, err)
		}
	}
	for i, k := range keys {
		rec, err := s.Get(ctx, k)
		if err != nil || !bytes.Equal(rec.Value, []byte{byte(i)}) {
			t.Errorf("Get(key %q) = %v, %v; want [%d]", k, rec.Value, err, i)
		}
	}
}

// TestForeignItem puts an item some other program wrote under a store's
// key: the store must say so, not misread it or call it missing.
func TestForeignItem(t *testing.T) {
	client, _ := newClient(t, testenv.MemcacheAddrs(t, 1))
	prefix := storetest.RandomPrefix() + ":"
	s := newStore(t, client, &memcache.Options{KeyPrefix: prefix})
	ctx := t.Context()
	if err := client.Set(&gomemcache.Item{Key: prefix + "k", Value: []byte("0123456789"), Expiration: 60}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a foreign item: err %v, want an error other than ErrNotFound", err)
	}
	if _, err := s.Replace(ctx, "k", []byte("v"), time.Minute, 1); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Replace of a foreign item: err %v, want an error other than ErrNotFound", err)
	}
	if _, err := s.Create(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, store.ErrExists) {
		t.Errorf("Create over a foreign item: err %v, want store.ErrExists", err)
	}
}

// TestNewDoesNotOwn checks that closing a store from New leaves its client
// working for its other users.
func TestNewDoesNotOwn(t *testing.T) {
	client, _ := newClient(t, testenv.MemcacheAddrs(t, 1))
	s, err := memcache.New(client, &memcache.Options{KeyPrefix: storetest.RandomPrefix() + ":"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close: %v, want store.ErrClosed", err)
	}
	if err := client.Ping(); err != nil {
		t.Errorf("the client's Ping after the store's Close: %v, want it still working", err)
	}
}

func TestNewErrors(t *testing.T) {
	c := gomemcache.New("127.0.0.1:1")
	for _, tc := range []struct {
		name   string
		client *gomemcache.Client
		opts   *memcache.Options
		want   string
	}{
		{"nil client", nil, nil, "nil client"},
		{"space in prefix", c, &memcache.Options{KeyPrefix: "a b"}, "KeyPrefix"},
		{"control byte in prefix", c, &memcache.Options{KeyPrefix: "a\x00"}, "KeyPrefix"},
		{"long prefix", c, &memcache.Options{KeyPrefix: strings.Repeat("p", memcache.MaxKeyPrefixLen+1)}, "longer than"},
		{"negative size", c, &memcache.Options{MaxValueSize: -1}, "negative"},
		{"negative in flight", c, &memcache.Options{MaxInFlight: -1}, "negative"},
	} {
		s, err := memcache.New(tc.client, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, %v; want an error mentioning %q", tc.name, s, err, tc.want)
		}
	}
	if _, err := memcache.New(c, &memcache.Options{KeyPrefix: strings.Repeat("p", memcache.MaxKeyPrefixLen)}); err != nil {
		t.Errorf("New with a prefix of MaxKeyPrefixLen: %v", err)
	}
}
