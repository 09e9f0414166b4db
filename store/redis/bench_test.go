package redis_test

import (
	"bytes"
	"strconv"
	"sync/atomic"
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
	// Many callers at once, each on a key of its own, as a loaded service
	// makes them: here concurrent calls share pipelines.
	b.Run("GetParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(parallelCallers)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Get(ctx, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	var next atomic.Int64 // across runs: b.Run calls the function again for each b.N
	b.Run("ReplaceParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(parallelCallers)
		b.RunParallel(func(pb *testing.PB) {
			key := "parallel-" + strconv.FormatInt(next.Add(1), 10)
			v, err := s.Create(ctx, key, benchValue, benchTTL)
			if err != nil {
				b.Fatal(err)
			}
			for pb.Next() {
				if v, err = s.Replace(ctx, key, benchValue, benchTTL, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// parallelCallers × GOMAXPROCS goroutines run the parallel benchmarks.
const parallelCallers = 16

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
	b.Run("GETParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(parallelCallers)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := client.Get(ctx, key).Bytes(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("SETParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(parallelCallers)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			k := key + "-parallel-" + strconv.FormatInt(next.Add(1), 10)
			for pb.Next() {
				if err := client.Set(ctx, k, benchValue, benchTTL).Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
