package redis

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store"
)

// TestCreateReplyLost: the server applies a Create, the connection drops
// before its reply arrives, go-redis sends the command again on a new
// connection, and Create reports success with the version it wrote — not
// store.ErrExists for its own record. A different Create of the key is
// still refused.
func TestCreateReplyLost(t *testing.T) {
	ctx := t.Context()
	s, p, _ := proxiedStore(t)
	p.cutReplyTo(s.prefix + "k")
	v, err := s.Create(ctx, "k", []byte("mine"), time.Minute)
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d replies, want 1", p.cuts.Load())
	}
	if err != nil {
		t.Fatalf("Create whose first reply was lost = %v, want success", err)
	}
	if rec, err := s.Get(ctx, "k"); err != nil || rec.Version != v || string(rec.Value) != "mine" {
		t.Fatalf("Get = (%q, %d, %v), want (\"mine\", %d)", rec.Value, rec.Version, err, v)
	}
	if _, err := s.Create(ctx, "k", []byte("theirs"), time.Minute); !errors.Is(err, store.ErrExists) {
		t.Errorf("a different Create of the key = %v, want store.ErrExists", err)
	}
}

// TestReplaceReplyLost: the same for a compare-and-swap. The retried
// Replace reports success with its new version, not store.ErrConflict
// with itself; a Replace with the old version still conflicts.
func TestReplaceReplyLost(t *testing.T) {
	ctx := t.Context()
	s, p, _ := proxiedStore(t)
	v1, err := s.Create(ctx, "k", []byte("one"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p.cutReplyTo(s.prefix + "k")
	v2, err := s.Replace(ctx, "k", []byte("two"), time.Minute, v1)
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d replies, want 1", p.cuts.Load())
	}
	if err != nil {
		t.Fatalf("Replace whose first reply was lost = %v, want success", err)
	}
	if rec, err := s.Get(ctx, "k"); err != nil || rec.Version != v2 || string(rec.Value) != "two" {
		t.Fatalf("Get = (%q, %d, %v), want (\"two\", %d)", rec.Value, rec.Version, err, v2)
	}
	if _, err := s.Replace(ctx, "k", []byte("three"), time.Minute, v1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Replace with the old version = %v, want store.ErrConflict", err)
	}
}

// TestCompareAndDeleteReplyLost: the server applies a CompareAndDelete,
// the connection drops before its reply arrives, and go-redis sends the
// command again: the retry finds no record and answers store.ErrNotFound,
// as the method's documentation says. The record is gone.
func TestCompareAndDeleteReplyLost(t *testing.T) {
	ctx := t.Context()
	s, p, client := proxiedStore(t)
	v, err := s.Create(ctx, "k", []byte("one"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p.cutReplyTo(s.prefix + "k")
	err = s.CompareAndDelete(ctx, "k", v)
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d replies, want 1", p.cuts.Load())
	}
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CompareAndDelete whose first reply was lost = %v, want store.ErrNotFound", err)
	}
	if n := client.Exists(ctx, s.prefix+"k").Val(); n != 0 {
		t.Errorf("EXISTS after the CompareAndDelete = %d, want 0: the record is gone either way", n)
	}
}

// TestPipelineReplayed: a pipeline of compare-and-swaps (and Gets and
// Touches) whose replies are lost after the server applied it is replayed
// whole by go-redis; every Replace in it reports success with its own new
// version, and a real conflict in the same pipeline still reports
// store.ErrConflict.
func TestPipelineReplayed(t *testing.T) {
	ctx := t.Context()
	s, p, _ := proxiedStore(t)
	const n = 4
	var old [n]uint64
	for i := range n {
		v, err := s.Create(ctx, fmt.Sprint("k", i), []byte("a"), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		old[i] = v
	}
	stale := old[0] ^ 1 // a version k0 never had
	var (
		got      [n]uint64
		errs     [n]error
		staleErr error
		getErr   error
		touchErr error
	)
	var calls []func()
	for i := range n {
		calls = append(calls, func() {
			got[i], errs[i] = s.Replace(ctx, fmt.Sprint("k", i), []byte("b"), time.Minute, old[i])
		})
	}
	calls = append(calls,
		func() { _, staleErr = s.Replace(ctx, "k0", []byte("c"), time.Minute, stale) },
		func() { _, getErr = s.Get(ctx, "k1") },
		func() { touchErr = s.Touch(ctx, "k2", time.Minute) },
	)
	release, wait := queueBehind(t, s, p, calls...)
	p.cutReplyTo(s.prefix + "k0") // in the pipeline only
	release()
	wait()
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d replies, want 1", p.cuts.Load())
	}
	if st := s.Stats(); st.Batches != 1 || st.BatchedCalls != uint64(len(calls)) {
		t.Fatalf("Stats = %d pipelines of %d calls, want the %d queued calls in one", st.Batches, st.BatchedCalls, len(calls))
	}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Replace k%d in a replayed pipeline = %v, want success", i, errs[i])
			continue
		}
		if rec, err := s.Get(ctx, fmt.Sprint("k", i)); err != nil || rec.Version != got[i] || string(rec.Value) != "b" {
			t.Errorf("Get k%d = (%q, %d, %v), want (\"b\", %d)", i, rec.Value, rec.Version, err, got[i])
		}
	}
	if !errors.Is(staleErr, store.ErrConflict) {
		t.Errorf("a stale Replace in the replayed pipeline = %v, want store.ErrConflict", staleErr)
	}
	if getErr != nil || touchErr != nil {
		t.Errorf("Get and Touch in the replayed pipeline = %v, %v, want success", getErr, touchErr)
	}
}
