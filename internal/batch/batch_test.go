package batch

import (
	"github.com/stateless-go/stateless/store"

	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type op struct {
	n      int
	result int
	batch  int // size of the batch it ran in
}

// TestQuietCallRunsAloneAtOnce: with a slot free, Do runs the call in the
// caller's goroutine, alone.
func TestQuietCallRunsAloneAtOnce(t *testing.T) {
	var sizes []int
	b := &Batcher[op]{Limit: 1, Run: func(calls []*Call[op]) {
		sizes = append(sizes, len(calls))
		for _, c := range calls {
			c.Op.result = c.Op.n * 2
		}
	}}
	for i := range 3 {
		c := &Call[op]{Ctx: t.Context(), Op: op{n: i}}
		if err := b.Do(c); err != nil || c.Op.result != i*2 {
			t.Fatalf("Do: %v, result %d", err, c.Op.result)
		}
	}
	if len(sizes) != 3 || sizes[0] != 1 || sizes[1] != 1 || sizes[2] != 1 {
		t.Errorf("batch sizes %v, want three batches of one", sizes)
	}
}

// TestWaitingCallsShareTheNextBatch: calls that arrive while the only slot
// is busy run together in the next batch, each with its own result, and
// Take's leftovers go in the batch after, in order.
func TestWaitingCallsShareTheNextBatch(t *testing.T) {
	release := make(chan struct{})
	var (
		mu      sync.Mutex
		batches [][]int
	)
	b := &Batcher[op]{
		Limit: 1,
		Take: func(taken, pending []*Call[op]) ([]*Call[op], []*Call[op]) {
			n := min(len(pending), 3-len(taken)) // batches of at most 3
			return append(taken, pending[:n]...), pending[n:]
		},
		Run: func(calls []*Call[op]) {
			var ns []int
			for _, c := range calls {
				ns = append(ns, c.Op.n)
				c.Op.result = c.Op.n * 10
				c.Op.batch = len(calls)
			}
			mu.Lock()
			batches = append(batches, ns)
			first := len(batches) == 1
			mu.Unlock()
			if first {
				<-release
			}
		},
	}
	var wg sync.WaitGroup
	calls := make([]*Call[op], 6)
	for i := range calls {
		calls[i] = &Call[op]{Ctx: t.Context(), Op: op{n: i}}
	}
	wg.Go(func() { b.Do(calls[0]) })
	for b.queued() != 0 || !leading(b) {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < 6; i++ {
		wg.Go(func() { b.Do(calls[i]) })
		for b.queued() != i {
			time.Sleep(time.Millisecond)
		}
	}
	close(release)
	wg.Wait()
	for _, c := range calls {
		if c.Op.result != c.Op.n*10 {
			t.Errorf("call %d: result %d", c.Op.n, c.Op.result)
		}
	}
	// The first batch is call 0 alone; the next leader (call 1) takes two
	// more; the rest follow.
	want := [][]int{{0}, {1, 2, 3}, {4, 5}}
	if len(batches) != len(want) {
		t.Fatalf("batches %v, want %v", batches, want)
	}
	for i := range want {
		if len(batches[i]) != len(want[i]) {
			t.Fatalf("batches %v, want %v", batches, want)
		}
		for j := range want[i] {
			if batches[i][j] != want[i][j] {
				t.Fatalf("batches %v, want %v", batches, want)
			}
		}
	}
	if !settles(b) {
		t.Error("slots still busy after every call returned")
	}
	// Fill reports the two batches of several and their five calls.
	var st store.Stats
	b.Fill(&st)
	if st.Batches != 2 || st.BatchedCalls != 5 || st.Queued != 0 {
		t.Errorf("Fill: Batches %d, BatchedCalls %d, Queued %d; want 2, 5, 0", st.Batches, st.BatchedCalls, st.Queued)
	}
}

// settles reports whether b soon has no slot busy and no call pending: a
// batch of several hands its slot on just after waking its calls.
func settles(b *Batcher[op]) bool {
	for range 1000 {
		b.mu.Lock()
		idle := b.busy == 0 && len(b.pending) == 0
		b.mu.Unlock()
		if idle {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

func leading(b *Batcher[op]) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.busy == 1
}

// TestCancelledWaiterLeavesTheQueue: a waiting call whose context ends
// returns its error at once and never runs.
func TestCancelledWaiterLeavesTheQueue(t *testing.T) {
	ran := 0
	b := &Batcher[op]{Limit: 2, Run: func(calls []*Call[op]) { ran += len(calls) }}
	if held := b.hold(); held != 2 {
		t.Fatalf("hold took %d slots, want 2", held)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error)
	go func() { errc <- b.Do(&Call[op]{Ctx: ctx}) }()
	for b.queued() != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Do after cancel: %v, want context.Canceled", err)
	}
	if b.queued() != 0 {
		t.Error("the cancelled call is still queued")
	}
	b.handOff()
	b.handOff()
	if ran != 0 || !settles(b) {
		t.Errorf("ran %d calls, slots busy: %v; want 0, none", ran, !settles(b))
	}
}

// TestManyCallers: under -race, every call of many goroutines runs exactly
// once, batches form, and no more than Limit run at once.
func TestManyCallers(t *testing.T) {
	var inFlight, most, runs, batched atomic.Int64
	b := &Batcher[op]{Limit: 2, Run: func(calls []*Call[op]) {
		n := inFlight.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		if len(calls) > 1 {
			batched.Add(1)
		}
		for _, c := range calls {
			c.Op.result++
			runs.Add(1)
		}
		time.Sleep(50 * time.Microsecond)
		inFlight.Add(-1)
	}}
	var wg sync.WaitGroup
	const callers, each = 32, 200
	for range callers {
		wg.Go(func() {
			for range each {
				c := &Call[op]{Ctx: t.Context()}
				if err := b.Do(c); err != nil || c.Op.result != 1 {
					t.Errorf("Do: %v, ran %d times", err, c.Op.result)
					return
				}
			}
		})
	}
	wg.Wait()
	if runs.Load() != callers*each {
		t.Errorf("%d runs, want %d", runs.Load(), callers*each)
	}
	if most.Load() > 2 {
		t.Errorf("%d batches ran at once, Limit is 2", most.Load())
	}
	if batched.Load() == 0 {
		t.Error("no batch held more than one call")
	}
	if !settles(b) {
		t.Error("slots still busy, or calls pending, after every call returned")
	}
}

// TestJoin: the joined context ends when every call's context has ended,
// not before, and keeps the first call's values.
func TestJoin(t *testing.T) {
	type key struct{}
	c1, cancel1 := context.WithCancel(context.WithValue(t.Context(), key{}, "v"))
	c2, cancel2 := context.WithCancel(t.Context())
	ctx, stop := Join([]*Call[op]{{Ctx: c1}, {Ctx: c2}})
	defer stop()
	if ctx.Value(key{}) != "v" {
		t.Error("joined context lost the first call's values")
	}
	cancel1()
	select {
	case <-ctx.Done():
		t.Fatal("joined context ended when only one of two calls' contexts did")
	case <-time.After(20 * time.Millisecond):
	}
	cancel2()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("joined context did not end after every call's context did")
	}
}

// TestPanicInRun: a batch of several whose Run panics fails each of its
// calls with an error (never a silent zero outcome, never a crashed
// process); a lone call's panic goes on up its caller's stack. Either way
// the slot is handed on.
func TestPanicInRun(t *testing.T) {
	release := make(chan struct{})
	b := &Batcher[op]{Limit: 1, Run: func(calls []*Call[op]) {
		if calls[0].Op.n == 0 {
			<-release
			panic("lone")
		}
		if len(calls) > 1 {
			panic("boom")
		}
		calls[0].Op.result = 1
	}}
	var wg sync.WaitGroup
	var lonePanic any
	wg.Go(func() {
		defer func() { lonePanic = recover() }()
		b.Do(&Call[op]{Ctx: t.Context(), Op: op{n: 0}})
	})
	for !leading(b) {
		time.Sleep(time.Millisecond)
	}
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() { errs[i] = b.Do(&Call[op]{Ctx: t.Context(), Op: op{n: i + 1}}) })
		for b.queued() != i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	close(release)
	wg.Wait()
	if lonePanic != "lone" {
		t.Errorf("the lone call's panic: %v, want it to reach its caller", lonePanic)
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d of the panicking batch: nil error", i+1)
		}
	}
	c := &Call[op]{Ctx: t.Context(), Op: op{n: 9}}
	if err := b.Do(c); err != nil || c.Op.result != 1 {
		t.Errorf("Do after the panics: %v, result %d; the slot was not handed on", err, c.Op.result)
	}
}

// TestCallsLeaveARunningBatch: every call of a batch of several, its
// leader too, returns when its own context ends, while the batch still
// runs; the others wait for the outcome.
func TestCallsLeaveARunningBatch(t *testing.T) {
	block, blocked := make(chan struct{}), make(chan struct{}, 1)
	b := &Batcher[op]{Limit: 1, Run: func(calls []*Call[op]) {
		if calls[0].Op.n == 0 {
			<-block
			return
		}
		blocked <- struct{}{}
		<-block
		for _, c := range calls {
			c.Op.result = 1
		}
	}}
	var wg sync.WaitGroup
	wg.Go(func() { b.Do(&Call[op]{Ctx: t.Context()}) }) // holds the slot
	for !leading(b) {
		time.Sleep(time.Millisecond)
	}
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	calls := []*Call[op]{
		{Ctx: short(), Op: op{n: 1}},     // will lead the next batch
		{Ctx: short(), Op: op{n: 2}},     // a follower
		{Ctx: t.Context(), Op: op{n: 3}}, // stays for the outcome
	}
	errs := make([]error, len(calls))
	returned := make([]time.Duration, len(calls))
	start := time.Now()
	for i, c := range calls {
		wg.Go(func() {
			errs[i] = b.Do(c)
			returned[i] = time.Since(start)
		})
		for b.queued() != i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	block <- struct{}{} // the first batch ends; calls 1-3 go together
	<-blocked
	time.Sleep(200 * time.Millisecond) // past the short deadlines
	close(block)
	wg.Wait()
	for i := range 2 {
		if !errors.Is(errs[i], context.DeadlineExceeded) || returned[i] > 150*time.Millisecond {
			t.Errorf("call %d: %v after %v; want DeadlineExceeded at about 50ms, while the batch ran", i+1, errs[i], returned[i])
		}
	}
	if errs[2] != nil || calls[2].Op.result != 1 {
		t.Errorf("call 3: %v, result %d; want the batch's outcome", errs[2], calls[2].Op.result)
	}
}

// TestLimits: calls are taken oldest first up to the count and byte
// limits; big calls and skipped ones stay, in order, for later batches.
func TestLimits(t *testing.T) {
	l := Limits[op]{Calls: 4, Bytes: 10, Alone: 8,
		Size: func(o *op) int { return o.n },
		Skip: func(taken []*Call[op], c *Call[op]) bool { return c.Op.result == 1 }, // "same key"
	}
	mk := func(sizes ...int) []*Call[op] {
		var cs []*Call[op]
		for _, n := range sizes {
			cs = append(cs, &Call[op]{Op: op{n: n}})
		}
		return cs
	}
	sizes := func(cs []*Call[op]) []int {
		var ns []int
		for _, c := range cs {
			ns = append(ns, c.Op.n)
		}
		return ns
	}
	pending := mk(3, 9, 4, 5, 2, 1, 1)
	pending[4].Op.result = 1 // skipped
	taken, left := l.Take(mk(1), pending)
	// 3 and 4 fit (7 bytes); 9 is too big to share; 5 would pass 10 bytes;
	// 2 is skipped; 1 fits and fills the batch to 4 calls.
	if got, want := fmt.Sprint(sizes(taken), sizes(left)), "[1 3 4 1] [9 5 2 1]"; got != want {
		t.Errorf("taken, left = %s, want %s", got, want)
	}
	taken, left = l.Take(mk(8), mk(1, 1))
	if got, want := fmt.Sprint(sizes(taken), sizes(left)), "[8] [1 1]"; got != want {
		t.Errorf("a big leader: taken, left = %s, want %s", got, want)
	}
}
