package postgres

import (
	"context"
	"time"
)

// Hooks for the external tests.

// Interval is interval, the ttl sent to the server.
var Interval = interval

// BatchLimit returns how many Replace batches s runs at once.
func BatchLimit(s *Store) int { return s.batch.Limit }

// BatchCall is one Replace for RunBatch.
type BatchCall struct {
	Key        string
	Value      []byte
	TTL        time.Duration
	Version    uint64 // the version held
	NewVersion uint64
}

// RunBatch sends calls as one batch statement, as the batcher would, and
// returns each call's outcome code (0 not found, 1 replaced, 2 conflict)
// or the batch's error. It bypasses the batcher: Stats counts neither the
// batch nor its calls, only a fallback.
func RunBatch(ctx context.Context, s *Store, calls []BatchCall) ([]int32, error) {
	cs := make([]*replaceCall, len(calls))
	for i, c := range calls {
		cs[i] = &replaceCall{Ctx: ctx, Op: replaceOp{key: []byte(c.Key), value: nonNil(c.Value),
			newVersion: int64(c.NewVersion), ttl: interval(c.TTL), old: int64(c.Version)}}
	}
	s.runBatch(append([]*replaceCall(nil), cs...)) // runBatch sorts its slice
	out := make([]int32, len(cs))
	for i, c := range cs {
		if c.Op.err != nil {
			return nil, c.Op.err
		}
		out[i] = c.Op.outcome
	}
	return out, nil
}

// BreakBatchStatement makes every batch statement of s fail on the server,
// as a statement the server refuses would.
func BreakBatchStatement(s *Store) {
	s.sql.replaceBatch = `SELECT 1/0 FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::interval[], $5::bigint[])`
}
