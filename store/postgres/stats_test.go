package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/postgres"
)

// TestStats: every call is counted under its operation, failures other
// than the contract's answers as errors, reaping statements as Reaps, and
// the pool's connections are reported. Stats works after Close.
func TestStats(t *testing.T) {
	ctx := t.Context()
	s := newStoreOnPool(t, smallPool(t, 4), testSchema(t)+".sessions")
	if st := s.Stats(); st != (store.Stats{Conns: st.Conns, IdleConns: st.IdleConns}) {
		t.Errorf("a new store's stats: %+v, want only pool figures", st)
	}

	s.Get(ctx, "k")                            // ErrNotFound: an answer
	v, _ := s.Create(ctx, "k", nil, time.Hour) // created
	s.Create(ctx, "k", nil, time.Hour)         // ErrExists
	v, _ = s.Replace(ctx, "k", nil, time.Hour, v)
	s.Replace(ctx, "k", nil, time.Hour, v+1) // ErrConflict
	s.Touch(ctx, "k", time.Hour)
	s.CompareAndDelete(ctx, "k", v+1) // ErrConflict
	s.CompareAndDelete(ctx, "k", v)
	s.Delete(ctx, "k")
	s.Get(ctx, "")       // ErrInvalid: an error
	s.Touch(ctx, "k", 0) // ErrInvalid
	done, cancel := context.WithCancel(ctx)
	cancel()
	s.Replace(done, "k", nil, time.Hour, v) // context.Canceled
	if _, err := s.Reap(ctx); err != nil {
		t.Fatal(err)
	}

	st := s.Stats()
	want := store.Stats{Gets: 2, Creates: 2, Replaces: 3, Touches: 2, Deletes: 3, Errors: 3, Reaps: 1,
		Conns: st.Conns, IdleConns: st.IdleConns}
	if st != want {
		t.Errorf("stats:\n got %+v\nwant %+v", st, want)
	}
	if st.Conns < 1 || st.Conns > 4 || st.IdleConns != st.Conns {
		t.Errorf("pool of 4 at rest: %d connections, %d idle; want 1 to 4, all idle", st.Conns, st.IdleConns)
	}

	s.Close()
	s.Get(ctx, "k") // ErrClosed: an error
	after := s.Stats()
	if after.Gets != st.Gets+1 || after.Errors != st.Errors+1 {
		t.Errorf("a Get after Close: %d gets, %d errors; want %d, %d", after.Gets, after.Errors, st.Gets+1, st.Errors+1)
	}
}

// TestCompareAndDelete: each answer of CompareAndDelete, and what it
// leaves in the table.
func TestCompareAndDelete(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, &postgres.Options{ReapInterval: -1})
	v, err := s.Create(ctx, "k", []byte("v"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CompareAndDelete(ctx, "k", v+1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("with another version: %v, want ErrConflict", err)
	}
	if rec, err := s.Get(ctx, "k"); err != nil || rec.Version != v {
		t.Errorf("after a conflict: %+v, %v; want the record unchanged", rec, err)
	}
	if err := s.CompareAndDelete(ctx, "k", v); err != nil {
		t.Errorf("with the current version: %v", err)
	}
	if n := count(t, s); n != 0 {
		t.Errorf("%d rows after the delete, want 0", n)
	}
	if err := s.CompareAndDelete(ctx, "k", v); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("once deleted: %v, want ErrNotFound", err)
	}

	// An expired row is not found, whatever the version, and stays for the
	// reaper.
	ve, err := s.Create(ctx, "expired", nil, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := s.Get(ctx, "expired"); errors.Is(err, store.ErrNotFound) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.CompareAndDelete(ctx, "expired", ve); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired, with its version: %v, want ErrNotFound", err)
	}

	if err := s.CompareAndDelete(ctx, "", v); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty key: %v, want ErrInvalid", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.CompareAndDelete(done, "k", v); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v, want context.Canceled", err)
	}
	s.Close()
	if err := s.CompareAndDelete(ctx, "k", v); !errors.Is(err, store.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}
