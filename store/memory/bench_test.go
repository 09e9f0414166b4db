package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/memory"
)

// A session-sized value: a few hundred bytes.
var benchValue = make([]byte, 256)

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	const keys = 10000
	setup := func(b *testing.B) (*memory.Store, []string, []uint64) {
		s := memory.New(nil)
		ks := make([]string, keys)
		vs := make([]uint64, keys)
		for i := range ks {
			ks[i] = fmt.Sprintf("session:%064d", i)
			v, err := s.Create(ctx, ks[i], benchValue, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			vs[i] = v
		}
		b.ReportAllocs()
		return s, ks, vs
	}
	b.Run("Get", func(b *testing.B) {
		s, ks, _ := setup(b)
		i := 0
		for b.Loop() {
			if _, err := s.Get(ctx, ks[i%keys]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Create", func(b *testing.B) {
		s := memory.New(nil)
		b.ReportAllocs()
		ks := make([]string, 1<<16)
		for i := range ks {
			ks[i] = fmt.Sprintf("new:%064d", i)
		}
		i := 0
		for b.Loop() {
			k := ks[i%len(ks)]
			if i%len(ks) == 0 && i > 0 {
				b.StopTimer()
				s = memory.New(nil)
				b.StartTimer()
			}
			if _, err := s.Create(ctx, k, benchValue, time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	// A full store: every Create evicts one record, as under a flood of
	// logins that are never used again.
	b.Run("CreateFull", func(b *testing.B) {
		s := memory.New(&memory.Options{MaxEntries: keys})
		b.ReportAllocs()
		ks := make([]string, 1<<16)
		for i := range ks {
			ks[i] = fmt.Sprintf("new:%064d", i)
		}
		i := 0
		for b.Loop() {
			if i%len(ks) == 0 && i > 0 {
				b.StopTimer()
				s = memory.New(&memory.Options{MaxEntries: keys})
				b.StartTimer()
			}
			if _, err := s.Create(ctx, ks[i%len(ks)], benchValue, time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Replace", func(b *testing.B) {
		s, ks, vs := setup(b)
		i := 0
		for b.Loop() {
			j := i % keys
			v, err := s.Replace(ctx, ks[j], benchValue, time.Hour, vs[j])
			if err != nil {
				b.Fatal(err)
			}
			vs[j] = v
			i++
		}
	})
	b.Run("Touch", func(b *testing.B) {
		s, ks, _ := setup(b)
		i := 0
		for b.Loop() {
			if err := s.Touch(ctx, ks[i%keys], time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("GetParallel", func(b *testing.B) {
		s, ks, _ := setup(b)
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.Get(ctx, ks[i%keys]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
}
