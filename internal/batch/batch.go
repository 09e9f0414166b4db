// Package batch gathers calls that arrive while others are in flight into
// batches, for adapters whose server does many operations in one round trip
// (a pipeline, one statement) for little more than the cost of one.
//
// There is no timer and no standing goroutine. A call that finds a free
// slot (at most Limit batches run at once) runs at once, leading a batch of
// itself and whatever already waits, so a quiet client pays nothing: a
// batch of one runs in its caller's goroutine. A call that finds every slot
// busy waits; when a batch finishes, the slot passes to the oldest waiting
// call, which leads the next batch, taking every call then waiting that
// Take admits. Under load, batches grow to what piled up during one round
// trip. A batch of more than one runs in a goroutine of its own, so that
// every caller in it, the leader too, can leave when its own context ends.
package batch

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stateless-go/stateless/store"
)

// Call is one caller's operation; the adapter's Run fills in its outcome.
type Call[T any] struct {
	Ctx context.Context
	Op  T

	turn  chan turn
	err   error // set before turnDone: nil, or why the call did not run
	state state // under the Batcher's mu
}

type state uint8

const (
	stWaiting state = iota // in pending
	stTaken                // in a batch
	stLeading              // handed the lead
)

type turn uint8

const (
	turnDone turn = iota
	turnLead
)

// Batcher runs calls in batches. Set its fields before first use; it is
// then safe for concurrent use.
type Batcher[T any] struct {
	// Limit is how many batches may be in flight at once; at least 1.
	Limit int

	// Take moves calls from pending into batch (which holds the leader),
	// oldest first, and returns both slices; calls it leaves in pending go
	// in a later batch, in their order. Nil takes everything.
	Take func(batch, pending []*Call[T]) (taken, left []*Call[T])

	// Run performs a batch and records every call's outcome in its Op.
	// It must honour the calls' contexts (see Join). A call whose Do has
	// returned an error is no longer read by its caller, so Run may write
	// its Op at any time.
	Run func(batch []*Call[T])

	mu      sync.Mutex
	busy    int
	pending []*Call[T]

	batches, batchedCalls atomic.Uint64
}

// Do runs c, possibly with others, and returns nil when Run has recorded
// its outcome. It returns an error, and the caller must not read c.Op,
// when c's context ends first (c.Ctx.Err(): if c was already sent, its
// outcome is unknown, as for any call cancelled in flight) or when Run
// panicked in a batch of several (the panic of a batch of one goes on up
// its caller's stack).
func (b *Batcher[T]) Do(c *Call[T]) error {
	b.mu.Lock()
	if b.busy < max(b.Limit, 1) {
		b.busy++
		b.mu.Unlock()
		return b.lead(c)
	}
	c.turn = make(chan turn, 1)
	b.pending = append(b.pending, c)
	b.mu.Unlock()

	select {
	case t := <-c.turn:
		if t == turnLead {
			return b.lead(c)
		}
		return c.err
	case <-c.Ctx.Done():
	}
	b.mu.Lock()
	st := c.state
	if st == stWaiting {
		for i, p := range b.pending {
			if p == c {
				copy(b.pending[i:], b.pending[i+1:])
				b.pending[len(b.pending)-1] = nil
				b.pending = b.pending[:len(b.pending)-1]
				break
			}
		}
	}
	b.mu.Unlock()
	if st == stLeading {
		// Handed the lead just now (the message is on its way): pass it
		// on, and leave.
		<-c.turn
		b.handOff()
	}
	// Out of the queue, or in a batch whose outcome for c is now unknown.
	return c.Ctx.Err()
}

// lead runs a batch led by first and hands the slot on when it is done.
func (b *Batcher[T]) lead(first *Call[T]) error {
	batch := []*Call[T]{first}
	b.mu.Lock()
	if len(b.pending) > 0 {
		if b.Take == nil {
			batch = append(batch, b.pending...)
			clear(b.pending)
			b.pending = b.pending[:0]
		} else {
			batch, b.pending = b.Take(batch, b.pending)
		}
		for _, c := range batch[1:] {
			c.state = stTaken
		}
	}
	b.mu.Unlock()

	// Calls whose context has ended are not sent.
	live := batch[:0]
	for _, c := range batch {
		if c != first && c.Ctx.Err() != nil {
			c.err = c.Ctx.Err()
			c.turn <- turnDone
			continue
		}
		live = append(live, c)
	}
	clear(batch[len(live):])
	batch = live

	if len(batch) == 1 {
		defer b.handOff() // also if Run panics
		b.Run(batch)
		return nil
	}
	b.batches.Add(1)
	b.batchedCalls.Add(uint64(len(batch)))
	if first.turn == nil {
		first.turn = make(chan turn, 1)
	}
	go b.runBatch(batch)
	select {
	case <-first.turn:
		return first.err
	case <-first.Ctx.Done():
		return first.Ctx.Err()
	}
}

// runBatch runs a batch of several in its own goroutine, wakes its calls
// and hands the slot on. A panic in Run fails every call of the batch
// instead of the process.
func (b *Batcher[T]) runBatch(batch []*Call[T]) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("batch: Run panicked: %v", r)
			for _, c := range batch {
				c.err = err
			}
		}
		for _, c := range batch {
			c.turn <- turnDone
		}
		b.handOff()
	}()
	b.Run(batch)
}

// handOff gives up a slot: to the oldest waiting call, which leads the next
// batch, or back to the Batcher if none waits.
func (b *Batcher[T]) handOff() {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.busy--
		b.mu.Unlock()
		return
	}
	next := b.pending[0]
	next.state = stLeading
	b.pending[0] = nil
	b.pending = b.pending[1:]
	b.mu.Unlock()
	next.turn <- turnLead
}

// Fill adds the Batcher's figures to st: Batches and BatchedCalls (the
// batches of more than one call run so far, and their calls), and Queued
// (the calls waiting now for a slot).
func (b *Batcher[T]) Fill(st *store.Stats) {
	b.mu.Lock()
	st.Queued += len(b.pending)
	b.mu.Unlock()
	st.Batches += b.batches.Load()
	st.BatchedCalls += b.batchedCalls.Load()
}

// Join returns a context for a batch on behalf of calls: it carries the
// first call's values, has the latest of their deadlines if every call has
// one, and ends when every call's context has ended (not when the first
// one's does, which would fail the others). The caller must call stop when
// the batch is done.
func Join[T any](calls []*Call[T]) (ctx context.Context, stop func()) {
	if len(calls) == 1 {
		return calls[0].Ctx, func() {}
	}
	var (
		latest time.Time
		all    = true
	)
	for _, c := range calls {
		d, ok := c.Ctx.Deadline()
		if !ok {
			all = false
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	var cancel context.CancelFunc
	if all {
		ctx, cancel = context.WithDeadline(context.WithoutCancel(calls[0].Ctx), latest)
	} else {
		ctx, cancel = context.WithCancel(context.WithoutCancel(calls[0].Ctx))
	}
	var mu sync.Mutex
	waiting := len(calls)
	stops := make([]func() bool, len(calls))
	for i, c := range calls {
		stops[i] = context.AfterFunc(c.Ctx, func() {
			mu.Lock()
			defer mu.Unlock()
			if waiting--; waiting == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, s := range stops {
			s()
		}
		cancel()
	}
}

// Limits is the usual Take: it moves waiting calls into the batch oldest
// first, up to Calls calls and, past the leader, Bytes bytes (by Size). A
// call of Alone bytes or more always runs alone (a leader that big takes
// nobody), and Skip, if set, leaves a call for a later batch, in order
// (for example when its key is already in the batch).
type Limits[T any] struct {
	Calls, Bytes, Alone int
	Size                func(*T) int
	Skip                func(taken []*Call[T], c *Call[T]) bool
}

// Take implements Batcher.Take.
func (l Limits[T]) Take(taken, pending []*Call[T]) (_, left []*Call[T]) {
	if l.Size(&taken[0].Op) >= l.Alone {
		return taken, pending
	}
	size := 0
	left = pending[:0]
	for i, c := range pending {
		if len(taken) >= l.Calls {
			left = append(left, pending[i:]...)
			break
		}
		n := l.Size(&c.Op)
		if n >= l.Alone || size+n > l.Bytes || (l.Skip != nil && l.Skip(taken, c)) {
			left = append(left, c)
			continue
		}
		size += n
		taken = append(taken, c)
	}
	clear(pending[len(left):])
	return taken, left
}
