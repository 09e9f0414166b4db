package prom

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stateless-go/stateless/store"
)

var storeOps = [...]store.Op{store.OpGet, store.OpCreate, store.OpReplace, store.OpTouch,
	store.OpDelete, store.OpCompareAndDelete, store.OpCreateOrGet, store.OpPing}

var storeResults = [...]string{"ok", "not_found", "exists", "conflict", "error"}

// StoreResult names a store answer for metrics: "ok", "not_found",
// "exists", "conflict" (the contract's answers) or "error" (a failure).
func StoreResult(err error) string { return storeResults[storeResult(err)] }

func storeResult(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, store.ErrNotFound):
		return 1
	case errors.Is(err, store.ErrExists):
		return 2
	case errors.Is(err, store.ErrConflict):
		return 3
	}
	return 4
}

type opSeries struct {
	results [len(storeResults)]prometheus.Counter
	dur     prometheus.Observer
}

// StoreHook returns a store.Hook, for store.WithHook, counting and timing
// each operation under the label backend ("memory", "redis", "memcache",
// "postgres": a fixed name, never a URL). It adds one allocation per
// operation (the done func that holds the start time).
func (m *Metrics) StoreHook(backend string) store.Hook {
	var series [len(storeOps)]*opSeries
	for i, op := range storeOps {
		s := &opSeries{dur: m.storeDuration.WithLabelValues(backend, string(op))}
		for j, r := range storeResults {
			s.results[j] = m.storeOps.WithLabelValues(backend, string(op), r)
		}
		series[i] = s
	}
	return func(ctx context.Context, op store.Op) (context.Context, func(error)) {
		i := opIndex(op)
		if i < 0 {
			return ctx, nil // an operation added after this package
		}
		s := series[i]
		start := time.Now()
		return ctx, func(err error) {
			s.dur.Observe(since(start))
			s.results[storeResult(err)].Inc()
		}
	}
}

// WatchStore reports st's Stats (if it is a store.StatsReporter; else it
// does nothing) under the label backend at every scrape. Watching the same
// backend name twice replaces the first.
func (m *Metrics) WatchStore(backend string, st store.Store) {
	if sr, ok := st.(store.StatsReporter); ok {
		m.stats.watch(backend, sr)
	}
}

// opIndex is op's place in storeOps, or -1: a switch, cheaper than
// hashing the name on every operation.
func opIndex(op store.Op) int {
	switch op {
	case store.OpGet:
		return 0
	case store.OpCreate:
		return 1
	case store.OpReplace:
		return 2
	case store.OpTouch:
		return 3
	case store.OpDelete:
		return 4
	case store.OpCompareAndDelete:
		return 5
	case store.OpCreateOrGet:
		return 6
	case store.OpPing:
		return 7
	}
	return -1
}
