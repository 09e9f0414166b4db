// Package batch gathers calls that arrive while others are in flight into
// batches, for adapters whose server does many operations in one round trip
// (a pipeline, one statement) for little more than the cost of one.
//
// There is no timer and no background goroutine. A call that finds a free
// slot (at most Limit batches run at once) runs at once, leading a batch of
// itself and whatever already waits, so a quiet client pays nothing. A call
// that finds every slot busy waits; when a batch finishes, its leader hands
// the slot to the oldest waiting call, which leads the next batch, taking
// every call then waiting that Take admits. Under load, batches grow to
// what piled up during one round trip.
package batch

import (
	"context"
	"fmt"
	"sync"
)

// Call is one caller's operation; the adapter's Run fills in its outcome.
type Call[T any] struct {
	Ctx context.Context
	Op  T

	turn chan turn
	err  error // set if the batch's Run panicked
}

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
	// It must honour the calls' contexts (see Join).
	Run func(batch []*Call[T])

	mu      sync.Mutex
	busy    int
	pending []*Call[T]
}

// Do runs c, possibly with others, and returns when Run has recorded its
// outcome: nil (or an error if Run panicked in a batch led by another
// call; in the leader's own call the panic goes on). If c's context ends while it is still waiting for a slot,
// Do takes it out of the queue and returns the context's error; once it
// is part of a batch, Do waits for that batch, so the outcome recorded is
// the one the server saw.
func (b *Batcher[T]) Do(c *Call[T]) error {
	b.mu.Lock()
	if b.busy < max(b.Limit, 1) {
		b.busy++
		b.mu.Unlock()
		b.lead(c)
		return nil
	}
	c.turn = make(chan turn, 1)
	b.pending = append(b.pending, c)
	b.mu.Unlock()

	var t turn
	select {
	case t = <-c.turn:
	case <-c.Ctx.Done():
		b.mu.Lock()
		for i, p := range b.pending {
			if p == c {
				b.pending = append(b.pending[:i], b.pending[i+1:]...)
				b.mu.Unlock()
				return c.Ctx.Err()
			}
		}
		b.mu.Unlock()
		t = <-c.turn // taken into a batch, or handed the lead
	}
	if t == turnLead {
		b.lead(c)
	}
	return c.err
}

// lead runs a batch led by first, wakes the others in it, and hands the
// slot on. If Run panics, the others in the batch get an error saying so
// (their outcome is unknown), the slot is handed on all the same, and the
// panic goes on up the leader's stack.
func (b *Batcher[T]) lead(first *Call[T]) {
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
	}
	b.mu.Unlock()

	ran := false
	defer func() {
		if !ran {
			err := fmt.Errorf("batch: the batch this call was in panicked: %v", recover())
			for _, c := range batch {
				c.err = err
			}
			defer panic(err)
		}
		for _, c := range batch {
			if c != first {
				c.turn <- turnDone
			}
		}
		b.HandOff()
	}()
	b.Run(batch)
	ran = true
}

// HandOff gives up a slot: to the oldest waiting call, which leads the next
// batch, or back to the Batcher if none waits. Do calls it; it is exported
// for tests that hold slots (see Hold).
func (b *Batcher[T]) HandOff() {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.busy--
		b.mu.Unlock()
		return
	}
	next := b.pending[0]
	b.pending[0] = nil
	b.pending = b.pending[1:]
	b.mu.Unlock()
	next.turn <- turnLead
}

// Hold takes every free slot, so that calls queue, and returns how many it
// took; give each back with HandOff. For tests.
func (b *Batcher[T]) Hold() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := max(b.Limit, 1) - b.busy
	b.busy += n
	return n
}

// Pending returns how many calls wait for a slot. For tests.
func (b *Batcher[T]) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// Join returns a context for a batch on behalf of calls: it carries the
// first call's values and ends when every call's context has ended (not
// when the first one's does, which would fail the others). The caller must
// call stop when the batch is done.
func Join[T any](calls []*Call[T]) (ctx context.Context, stop func()) {
	if len(calls) == 1 {
		return calls[0].Ctx, func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(calls[0].Ctx))
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
