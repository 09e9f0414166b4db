package redis_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/redis"
)

// The benchmarks run the adapter's operations beside the raw go-redis
// commands they stand for, on the same server and client in the same run,
// so the adapter's overhead reads straight off the results. The value is
// session-sized. Raw GET reads into a []byte, as a session layer would.
//
//	go test -run '^$' -bench . -benchmem ./store/redis/

var benchValue = bytes.Repeat([]byte("s"), 200)

const benchTTL = 10 * time.Minute

func BenchmarkStore(b *testing.B) {
	ctx := b.Context()
	client := newClient(b)
	s, err := redis.New(client, &redis.Options{KeyPrefix: testPrefix()})
	if err != nil {
		b.Fatal(err)
	}
	version, err := s.Create(ctx, "bench", benchValue, benchTTL)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Get(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Create", func(b *testing.B) {
		// Every Create needs a fresh key; building it costs one allocation
		// that Get and Replace do not pay.
		fresh, err := redis.New(client, &redis.Options{KeyPrefix: testPrefix()})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := fresh.Create(ctx, "new-"+strconv.Itoa(i), benchValue, time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Replace", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if version, err = s.Replace(ctx, "bench", benchValue, benchTTL, version); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Touch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Touch(ctx, "bench", benchTTL); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRaw(b *testing.B) {
	ctx := b.Context()
	client := newClient(b)
	key := testPrefix() + "bench"
	if err := client.Set(ctx, key, benchValue, benchTTL).Err(); err != nil {
		b.Fatal(err)
	}

	b.Run("GET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := client.Get(ctx, key).Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := client.Set(ctx, key, benchValue, benchTTL).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PEXPIRE", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := client.PExpire(ctx, key, benchTTL).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
