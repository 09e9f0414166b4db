package postgres_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/postgres"
)

// The benchmarks put the store's operations beside the plain pgx
// statements a hand-written adapter would run, on the same server, pool
// and table, in one run: the difference is what the store costs.

var benchValue = []byte(`{"name":"Alice","visits":42,"csrf":"0123456789abcdef0123456789abcdef"}`)

func BenchmarkStore(b *testing.B) {
	s := newStore(b, &postgres.Options{ReapInterval: -1})
	ctx := context.Background()
	const k = "bench-session"
	v, err := s.Create(ctx, k, benchValue, time.Hour)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Get(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
	})
	i := 0 // across runs: -count repeats a sub-benchmark on the same table
	b.Run("Create", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			i++
			if _, err := s.Create(ctx, "create-"+strconv.Itoa(i), benchValue, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Replace", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if v, err = s.Replace(ctx, k, benchValue, time.Hour, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Touch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Touch(ctx, k, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Many callers at once, each on a key of its own, as a loaded service
	// makes them: here concurrent calls share batches.
	b.Run("ReplaceParallel", func(b *testing.B) { replaceParallel(b, s) })
	// The same with batching off: every Replace alone, as raw pgx does.
	unbatched := newStore(b, &postgres.Options{ReapInterval: -1, DisableBatching: true})
	b.Run("ReplaceParallelUnbatched", func(b *testing.B) { replaceParallel(b, unbatched) })
}

func replaceParallel(b *testing.B, s *postgres.Store) {
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(parallelCallers)
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		key := "parallel-" + strconv.FormatInt(next.Add(1), 10)
		v, err := s.Create(ctx, key, benchValue, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		for pb.Next() {
			if v, err = s.Replace(ctx, key, benchValue, time.Hour, v); err != nil {
				b.Fatal(err)
			}
		}
		s.Delete(ctx, key)
	})
}

// parallelCallers × GOMAXPROCS goroutines run the parallel benchmarks.
const parallelCallers = 16

func BenchmarkRaw(b *testing.B) {
	s := newStore(b, &postgres.Options{ReapInterval: -1}) // for its table
	pool := testPool(b)
	ctx := context.Background()
	t := s.Table()
	key := []byte("bench-session")
	version := int64(1)
	if _, err := pool.Exec(ctx, `INSERT INTO `+t+` (key, value, version, expires_at) VALUES ($1, $2, $3, now() + $4::interval)`,
		key, benchValue, version, time.Hour); err != nil {
		b.Fatal(err)
	}
	var (
		get     = `SELECT value, version FROM ` + t + ` WHERE key = $1 AND expires_at > now()`
		create  = `INSERT INTO ` + t + ` (key, value, version, expires_at) VALUES ($1, $2, $3, now() + $4::interval) ON CONFLICT (key) DO NOTHING`
		replace = `UPDATE ` + t + ` SET value = $2, version = $3, expires_at = now() + $4::interval WHERE key = $1 AND version = $5 AND expires_at > now()`
		touch   = `UPDATE ` + t + ` SET expires_at = now() + $2::interval WHERE key = $1 AND expires_at > now()`
	)

	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var (
				value []byte
				v     int64
			)
			if err := pool.QueryRow(ctx, get, key).Scan(&value, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	i := 0 // across runs: -count repeats a sub-benchmark on the same table
	b.Run("Create", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			i++
			tag, err := pool.Exec(ctx, create, []byte("create-"+strconv.Itoa(i)), benchValue, int64(i), time.Hour)
			if err != nil || tag.RowsAffected() != 1 {
				b.Fatal(err, tag)
			}
		}
	})
	b.Run("Replace", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tag, err := pool.Exec(ctx, replace, key, benchValue, version+1, time.Hour, version)
			if err != nil || tag.RowsAffected() != 1 {
				b.Fatal(err, tag)
			}
			version++
		}
	})
	b.Run("Touch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pool.Exec(ctx, touch, key, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReplaceParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(parallelCallers)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			n := next.Add(1)
			key := []byte("parallel-" + strconv.FormatInt(n, 10))
			version := int64(1)
			if _, err := pool.Exec(ctx, create, key, benchValue, version, time.Hour); err != nil {
				b.Fatal(err)
			}
			for pb.Next() {
				tag, err := pool.Exec(ctx, replace, key, benchValue, version+1, time.Hour, version)
				if err != nil || tag.RowsAffected() != 1 {
					b.Fatal(err, tag)
				}
				version++
			}
			pool.Exec(ctx, `DELETE FROM `+t+` WHERE key = $1`, key)
		})
	})
}
