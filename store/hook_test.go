package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
	"github.com/stateless-go/stateless/store/storetest"
)

// counter is a Hook that counts starts and dones per operation.
type counter struct {
	mu            sync.Mutex
	starts, dones map[store.Op]int
	errs          map[store.Op]int
}

func newCounter() *counter {
	return &counter{starts: map[store.Op]int{}, dones: map[store.Op]int{}, errs: map[store.Op]int{}}
}

func (c *counter) hook(ctx context.Context, op store.Op) (context.Context, func(error)) {
	c.mu.Lock()
	c.starts[op]++
	c.mu.Unlock()
	var once atomic.Bool
	return ctx, func(err error) {
		if once.Swap(true) {
			panic("done called twice")
		}
		c.mu.Lock()
		c.dones[op]++
		if err != nil {
			c.errs[op]++
		}
		c.mu.Unlock()
	}
}

func TestWithHookConformance(t *testing.T) {
	var (
		mu  sync.Mutex
		all []*counter
	)
	storetest.Run(t, func(context.Context) (store.Store, error) {
		c := newCounter()
		mu.Lock()
		all = append(all, c)
		mu.Unlock()
		return store.WithHook(memory.New(nil), c.hook), nil
	}, nil)
	t.Cleanup(func() {
		total := 0
		for _, c := range all {
			c.mu.Lock()
			for op, n := range c.starts {
				if c.dones[op] != n {
					t.Errorf("%s: %d starts, %d dones", op, n, c.dones[op])
				}
				total += n
			}
			c.mu.Unlock()
		}
		if total == 0 {
			t.Error("the hook saw no operation")
		}
	})
}

func TestWithHookSeesEachOperation(t *testing.T) {
	ctx := t.Context()
	c := newCounter()
	s := store.WithHook(memory.New(nil), c.hook)
	defer s.Close()
	v, err := s.Create(ctx, "k", []byte("a"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "k", []byte("a"), time.Minute); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second Create: %v", err)
	}
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if v, err = s.Replace(ctx, "k", []byte("b"), time.Minute, v); err != nil {
		t.Fatal(err)
	}
	if err := s.Touch(ctx, "k", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.(store.CompareAndDeleter).CompareAndDelete(ctx, "k", v); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.(store.CreateOrGetter).CreateOrGet(ctx, "k", nil, time.Minute); err != nil || !created {
		t.Fatalf("CreateOrGet: %v %v", created, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[store.Op]int{store.OpCreate: 2, store.OpGet: 1, store.OpReplace: 1, store.OpTouch: 1,
		store.OpCompareAndDelete: 1, store.OpDelete: 1, store.OpCreateOrGet: 1, store.OpPing: 1}
	if fmt.Sprint(c.starts) != fmt.Sprint(want) || fmt.Sprint(c.dones) != fmt.Sprint(want) {
		t.Errorf("starts %v, dones %v; want %v", c.starts, c.dones, want)
	}
	if c.errs[store.OpCreate] != 1 || len(c.errs) != 1 {
		t.Errorf("errors seen %v; want one, on create", c.errs)
	}
}

type ctxMark struct{}

// markStore checks that it gets the context the hook returned.
type markStore struct {
	store.Store
	seen atomic.Int32
}

func (m *markStore) Get(ctx context.Context, key string) (store.Record, error) {
	if ctx.Value(ctxMark{}) != nil {
		m.seen.Add(1)
	}
	return m.Store.Get(ctx, key)
}

func TestWithHookPassesItsContext(t *testing.T) {
	inner := &markStore{Store: memory.New(nil)}
	s := store.WithHook(inner, func(ctx context.Context, op store.Op) (context.Context, func(error)) {
		return context.WithValue(ctx, ctxMark{}, true), nil // nil done is allowed
	})
	s.Get(t.Context(), "k")
	if inner.seen.Load() != 1 {
		t.Error("the store did not get the hook's context")
	}
	// A hook that returns a nil context leaves the caller's.
	s = store.WithHook(memory.New(nil), func(context.Context, store.Op) (context.Context, func(error)) { return nil, nil })
	if _, err := s.Get(t.Context(), "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get with a nil-context hook: %v", err)
	}
	if got := store.WithHook(inner, nil); got != store.Store(inner) {
		t.Error("WithHook with a nil hook should return the store itself")
	}
}

// Methods of each optional capability, to embed in a store.
type (
	cadM struct{}
	cogM struct{}
	srM  struct{}
	nbM  struct{}
)

func (cadM) CompareAndDelete(context.Context, string, uint64) error { return nil }
func (cogM) CreateOrGet(context.Context, string, []byte, time.Duration) (store.Record, bool, error) {
	return store.Record{}, true, nil
}
func (srM) Stats() store.Stats { return store.Stats{Gets: 42} }
func (nbM) NonBlocking()       {}

// everyCombination returns stores over m offering each of the sixteen
// combinations of capabilities, and m itself.
func everyCombination(m store.Store) []store.Store {
	return []store.Store{
		struct{ store.Store }{m},
		struct {
			store.Store
			cadM
		}{m, cadM{}},
		struct {
			store.Store
			cogM
		}{m, cogM{}},
		struct {
			store.Store
			cadM
			cogM
		}{m, cadM{}, cogM{}},
		struct {
			store.Store
			srM
		}{m, srM{}},
		struct {
			store.Store
			cadM
			srM
		}{m, cadM{}, srM{}},
		struct {
			store.Store
			cogM
			srM
		}{m, cogM{}, srM{}},
		struct {
			store.Store
			cadM
			cogM
			srM
		}{m, cadM{}, cogM{}, srM{}},
		struct {
			store.Store
			nbM
		}{m, nbM{}},
		struct {
			store.Store
			cadM
			nbM
		}{m, cadM{}, nbM{}},
		struct {
			store.Store
			cogM
			nbM
		}{m, cogM{}, nbM{}},
		struct {
			store.Store
			cadM
			cogM
			nbM
		}{m, cadM{}, cogM{}, nbM{}},
		struct {
			store.Store
			srM
			nbM
		}{m, srM{}, nbM{}},
		struct {
			store.Store
			cadM
			srM
			nbM
		}{m, cadM{}, srM{}, nbM{}},
		struct {
			store.Store
			cogM
			srM
			nbM
		}{m, cogM{}, srM{}, nbM{}},
		struct {
			store.Store
			cadM
			cogM
			srM
			nbM
		}{m, cadM{}, cogM{}, srM{}, nbM{}},
		m,
	}
}

func caps(s store.Store) string {
	_, c := s.(store.CompareAndDeleter)
	_, st := s.(store.StatsReporter)
	_, n := s.(store.NonBlocking)
	_, g := s.(store.CreateOrGetter)
	return fmt.Sprintf("cad=%v createorget=%v stats=%v nonblocking=%v", c, g, st, n)
}

func TestWithHookKeepsCapabilities(t *testing.T) {
	for _, s := range everyCombination(memory.New(nil)) {
		n := 0
		w := store.WithHook(s, func(ctx context.Context, op store.Op) (context.Context, func(error)) {
			n++
			return ctx, nil
		})
		if got, want := caps(w), caps(s); got != want {
			t.Errorf("%T wrapped: %s; want %s", s, got, want)
		}
		if sr, ok := w.(store.StatsReporter); ok && sr.Stats() != s.(store.StatsReporter).Stats() {
			t.Errorf("%T wrapped: Stats not forwarded", s)
		}
		if c, ok := w.(store.CompareAndDeleter); ok {
			c.CompareAndDelete(t.Context(), "k", 1)
			if n != 1 {
				t.Errorf("%T wrapped: CompareAndDelete ran the hook %d times", s, n)
			}
		}
		if c, ok := w.(store.CreateOrGetter); ok {
			n = 0
			c.CreateOrGet(t.Context(), "k", nil, time.Minute)
			if n != 1 {
				t.Errorf("%T wrapped: CreateOrGet ran the hook %d times", s, n)
			}
		}
	}
}

func ExampleWithHook() {
	var gets atomic.Int64
	s := store.WithHook(memory.New(nil), func(ctx context.Context, op store.Op) (context.Context, func(error)) {
		if op != store.OpGet {
			return ctx, nil
		}
		return ctx, func(err error) {
			if err == nil || errors.Is(err, store.ErrNotFound) {
				gets.Add(1)
			}
		}
	})
	defer s.Close()
	s.Get(context.Background(), "session:x")
	_, nonBlocking := s.(store.NonBlocking) // kept from the memory store
	fmt.Println(gets.Load(), nonBlocking)
	// Output: 1 true
}

var sink error

func BenchmarkWithHook(b *testing.B) {
	ctx := context.Background()
	m := memory.New(nil)
	m.Create(ctx, "k", []byte("value"), time.Hour)
	var n atomic.Int64
	for _, bc := range []struct {
		name string
		s    store.Store
	}{
		{"bare", m},
		{"nil-done", store.WithHook(m, func(ctx context.Context, op store.Op) (context.Context, func(error)) { return ctx, nil })},
		{"timed-done", store.WithHook(m, func(ctx context.Context, op store.Op) (context.Context, func(error)) {
			start := time.Now()
			return ctx, func(error) { n.Add(int64(time.Since(start))) }
		})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, sink = bc.s.Get(ctx, "k")
			}
		})
	}
}
