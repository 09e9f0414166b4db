package memcache_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store/memcache"
	"github.com/stateless-go/stateless/store/storetest"
)

// The benchmarks measure the adapter (BenchmarkStore) and plain gomemcache
// doing the same memcached commands (BenchmarkRaw) on the same server in
// the same run, so the difference is the adapter's cost: key mapping, the
// version in the item, checks and error mapping. Replace is compared with
// CompareAndSwap including its Get, since both are a gets and a cas.

// benchValue is about the size of a small session.
var benchValue = bytes.Repeat([]byte("v"), 128)

func BenchmarkStore(b *testing.B) {
	client, _ := newClient(b, testenv.MemcacheAddrs(b, 1))
	s := newStore(b, client, nil)
	ctx := b.Context()
	// -count runs each sub-benchmark again over the same store: every run
	// takes fresh keys.
	b.Run("Get", func(b *testing.B) {
		k := storetest.RandomPrefix()
		if _, err := s.Create(ctx, k, benchValue, time.Hour); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Get(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Create", func(b *testing.B) {
		b.ReportAllocs()
		k := storetest.RandomPrefix() + "-"
		i := 0
		for b.Loop() {
			i++
			if _, err := s.Create(ctx, k+strconv.Itoa(i), benchValue, time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Replace", func(b *testing.B) {
		k := storetest.RandomPrefix()
		v, err := s.Create(ctx, k, benchValue, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if v, err = s.Replace(ctx, k, benchValue, time.Hour, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Touch", func(b *testing.B) {
		k := storetest.RandomPrefix()
		if _, err := s.Create(ctx, k, benchValue, time.Hour); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Touch(ctx, k, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRaw(b *testing.B) {
	client, _ := newClient(b, testenv.MemcacheAddrs(b, 1))
	prefix := storetest.RandomPrefix() + ":"
	b.Run("Get", func(b *testing.B) {
		if err := client.Set(&gomemcache.Item{Key: prefix + "get", Value: benchValue, Expiration: 3600}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := client.Get(prefix + "get"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if err := client.Set(&gomemcache.Item{Key: prefix + "set-" + strconv.Itoa(i), Value: benchValue, Expiration: 60}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CompareAndSwap", func(b *testing.B) {
		if err := client.Set(&gomemcache.Item{Key: prefix + "cas", Value: benchValue, Expiration: 3600}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			it, err := client.Get(prefix + "cas")
			if err != nil {
				b.Fatal(err)
			}
			it.Value = benchValue
			if err := client.CompareAndSwap(it); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Touch", func(b *testing.B) {
		if err := client.Set(&gomemcache.Item{Key: prefix + "touch", Value: benchValue, Expiration: 3600}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := client.Touch(prefix+"touch", 3600); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPickServer is the selector's cost per key, beside gomemcache's.
func BenchmarkPickServer(b *testing.B) {
	servers := []string{"127.0.0.1:18301", "127.0.0.1:18302", "127.0.0.1:18303"}
	key := "stateless:Qk9xR2VzdGF0ZWxlc3Mtc2Vzc2lvbi10b2tlbi0wMQ"
	rs, err := memcache.NewRendezvousSelector(servers...)
	if err != nil {
		b.Fatal(err)
	}
	var sl gomemcache.ServerList
	if err := sl.SetServers(servers...); err != nil {
		b.Fatal(err)
	}
	b.Run("Rendezvous", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rs.PickServer(key)
		}
	})
	b.Run("ServerList", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sl.PickServer(key)
		}
	})
}
