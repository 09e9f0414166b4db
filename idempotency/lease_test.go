package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/storetest"
)

// These tests run in synctest bubbles: leases, renewals and retention
// follow a fake clock, deterministic and instant.

const lease = 300 * time.Millisecond

// attemptHandler answers with the attempt it runs as.
func attemptHandler(runs *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		fmt.Fprintf(w, "attempt %d", idempotency.Attempt(r.Context()))
	})
}

// recordOf reads what the store holds for key k (no scope).
func recordOf(t *testing.T, st store.Store, k string) (state string, attempt uint64) {
	t.Helper()
	rec, err := st.Get(context.Background(), idempotency.StorageKey("", k))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	state, attempt, err = idempotency.RecordInfo(rec.Value)
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	return state, attempt
}

// An owner that stops renewing (its process froze, or lost the store)
// loses the key once its lease lapses: another instance takes it over,
// runs the handler as attempt 2 and records that. Before then, the other
// instance answers 409. The frozen owner's handler is cancelled with
// ErrLeaseLost before the takeover, and whatever it answers later is not
// recorded.
func TestTakeoverAfterLeaseLapses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := newMemory()
		aStore := &failing{Store: shared} // instance A's view of the store
		a := newMiddleware(t, aStore, &idempotency.Options{Lease: lease})
		b := newMiddleware(t, shared, &idempotency.Options{Lease: lease})

		var aCause error
		unfreeze := make(chan struct{})
		aDone := make(chan struct{})
		go func() {
			defer close(aDone)
			serve(a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				aStore.down.Store(true) // from now on A reaches nothing
				<-unfreeze
				aCause = context.Cause(r.Context())
				io.WriteString(w, "attempt 1, late")
			})), req("POST", "/", "k", ""))
		}()
		synctest.Wait()

		var runs atomic.Int64
		hb := b.Handler(attemptHandler(&runs))
		time.Sleep(lease - time.Millisecond)
		problemOf(t, serve(hb, req("POST", "/", "k", "")), http.StatusConflict, idempotency.ProblemInFlight)
		time.Sleep(time.Millisecond)
		w := serve(hb, req("POST", "/", "k", ""))
		if w.Code != 200 || w.Body.String() != "attempt 2" || runs.Load() != 1 {
			t.Fatalf("after the lease: %d %q (runs %d), want the handler run as attempt 2", w.Code, w.Body, runs.Load())
		}
		if state, attempt := recordOf(t, shared, "k"); state != "completed" || attempt != 2 {
			t.Errorf("record %s, attempt %d; want completed, attempt 2", state, attempt)
		}

		close(unfreeze)
		<-aDone
		if !errors.Is(aCause, idempotency.ErrLeaseLost) {
			t.Errorf("frozen owner's context cause %v, want ErrLeaseLost", aCause)
		}
		aStore.down.Store(false)
		if w := serve(hb, req("POST", "/", "k", "")); !isReplay(w) || w.Body.String() != "attempt 2" {
			t.Errorf("replay %q, want attempt 2's response", w.Body)
		}
	})
}

// Under StrictAtMostOnce a lapsed lease is never taken over: the request
// may have taken effect, so retries get 409 ProblemAbandoned.
func TestStrictRefusesTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := newMemory()
		aStore := &failing{Store: shared}
		a := newMiddleware(t, aStore, &idempotency.Options{Lease: lease, StrictAtMostOnce: true})
		b := newMiddleware(t, shared, &idempotency.Options{Lease: lease, StrictAtMostOnce: true})
		unfreeze := make(chan struct{})
		go serve(a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			aStore.down.Store(true)
			<-unfreeze
		})), req("POST", "/", "k", ""))
		synctest.Wait()
		time.Sleep(10 * lease)
		var runs atomic.Int64
		w := serve(b.Handler(attemptHandler(&runs)), req("POST", "/", "k", ""))
		problemOf(t, w, http.StatusConflict, idempotency.ProblemAbandoned)
		if w.Header().Get("Retry-After") != "" || runs.Load() != 0 {
			t.Errorf("Retry-After %q, runs %d", w.Header().Get("Retry-After"), runs.Load())
		}
		if state, attempt := recordOf(t, shared, "k"); state != "in flight" || attempt != 1 {
			t.Errorf("record %s, attempt %d; want the abandoned one untouched", state, attempt)
		}
		close(unfreeze)
	})
}

// A handler longer than its lease keeps the key by renewing it every
// Lease/3: another instance asking all along gets 409, never a takeover.
// Renewals are the only writes besides create and complete.
func TestHeartbeatKeepsLongHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := newCounting(newMemory())
		a := newMiddleware(t, shared, &idempotency.Options{Lease: lease})
		b := newMiddleware(t, shared, &idempotency.Options{Lease: lease})
		var aRuns, bRuns atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			w := serve(a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				aRuns.Add(1)
				time.Sleep(time.Second + 50*time.Millisecond)
				if r.Context().Err() != nil {
					t.Errorf("long handler's context ended: %v", context.Cause(r.Context()))
				}
				io.WriteString(w, "long")
			})), req("POST", "/", "k", ""))
			if w.Body.String() != "long" {
				t.Errorf("long handler's response %q", w.Body)
			}
		}()
		hb := b.Handler(attemptHandler(&bRuns))
		for range 10 {
			time.Sleep(lease / 3)
			problemOf(t, serve(hb, req("POST", "/", "k", "")), http.StatusConflict, idempotency.ProblemInFlight)
		}
		<-done
		if w := serve(hb, req("POST", "/", "k", "")); !isReplay(w) || w.Body.String() != "long" {
			t.Errorf("after: %q, replayed %v", w.Body, isReplay(w))
		}
		if aRuns.Load() != 1 || bRuns.Load() != 0 {
			t.Errorf("runs: A %d, B %d", aRuns.Load(), bRuns.Load())
		}
		// 1050 ms at a renewal per 100 ms: 10 renewals, then the completion.
		if c, r := shared.creates.Load(), shared.replaces.Load(); c != 1 || r != 11 {
			t.Errorf("creates %d, replaces %d; want 1 and 10 renewals + 1 completion", c, r)
		}
	})
}

// An owner whose key was taken over never overwrites the new owner's
// record: its completion (a compare-and-swap on its version) is refused.
// Instance B's clock runs an hour ahead, so A's lease looks lapsed to it
// while A is alive and well.
func TestStaleOwnerCompletionIsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := newMemory()
		a := newMiddleware(t, shared, &idempotency.Options{Lease: lease})
		b := newMiddleware(t, shared, &idempotency.Options{Lease: lease, Now: func() time.Time { return time.Now().Add(time.Hour) }})
		proceed := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			serve(a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-proceed
				io.WriteString(w, "A")
			})), req("POST", "/", "k", ""))
		}()
		synctest.Wait()
		var runs atomic.Int64
		if w := serve(b.Handler(attemptHandler(&runs)), req("POST", "/", "k", "")); w.Body.String() != "attempt 2" {
			t.Fatalf("B: %q, want a takeover", w.Body)
		}
		close(proceed) // A finishes within its lease/3: no renewal told it
		<-done
		if state, attempt := recordOf(t, shared, "k"); state != "completed" || attempt != 2 {
			t.Errorf("record %s attempt %d; want B's completed attempt 2", state, attempt)
		}
		if w := serve(a.Handler(attemptHandler(&runs)), req("POST", "/", "k", "")); w.Body.String() != "attempt 2" {
			t.Errorf("replay %q: the stale owner overwrote the record", w.Body)
		}
	})
}

// A renewal that finds the key taken over cancels the handler's context
// at once, with ErrLeaseLost.
func TestLostRenewalCancelsHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := newCounting(newMemory())
		a := newMiddleware(t, shared, &idempotency.Options{Lease: lease})
		b := newMiddleware(t, shared, &idempotency.Options{Lease: lease, Now: func() time.Time { return time.Now().Add(time.Hour) }})
		var cause error
		var cancelledAfter time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			start := time.Now()
			serve(a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
				cancelledAfter = time.Since(start)
				cause = context.Cause(r.Context())
				http.Error(w, "cancelled", http.StatusServiceUnavailable)
			})), req("POST", "/", "k", ""))
		}()
		synctest.Wait()
		var runs atomic.Int64
		serve(b.Handler(attemptHandler(&runs)), req("POST", "/", "k", ""))
		<-done
		if !errors.Is(cause, idempotency.ErrLeaseLost) || cancelledAfter != lease/3 {
			t.Errorf("cause %v after %v; want ErrLeaseLost at the first renewal (%v)", cause, cancelledAfter, lease/3)
		}
		// The lost owner neither completed nor released.
		if shared.cads.Load() != 0 {
			t.Errorf("the lost owner released the key")
		}
		if state, _ := recordOf(t, shared, "k"); state != "completed" {
			t.Errorf("record %s, want B's completed one", state)
		}
	})
}

// Options.Wait makes a retry wait for the first execution and replay it;
// or run itself if the first released the key.
func TestWaitForInFlight(t *testing.T) {
	for _, status := range []int{http.StatusCreated, http.StatusInternalServerError} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newCounting(newMemory())
				m := newMiddleware(t, st, &idempotency.Options{Wait: 10 * time.Second})
				var runs atomic.Int64
				proceed := make(chan struct{})
				h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if runs.Add(1) == 1 {
						<-proceed
						w.WriteHeader(status)
						io.WriteString(w, "first")
						return
					}
					io.WriteString(w, "second")
				}))
				go serve(h, req("POST", "/", "k", ""))
				synctest.Wait()
				var w *httptest.ResponseRecorder
				done := make(chan struct{})
				go func() { defer close(done); w = serve(h, req("POST", "/", "k", "")) }()
				time.Sleep(3 * time.Second) // the retry waits meanwhile
				close(proceed)
				<-done
				switch {
				case status < 500 && (!isReplay(w) || w.Body.String() != "first" || runs.Load() != 1):
					t.Errorf("waiting retry: %d %q, runs %d; want the replay", w.Code, w.Body, runs.Load())
				case status >= 500 && (isReplay(w) || w.Body.String() != "second" || runs.Load() != 2):
					t.Errorf("waiting retry after a release: %d %q, runs %d; want it run", w.Code, w.Body, runs.Load())
				}
				// About 3 s of polling at 250 ms at most: a bounded number of reads.
				if g := st.gets.Load(); g < 12 || g > 30 {
					t.Errorf("%d reads while waiting 3 s", g)
				}
			})
		})
	}
}

// Wait is bounded: past it the retry answers 409.
func TestWaitIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMiddleware(t, newMemory(), &idempotency.Options{Wait: time.Second})
		proceed := make(chan struct{})
		h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-proceed }))
		go serve(h, req("POST", "/", "k", ""))
		synctest.Wait()
		start := time.Now()
		problemOf(t, serve(h, req("POST", "/", "k", "")), http.StatusConflict, idempotency.ProblemInFlight)
		if d := time.Since(start); d < time.Second || d > time.Second+300*time.Millisecond {
			t.Errorf("waited %v, want about Wait (1s)", d)
		}
		close(proceed)
	})
}

// After Retention the key is free: the same request runs again.
func TestRetentionEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int64
		h := newMiddleware(t, newMemory(), &idempotency.Options{Retention: time.Minute}).Handler(attemptHandler(&runs))
		serve(h, req("POST", "/", "k", ""))
		time.Sleep(59 * time.Second)
		if w := serve(h, req("POST", "/", "k", "")); !isReplay(w) {
			t.Fatal("no replay within Retention")
		}
		time.Sleep(2 * time.Second)
		if w := serve(h, req("POST", "/", "k", "")); isReplay(w) || runs.Load() != 2 || w.Body.String() != "attempt 1" {
			t.Errorf("after Retention: replayed %v, runs %d, %q", isReplay(w), runs.Load(), w.Body)
		}
	})
}

// What each outcome costs in store calls: a replay is one read; a first
// execution one read (the miss) and two writes; a handler longer than
// Lease/3 adds one write per Lease/3. Over a store.CreateOrGetter the
// read and the create of a first execution are one call, and a replay's
// one call reads.
func TestStoreCallCosts(t *testing.T) {
	type cost struct{ gets, creates, cogs, replaces, other int64 }
	for _, withCOG := range []bool{false, true} {
		t.Run(map[bool]string{false: "Get", true: "CreateOrGet"}[withCOG], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mem := newMemory()
				var st store.Store
				cst := newCounting(mem)
				cogs := func() int64 { return 0 }
				st = cst
				if withCOG {
					c := newCountingCOG(mem)
					cst, st, cogs = c.counting, c, c.cogs.Load
				}
				m := newMiddleware(t, st, &idempotency.Options{Lease: lease})
				var sleep time.Duration
				h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					time.Sleep(sleep)
					io.WriteString(w, "done")
				}))
				now := func() cost {
					return cost{cst.gets.Load(), cst.creates.Load(), cogs(), cst.replaces.Load(), cst.touches.Load() + cst.deletes.Load() + cst.cads.Load()}
				}
				measure := func(key string) cost {
					b := now()
					serve(h, req("POST", "/", key, ""))
					a := now()
					return cost{a.gets - b.gets, a.creates - b.creates, a.cogs - b.cogs, a.replaces - b.replaces, a.other - b.other}
				}
				first, replay := cost{1, 1, 0, 1, 0}, cost{1, 0, 0, 0, 0}
				if withCOG {
					first, replay = cost{0, 0, 1, 1, 0}, cost{0, 0, 1, 0, 0}
				}
				sleep = lease/3 - time.Millisecond
				if c := measure("short"); c != first {
					t.Errorf("first execution, short handler: %+v; want %+v", c, first)
				}
				if c := measure("short"); c != replay {
					t.Errorf("replay: %+v; want %+v", c, replay)
				}
				sleep = 2*lease + lease/6 // renewals at 100, 200, …, 600 ms
				long := first
				long.replaces += 6
				if c := measure("long"); c != long {
					t.Errorf("first execution, %v handler: %+v; want %+v (6 renewals)", sleep, c, long)
				}
			})
		})
	}
}

// Exactly one of many concurrent requests with one key, spread over three
// instances sharing a store, runs the handler; the others get 409 or the
// replay. The handler holds on until half of the others have answered,
// so both kinds of answer are seen.
func oneExecution(t *testing.T, shared store.Store) {
	oneExecutionAcross(t, []store.Store{shared, shared, shared})
}

// oneExecutionAcross runs one instance over each store, all of them views
// of one store (several clients of one server), with a key of its own.
func oneExecutionAcross(t *testing.T, stores []store.Store) {
	const perInstance = 50
	instances := len(stores)
	total := instances * perInstance
	key := "one-key-" + storetest.RandomPrefix()
	var runs, answered atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		deadline := time.Now().Add(20 * time.Second)
		for answered.Load() < int64((total-1)/2) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "the one")
	})
	var hs []http.Handler
	for _, st := range stores {
		// Generous bounds: this is about who runs, not how fast, and a
		// loaded CI machine under -race can be slow.
		hs = append(hs, newMiddleware(t, st, &idempotency.Options{Lease: 30 * time.Second, StoreTimeout: 10 * time.Second}).Handler(handler))
	}
	var firsts, replays, conflicts, others atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range total {
		wg.Go(func() {
			<-start
			w := serve(hs[i%instances], req("POST", "/orders", key, `{"item":1}`))
			switch {
			case w.Code == http.StatusCreated && !isReplay(w):
				firsts.Add(1)
				return
			case w.Code == http.StatusCreated && w.Body.String() == "the one":
				replays.Add(1)
			case w.Code == http.StatusConflict && w.Header().Get("Retry-After") != "":
				conflicts.Add(1)
			default:
				others.Add(1)
				t.Errorf("unexpected answer %d %q", w.Code, w.Body)
			}
			answered.Add(1)
		})
	}
	close(start)
	wg.Wait()
	if runs.Load() != 1 || firsts.Load() != 1 {
		t.Fatalf("handler ran %d times, %d first responses; want exactly 1", runs.Load(), firsts.Load())
	}
	t.Logf("%d requests over %d instances: 1 execution, %d replays, %d × 409", total, instances, replays.Load(), conflicts.Load())
	if conflicts.Load() < int64((total-1)/2) || others.Load() != 0 {
		t.Errorf("%d × 409 (want ≥ %d), %d other answers", conflicts.Load(), (total-1)/2, others.Load())
	}
	for i, h := range hs {
		if w := serve(h, req("POST", "/orders", key, `{"item":1}`)); !isReplay(w) || w.Body.String() != "the one" {
			t.Errorf("instance %d, afterwards: %d %q, want the replay", i, w.Code, w.Body)
		}
	}
	if runs.Load() != 1 {
		t.Errorf("handler ran %d times", runs.Load())
	}
}

func TestOneExecutionMemory(t *testing.T) {
	oneExecution(t, newMemory())
}

// The same over a store without CompareAndDelete.
func TestOneExecutionPlainStore(t *testing.T) {
	oneExecution(t, plain{newMemory()})
}
