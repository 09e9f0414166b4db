package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Replace calls that arrive while others are in flight are sent together,
// as one statement: one round trip and one commit (one WAL flush) for the
// lot. This is group commit done by the client. A Replace that finds no
// batch in flight runs at once, alone, so a quiet store pays nothing for
// it; only callers that would otherwise queue for a connection wait for
// the batch ahead of them to finish. Each caller still gets its own
// outcome, after its change is committed: batching changes neither the
// contract nor durability.
//
// Batches lock their rows in key order (replaceBatch's FOR UPDATE under
// ORDER BY) before updating any, so two batches, from this process or
// another, never deadlock on each other; single-row statements hold one
// lock at a time and cannot close a cycle either. A batch the server
// rejects (nothing of it was written) is run again one call at a time, so
// one bad call cannot fail its neighbours.

// Batch limits: a batch carries at most maxBatch calls and, past its first
// call, at most maxBatchBytes of values; a value of batchAloneSize or more
// always runs alone.
const (
	maxBatch       = 64
	maxBatchBytes  = 1 << 20
	batchAloneSize = 64 << 10
)

// replaceOp is one Replace call on its way through the batcher.
type replaceOp struct {
	ctx        context.Context
	key, value []byte
	newVersion int64
	ttl        pgtype.Interval
	old        int64

	// Set before the op's turn is signalled.
	outcome int32
	err     error

	// turn receives exactly one message: done (outcome and err are set)
	// or lead (run the pending calls, this one first).
	turn chan turn
}

type turn uint8

const (
	turnDone turn = iota
	turnLead
)

// batcher queues Replace calls. At most limit batches are in flight; a
// call that finds them all busy waits in pending, and the leader of a
// finishing batch hands the lead to the oldest waiting call, which takes
// everything then pending with it.
type batcher struct {
	limit int

	mu      sync.Mutex
	busy    int
	pending []*replaceOp
}

// batchReplace runs op and returns when its outcome is known (or its context ended
// before it was sent).
func (s *Store) batchReplace(op *replaceOp) (int32, error) {
	b := &s.batch
	b.mu.Lock()
	if b.busy < b.limit {
		b.busy++
		b.mu.Unlock()
		s.lead(op)
		return op.outcome, op.err
	}
	op.turn = make(chan turn, 1)
	b.pending = append(b.pending, op)
	b.mu.Unlock()

	var t turn
	select {
	case t = <-op.turn:
	case <-op.ctx.Done():
		b.mu.Lock()
		for i, p := range b.pending {
			if p == op {
				b.pending = append(b.pending[:i], b.pending[i+1:]...)
				b.mu.Unlock()
				return 0, op.ctx.Err()
			}
		}
		b.mu.Unlock()
		// Already taken into a batch, or handed the lead: see it through,
		// so that the outcome reported is the one committed.
		t = <-op.turn
	}
	if t == turnLead {
		s.lead(op)
	}
	return op.outcome, op.err
}

// lead runs a batch of first and whatever is pending, signals every call
// in it but first, and passes the lead on (or gives up its slot).
func (s *Store) lead(first *replaceOp) {
	b := &s.batch
	batch := []*replaceOp{first}
	if len(first.value) < batchAloneSize {
		b.mu.Lock()
		batch, b.pending = takeBatch(batch, b.pending)
		b.mu.Unlock()
	}

	s.runBatch(batch)
	for _, op := range batch {
		if op != first {
			op.turn <- turnDone
		}
	}

	b.handOff()
}

// handOff gives up a batch slot: to the oldest waiting call, which leads
// the next batch, or back to the batcher if none waits.
func (b *batcher) handOff() {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.busy--
		b.mu.Unlock()
		return
	}
	next := b.pending[0]
	b.pending = b.pending[1:]
	b.mu.Unlock()
	next.turn <- turnLead
}

// takeBatch moves calls from pending into batch, oldest first, up to the
// limits. It leaves behind a call whose key is already in the batch (it
// goes in a later one, in order), one whose value must run alone, and
// whatever does not fit.
func takeBatch(batch, pending []*replaceOp) (taken, left []*replaceOp) {
	size := 0
	left = pending[:0]
	for i, op := range pending {
		if len(batch) == maxBatch {
			left = append(left, pending[i:]...)
			break
		}
		if len(op.value) >= batchAloneSize || size+len(op.value) > maxBatchBytes || hasKey(batch, op.key) {
			left = append(left, op)
			continue
		}
		size += len(op.value)
		batch = append(batch, op)
	}
	clear(pending[len(left):])
	return batch, left
}

func hasKey(batch []*replaceOp, key []byte) bool {
	for _, op := range batch {
		if bytes.Equal(op.key, key) {
			return true
		}
	}
	return false
}

// runBatch sets the outcome or error of every call in batch.
func (s *Store) runBatch(batch []*replaceOp) {
	if len(batch) == 1 {
		s.replaceOne(batch[0])
		return
	}
	s.batchesRun.Add(1)

	// The batch runs for as long as any of its callers waits: it ends
	// early only when every caller's context has ended.
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	defer cancel()
	waiting := len(batch)
	var mu sync.Mutex
	for _, op := range batch {
		stop := context.AfterFunc(op.ctx, func() {
			mu.Lock()
			defer mu.Unlock()
			if waiting--; waiting == 0 {
				cancel()
			}
		})
		defer stop()
	}

	// Sorted by key: the statement's own lock order, made visible here so
	// that the arrays and the outcomes line up the same way.
	sort.Slice(batch, func(i, j int) bool { return bytes.Compare(batch[i].key, batch[j].key) < 0 })
	n := len(batch)
	keys, values := make([][]byte, n), make([][]byte, n)
	versions, olds := make([]int64, n), make([]int64, n)
	ttls := make([]pgtype.Interval, n)
	for i, op := range batch {
		keys[i], values[i], versions[i], ttls[i], olds[i] = op.key, op.value, op.newVersion, op.ttl, op.old
	}
	rows, err := s.pool.Query(ctx, s.sql.replaceBatch, keys, values, versions, ttls, olds)
	if err == nil {
		i := 0
		for rows.Next() && i < n {
			err = rows.Scan(&batch[i].outcome)
			if err != nil {
				break
			}
			i++
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err == nil && i != n {
			err = fmt.Errorf("postgres: replace batch: %d outcomes for %d calls", i, n)
		}
	}
	if err == nil {
		return
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The server refused the statement and wrote none of it: run the
		// calls one by one, each with its own context.
		s.batchFallbacks.Add(1)
		for _, op := range batch {
			s.replaceOne(op)
		}
		return
	}
	err = s.fail("replace", err)
	for _, op := range batch {
		op.err = err
	}
}

// replaceOne runs one call as its own statement.
func (s *Store) replaceOne(op *replaceOp) {
	if err := op.ctx.Err(); err != nil {
		op.err = err
		return
	}
	err := s.pool.QueryRow(op.ctx, s.sql.replace, op.key, op.value, op.newVersion, op.ttl, op.old).Scan(&op.outcome)
	if err != nil {
		op.err = s.fail("replace", err)
	}
}

// batchLimit is how many Replace batches may be in flight at once: half
// the pool's connections (at least one), so that Gets and Touches always
// find connections too, and so that under load calls gather into batches
// instead of each taking a connection of its own.
func batchLimit(pool interface{ Config() *pgxpool.Config }) int {
	n := int(pool.Config().MaxConns) / 2
	if n < 1 {
		n = 1
	}
	return n
}
