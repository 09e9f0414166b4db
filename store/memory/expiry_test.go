package memory

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stateless-go/stateless/store"
)

// These tests run in a synctest bubble: the clock is fake, so expiry is
// exact and instant to test.

func TestExpiresAtExactlyItsTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(nil)
		if _, err := s.Create(ctx, "k", []byte("v"), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10*time.Second - time.Nanosecond)
		if _, err := s.Get(ctx, "k"); err != nil {
			t.Fatalf("1ns before its ttl: %v", err)
		}
		time.Sleep(time.Nanosecond)
		if _, err := s.Get(ctx, "k"); err != store.ErrNotFound {
			t.Fatalf("at its ttl: %v, want ErrNotFound", err)
		}
	})
}

// Under churn — sessions created and left to expire — the store holds about
// one expiry period's worth of records, however long it runs.
func TestReclaimsUnderChurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(nil)
		const perSecond, ttl = 2000, 5 * time.Second
		peak := 0
		for sec := range 60 {
			for i := range perSecond {
				if _, err := s.Create(ctx, fmt.Sprintf("s%d-%d", sec, i), []byte("data"), ttl); err != nil {
					t.Fatal(err)
				}
			}
			peak = max(peak, s.Len())
			time.Sleep(time.Second)
		}
		// At most ttl's worth of live records plus one second of expired
		// ones not yet swept.
		if limit := perSecond * 6; peak > limit {
			t.Errorf("peak of %d records held under churn, want at most %d", peak, limit)
		}
		for i := range s.shards {
			sh := &s.shards[i]
			if len(sh.byExpiry) > 2*len(sh.entries)+64 {
				t.Errorf("shard %d: expiry heap of %d items for %d entries", i, len(sh.byExpiry), len(sh.entries))
			}
		}
		t.Logf("120000 sessions created over 60s with a 5s ttl: peak %d held", peak)
	})
}

// Touching one record over and over must not grow the expiry heap.
func TestTouchDoesNotGrowHeap(t *testing.T) {
	ctx := context.Background()
	s := New(nil)
	if _, err := s.Create(ctx, "k", nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	for range 100000 {
		if err := s.Touch(ctx, "k", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	sh := s.shardFor("k")
	if n := len(sh.byExpiry); n > 2*len(sh.entries)+64 {
		t.Errorf("expiry heap holds %d items for %d entries after 100000 touches", n, len(sh.entries))
	}
}

// Records never used since their Create go in the order they came.
func TestMaxEntriesEvictsLeastRecentlyCreated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(&Options{MaxEntries: 100})
		for i := range 1000 {
			if _, err := s.Create(ctx, fmt.Sprint(i), nil, time.Hour); err != nil {
				t.Fatal(err)
			}
			if s.Len() > 100 {
				t.Fatalf("after %d creates: %d entries, cap 100", i+1, s.Len())
			}
		}
		kept := 0
		for i := 900; i < 1000; i++ {
			if _, err := s.Get(ctx, fmt.Sprint(i)); err == nil {
				kept++
			}
		}
		// Eviction is per shard, so "least recently" is approximate across
		// shards; most of the last created must survive.
		if kept < 50 {
			t.Errorf("only %d of the 100 last created records survived eviction", kept)
		}
	})
}

func TestMaxEntriesUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	s := New(&Options{MaxEntries: 50})
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				if _, err := s.Create(ctx, fmt.Sprintf("%d-%d", g, i), nil, time.Hour); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	if n := s.Len(); n > 50 {
		t.Errorf("%d entries after concurrent creates, cap 50", n)
	}
	n := 0
	for i := range s.shards {
		n += len(s.shards[i].entries)
	}
	if n != s.Len() {
		t.Errorf("Len() = %d but the shards hold %d", s.Len(), n)
	}
}

func TestCloseFreesRecords(t *testing.T) {
	ctx := context.Background()
	s := New(nil)
	for i := range 100 {
		s.Create(ctx, fmt.Sprint(i), []byte("v"), time.Hour)
	}
	s.Close()
	if s.Len() != 0 {
		t.Errorf("Len after Close = %d", s.Len())
	}
}
