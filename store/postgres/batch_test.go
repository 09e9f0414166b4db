package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/postgres"
)

// TestReplaceBatchOutcomes sends one batch holding every outcome a Replace
// can have and checks each call's answer, and that only the replaced rows
// changed.
func TestReplaceBatchOutcomes(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, &postgres.Options{ReapInterval: -1})
	versions := map[string]uint64{}
	for _, k := range []string{"ok-a", "ok-b", "stale", "expired"} {
		ttl := time.Hour
		if k == "expired" {
			ttl = time.Millisecond
		}
		v, err := s.Create(ctx, k, []byte("old "+k), ttl)
		if err != nil {
			t.Fatal(err)
		}
		versions[k] = v
	}
	time.Sleep(5 * time.Millisecond) // "expired" expires
	calls := []postgres.BatchCall{
		{Key: "stale", Version: versions["stale"] + 1},
		{Key: "ok-b", Version: versions["ok-b"]},
		{Key: "missing", Version: 7},
		{Key: "expired", Version: versions["expired"]},
		{Key: "ok-a", Version: versions["ok-a"]},
	}
	for i := range calls {
		calls[i].Value = []byte("new " + calls[i].Key)
		calls[i].TTL = time.Hour
		calls[i].NewVersion = uint64(1000 + i)
	}
	got, err := postgres.RunBatch(ctx, s, calls)
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	want := []int32{2, 1, 0, 0, 1} // conflict, replaced, not found, not found, replaced
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outcomes %v, want %v (in call order)", got, want)
	}
	for i, c := range calls {
		rec, err := s.Get(ctx, c.Key)
		switch c.Key {
		case "ok-a", "ok-b":
			if err != nil || string(rec.Value) != "new "+c.Key || rec.Version != c.NewVersion {
				t.Errorf("%s after the batch: %q v%d, %v; want the new value at v%d", c.Key, rec.Value, rec.Version, err, calls[i].NewVersion)
			}
		case "stale":
			if err != nil || string(rec.Value) != "old stale" || rec.Version != versions["stale"] {
				t.Errorf("stale after the batch: %q v%d, %v; want it unchanged", rec.Value, rec.Version, err)
			}
		default:
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s after the batch: %q, %v; want ErrNotFound", c.Key, rec.Value, err)
			}
		}
	}
	if f := s.Stats().BatchFallbacks; f != 0 {
		t.Errorf("%d batches refused by the server, want 0", f)
	}
}

// TestReplaceBatchFallback: a batch the server refuses is run again call
// by call, and each call gets its own right answer.
func TestReplaceBatchFallback(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, nil)
	postgres.BreakBatchStatement(s)
	va, _ := s.Create(ctx, "a", []byte("a"), time.Hour)
	vb, _ := s.Create(ctx, "b", []byte("b"), time.Hour)
	got, err := postgres.RunBatch(ctx, s, []postgres.BatchCall{
		{Key: "a", Value: []byte("A"), TTL: time.Hour, Version: va, NewVersion: 11},
		{Key: "b", Value: []byte("B"), TTL: time.Hour, Version: vb + 1, NewVersion: 12},
		{Key: "c", Value: []byte("C"), TTL: time.Hour, Version: 3, NewVersion: 13},
	})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	if fmt.Sprint(got) != "[1 2 0]" {
		t.Errorf("outcomes %v, want [1 2 0]", got)
	}
	if rec, err := s.Get(ctx, "a"); err != nil || string(rec.Value) != "A" || rec.Version != 11 {
		t.Errorf("a: %q v%d, %v; want A v11", rec.Value, rec.Version, err)
	}
	if f := s.Stats().BatchFallbacks; f != 1 {
		t.Errorf("%d fallbacks, want 1", f)
	}
}

// TestReplaceBatchesUnderLoad: many goroutines increment counters with
// compare-and-swap through one store whose calls must queue (one batch
// slot); the calls gather into batches and no increment is lost or
// doubled.
func TestReplaceBatchesUnderLoad(t *testing.T) {
	s := newStoreOnPool(t, smallPool(t, 2), testSchema(t)+".sessions")
	if l := postgres.BatchLimit(s); l != 1 {
		t.Fatalf("batch limit over a 2-connection pool is %d, want 1", l)
	}
	done := hammer(t, []*postgres.Store{s}, 8, 32, 2*time.Second)
	st := s.Stats()
	t.Logf("%d increments, %d batches of %d calls in all, %d fallbacks", done, st.Batches, st.BatchedCalls, st.BatchFallbacks)
	if st.Batches == 0 {
		t.Error("32 goroutines on one batch slot made no batch")
	}
	if st.BatchedCalls < 2*st.Batches {
		t.Errorf("%d batches carried %d calls; a batch has at least 2", st.Batches, st.BatchedCalls)
	}
	if st.BatchFallbacks != 0 {
		t.Errorf("%d batches refused by the server", st.BatchFallbacks)
	}
	if st.Queued != 0 {
		t.Errorf("%d calls still queued after every caller returned", st.Queued)
	}
}

// TestBatchingOff: with batching=false in the URL, the calls that would
// have queued for one batch slot each go alone, and the counters come out
// exact all the same.
func TestBatchingOff(t *testing.T) {
	url := withParams(testenv.PostgresURL(t), "table="+testSchema(t)+".sessions", "pool_max_conns=2", "reap_interval=off", "batching=false")
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	done := hammer(t, []*postgres.Store{s}, 8, 32, time.Second)
	st := s.Stats()
	t.Logf("%d increments in %d Replaces, unbatched", done, st.Replaces)
	if st.Batches != 0 || st.BatchedCalls != 0 {
		t.Errorf("batching off, yet %d batches of %d calls", st.Batches, st.BatchedCalls)
	}
	if st.Replaces < uint64(done) {
		t.Errorf("%d Replaces counted, fewer than the %d increments acknowledged", st.Replaces, done)
	}
}

// TestReplaceBatchesDoNotDeadlock: two stores with pools of their own, as
// two instances would have, batch updates of the same few rows in every
// order. Batches lock in key order, so none waits on another in a cycle:
// the server reports no deadlock (a refused batch would be counted), and
// the counters come out exact.
func TestReplaceBatchesDoNotDeadlock(t *testing.T) {
	table := testSchema(t) + ".sessions"
	a := newStoreOnPool(t, smallPool(t, 4), table)
	b := newStoreOnPool(t, smallPool(t, 4), table)
	hammer(t, []*postgres.Store{a, b}, 6, 24, 3*time.Second)
	var batches uint64
	for _, s := range []*postgres.Store{a, b} {
		st := s.Stats()
		batches += st.Batches
		if st.BatchFallbacks != 0 {
			t.Errorf("%d batches refused by the server (deadlock?)", st.BatchFallbacks)
		}
	}
	if batches == 0 {
		t.Error("no batches were made")
	}
}

// TestReplaceQueuedCallHonoursContext: a call waiting for a batch slot
// returns its context's error when the context ends, and leaves the queue.
// The one batch slot is taken by a Replace that waits for a row lock
// another transaction holds, so the call queues behind it for real.
func TestReplaceQueuedCallHonoursContext(t *testing.T) {
	ctx := t.Context()
	s := newStoreOnPool(t, smallPool(t, 2), testSchema(t)+".sessions") // one batch slot
	v, err := s.Create(ctx, "k", []byte("v"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	release := occupyBatchSlot(t, s)

	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Replace(cctx, "k", []byte("w"), time.Hour, v)
		errc <- err
	}()
	waitQueued(t, s, 1)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("queued Replace after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("queued Replace did not return after its context was cancelled")
	}
	if n := s.Stats().Queued; n != 0 {
		t.Errorf("%d calls still queued", n)
	}
	release()
	// The slot works again, and the cancelled call wrote nothing.
	if _, err := s.Replace(ctx, "k", []byte("x"), time.Hour, v); err != nil {
		t.Errorf("Replace after release: %v", err)
	}
}

// occupyBatchSlot takes the one batch slot of s (a store over a pool of
// two connections) with a Replace of a key of its own that waits for a row
// lock held by another transaction, so that the next Replace calls queue.
// release lets the lock go and waits for that Replace, which must succeed.
func occupyBatchSlot(t *testing.T, s *postgres.Store) (release func()) {
	t.Helper()
	ctx := t.Context()
	v, err := s.Create(ctx, "slot-holder", []byte("h"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tx, pid := lockRows(t, s, "slot-holder")
	done := make(chan error, 1)
	go func() {
		_, err := s.Replace(ctx, "slot-holder", []byte("H"), time.Hour, v)
		done <- err
	}()
	waitBlocked(t, pid, 1)
	return func() {
		t.Helper()
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Errorf("the Replace that held the batch slot: %v", err)
		}
	}
}

// lockRows locks the rows of keys in s's table in a transaction of its
// own, rolled back when the test ends, and returns it with its backend's
// pid.
func lockRows(t *testing.T, s *postgres.Store, keys ...string) (pgx.Tx, int) {
	t.Helper()
	ctx := t.Context()
	tx, err := testPool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	var pid int
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	bkeys := make([][]byte, len(keys))
	for i, k := range keys {
		bkeys[i] = []byte(k)
	}
	tag, err := tx.Exec(ctx, "SELECT 1 FROM "+s.Table()+" WHERE key = ANY ($1) FOR UPDATE", bkeys)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != int64(len(keys)) {
		t.Fatalf("locked %d rows, want %d", tag.RowsAffected(), len(keys))
	}
	return tx, pid
}

// waitBlocked waits until n backends wait for a lock that the backend pid
// holds.
func waitBlocked(t *testing.T, pid, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var got int
		err := testPool(t).QueryRow(t.Context(),
			`SELECT count(*) FROM pg_stat_activity WHERE $1::int = ANY (pg_blocking_pids(pid))`, pid).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backends wait for the locks of backend %d, want %d", got, pid, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitQueued waits until n Replace calls of s wait for a batch slot.
func waitQueued(t *testing.T, s *postgres.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := s.Stats().Queued
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// smallPool returns a pool of its own with n connections, closed when the
// test ends.
func smallPool(t *testing.T, n int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = n
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newStoreOnPool returns a Store over pool on table, without a reaper.
func newStoreOnPool(t *testing.T, pool *pgxpool.Pool, table string) *postgres.Store {
	t.Helper()
	s, err := postgres.New(t.Context(), pool, &postgres.Options{Table: table, ReapInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// hammer runs workers goroutines, spread over stores, that increment
// counters on keys (an 8-byte big-endian count per key) by Get and
// compare-and-swap Replace, retrying conflicts, for about d. It checks
// that every counter equals the increments acknowledged on it and returns
// their total.
func hammer(t *testing.T, stores []*postgres.Store, keys, workers int, d time.Duration) int64 {
	t.Helper()
	ctx := t.Context()
	for k := range keys {
		if _, err := stores[0].Create(ctx, fmt.Sprint("n", k), make([]byte, 8), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	acked := make([]atomic.Int64, keys)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := stores[w%len(stores)]
		rng := rand.New(rand.NewPCG(uint64(w), 1))
		wg.Go(func() {
			for time.Now().Before(deadline) {
				k := rng.IntN(keys)
				key := fmt.Sprint("n", k)
				for {
					rec, err := s.Get(ctx, key)
					if err != nil {
						errs <- fmt.Errorf("Get %s: %w", key, err)
						return
					}
					n := be64(rec.Value) + 1
					_, err = s.Replace(ctx, key, put64(n), time.Hour, rec.Version)
					if errors.Is(err, store.ErrConflict) {
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("Replace %s: %w", key, err)
						return
					}
					acked[k].Add(1)
					break
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var total int64
	for k := range keys {
		rec, err := stores[0].Get(ctx, fmt.Sprint("n", k))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := be64(rec.Value), acked[k].Load(); got != uint64(want) {
			t.Errorf("counter n%d is %d, but %d increments were acknowledged", k, got, want)
		}
		total += acked[k].Load()
	}
	return total
}

func be64(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

func put64(n uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	return b
}

// TestBatchedCallLeavesAtItsDeadline: a batch waits for a row lock that
// another transaction holds; the call in it with a deadline returns at that
// deadline, and the call without one gets its outcome once the lock is
// released.
func TestBatchedCallLeavesAtItsDeadline(t *testing.T) {
	ctx := t.Context()
	s := newStoreOnPool(t, smallPool(t, 2), testSchema(t)+".sessions") // one batch slot
	va, _ := s.Create(ctx, "a", []byte("a"), time.Hour)
	vb, _ := s.Create(ctx, "b", []byte("b"), time.Hour)
	tx, pid := lockRows(t, s, "b")
	release := occupyBatchSlot(t, s)

	// Long enough for the calls to queue and their batch to start, all of
	// which is checked to happen before it.
	const deadline = time.Second
	start := time.Now()
	short, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var (
		wg           sync.WaitGroup
		errA, errB   error
		tookA        time.Duration
		aDone        = make(chan struct{})
		replacedB    uint64
		lockReleased atomic.Bool
	)
	wg.Go(func() {
		defer close(aDone)
		_, errA = s.Replace(short, "a", []byte("A"), time.Hour, va)
		tookA = time.Since(start)
	})
	waitQueued(t, s, 1)
	wg.Go(func() {
		replacedB, errB = s.Replace(ctx, "b", []byte("B"), time.Hour, vb)
		if !lockReleased.Load() {
			t.Error("Replace of b returned while its row was still locked")
		}
	})
	waitQueued(t, s, 2)
	release()              // the slot passes to a, which leads a batch of a and b
	waitBlocked(t, pid, 1) // that batch waits for b's lock
	if st := s.Stats(); st.Batches != 1 || st.BatchedCalls != 2 {
		t.Fatalf("%d batches of %d calls, want 1 of 2 (a and b together)", st.Batches, st.BatchedCalls)
	}
	if since := time.Since(start); since >= deadline {
		t.Fatalf("the batch started %v after a's call, after a's deadline: the test machine is too slow for this test's timing", since)
	}
	<-aDone
	lockReleased.Store(true)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	if !errors.Is(errA, context.DeadlineExceeded) || tookA > deadline+600*time.Millisecond {
		t.Errorf("Replace of a: %v after %v; want DeadlineExceeded at about %v, while its batch waited", errA, tookA, deadline)
	}
	if errB != nil || replacedB == 0 {
		t.Errorf("Replace of b after the lock was released: %d, %v", replacedB, errB)
	}
}
