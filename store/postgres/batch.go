package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stateless-go/stateless/internal/batch"
)

// Replace calls that arrive while others are in flight are sent together,
// as one statement: group commit done by the client. The package
// documentation (doc.go, "Batching") says what callers see, and holds the
// limits below; this file is how.
//
// Batches lock their rows in key order (replaceBatch's FOR UPDATE under
// ORDER BY) before updating any, so two batches, from this process or
// another, never deadlock on each other; single-row statements hold one
// lock at a time and cannot close a cycle either. A batch the server
// rejects (nothing of it was written) is run again one call at a time, so
// one bad call cannot fail its neighbours.

// Batch limits, explained in doc.go (which states their values: a test
// holds the two to each other).
const (
	maxBatch       = 64
	maxBatchBytes  = 1 << 20
	batchAloneSize = 64 << 10
)

// replaceOp is one Replace call: its arguments, then its outcome.
type replaceOp struct {
	key, value []byte
	newVersion int64
	ttl        pgtype.Interval
	old        int64

	outcome int32
	err     error
}

type replaceCall = batch.Call[replaceOp]

func (s *Store) initBatcher(pool *pgxpool.Pool) {
	s.batch = batch.Batcher[replaceOp]{
		Limit: batchLimit(pool),
		Take: batch.Limits[replaceOp]{
			Calls: maxBatch, Bytes: maxBatchBytes, Alone: batchAloneSize,
			Size: func(op *replaceOp) int { return len(op.value) },
			Skip: sameKey,
		}.Take,
		Run: s.runBatch,
	}
}

// sameKey reports whether c's key is already in calls: a key goes in a
// batch at most once (a later call on it waits for the next batch).
func sameKey(calls []*replaceCall, c *replaceCall) bool {
	for _, t := range calls {
		if bytes.Equal(t.Op.key, c.Op.key) {
			return true
		}
	}
	return false
}

// runBatch sets the outcome or error of every call in calls.
func (s *Store) runBatch(calls []*replaceCall) {
	if len(calls) == 1 {
		s.replaceOne(calls[0])
		return
	}
	ctx, stop := batch.Join(calls)
	defer stop()

	// Sorted by key: the statement's own lock order, made visible here so
	// that the arrays and the outcomes line up the same way.
	sort.Slice(calls, func(i, j int) bool { return bytes.Compare(calls[i].Op.key, calls[j].Op.key) < 0 })
	n := len(calls)
	keys, values := make([][]byte, n), make([][]byte, n)
	versions, olds := make([]int64, n), make([]int64, n)
	ttls := make([]pgtype.Interval, n)
	for i, c := range calls {
		op := &c.Op
		keys[i], values[i], versions[i], ttls[i], olds[i] = op.key, op.value, op.newVersion, op.ttl, op.old
	}
	rows, err := s.pool.Query(ctx, s.sql.replaceBatch, keys, values, versions, ttls, olds)
	if err == nil {
		i := 0
		for rows.Next() && i < n {
			if err = rows.Scan(&calls[i].Op.outcome); err != nil {
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
	if refusedStatement(err) {
		// The server refused the statement and wrote none of it: run the
		// calls one by one, each with its own context.
		s.batchFallbacks.Add(1)
		for _, c := range calls {
			s.replaceOne(c)
		}
		return
	}
	err = s.fail("replace", err)
	for _, c := range calls {
		c.Op.err = err
	}
}

// refusedStatement reports whether err is the server refusing a statement,
// which then wrote nothing: an ERROR (not a FATAL that ends the session,
// whose statement may have committed), and not a connection failure (class
// 08) or an internal error (XX), after which that is not sure.
func refusedStatement(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Severity != "ERROR" {
		return false
	}
	class := pgErr.Code[:min(2, len(pgErr.Code))]
	return class != "08" && class != "XX"
}

// replaceOne runs one call as its own statement.
func (s *Store) replaceOne(c *replaceCall) {
	if err := c.Ctx.Err(); err != nil {
		c.Op.err = err
		return
	}
	op := &c.Op
	err := s.pool.QueryRow(c.Ctx, s.sql.replace, op.key, op.value, op.newVersion, op.ttl, op.old).Scan(&op.outcome)
	if err != nil {
		op.err = s.fail("replace", err)
	}
}

// batchLimit is how many Replace batches may be in flight at once: the
// batch slots of doc.go's Batching section. Fewer slots than connections
// leave connections to the other operations, and make calls under load
// gather into batches instead of each taking a connection of its own.
func batchLimit(pool *pgxpool.Pool) int {
	return max(1, int(pool.Config().MaxConns)/2)
}
