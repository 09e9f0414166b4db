package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Sampling of the access log's common lines, as zap's production logger
// samples its entries: in each second, the first `initial` lines of
// requests that succeeded are written, then one in `thereafter`.
//
// Why: a line costs the server under a microsecond of CPU and about 100
// bytes of log. Below `initial` successful requests a second (1,000 by
// default) that is at most 0.1 % of a core, and every line is written.
// Far above it, under a load test or a flood of successful requests, the
// lines would cost up to 5 % of the throughput and fill a disk at
// megabytes a second; sampled, they cost next to nothing and their volume
// is bounded. The metrics still count and time every request.
//
// Never left out: a line with status 400 or above, or with an error
// (aborted=true); those are written however many there are. Probe lines
// that -log-health asks for are sampled like any other successful
// request's. For each second in which lines were left out, one line says
// how many: msg="access log sampled", with requests (the successful
// requests' lines of that second, written or not) and dropped (those not
// written). Every line of the sampled kind is either written or counted
// as dropped, exactly once.
type sampler struct {
	initial, thereafter int64
	log                 *slog.Logger
	win                 atomic.Pointer[sampleWindow]
	closed              atomic.Bool // set by Close: every line is written, none counted

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// sampleWindow counts the sampled kind of lines of one second. Its n has
// closedBit set once the second is over: a line that finds it counts in
// the next window. The window Close leaves in place is closed from the
// start: a line that finds it is written.
type sampleWindow struct {
	start time.Time
	n     atomic.Int64
}

const closedBit = 1 << 62

// sampleEvery is the window of a sampler: a second, as zap's.
const sampleEvery = time.Second

// newSampler returns a sampler that writes the first initial lines of
// every second, then one in thereafter, and says on log how many it left
// out; nil (no sampling) when initial is 0. thereafter must be at least
// 1. Close it to write the last second's count.
func newSampler(initial, thereafter int, log *slog.Logger) *sampler {
	return newSamplerEvery(initial, thereafter, log, sampleEvery)
}

// newSamplerEvery is newSampler with windows of d (a test's are long,
// and it turns them itself).
func newSamplerEvery(initial, thereafter int, log *slog.Logger, d time.Duration) *sampler {
	if initial <= 0 {
		return nil
	}
	s := &sampler{initial: int64(initial), thereafter: int64(max(thereafter, 1)), log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
	s.win.Store(&sampleWindow{start: time.Now()})
	go s.run(d)
	return s
}

func (s *sampler) run(d time.Duration) {
	defer close(s.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.turn(false)
		case <-s.stop:
			s.turn(true)
			return
		}
	}
}

// keep reports whether a line of the sampled kind is written.
func (s *sampler) keep() bool {
	for {
		n := s.win.Load().n.Add(1)
		if n&closedBit != 0 {
			if s.closed.Load() {
				return true // after Close
			}
			continue // the window closed since it was loaded: the next one is in place
		}
		return n <= s.initial || (n-s.initial)%s.thereafter == 0
	}
}

// turn starts a new window (the last: a closed one), and logs how many
// lines the one before left out, if any.
func (s *sampler) turn(last bool) {
	now := time.Now()
	next := &sampleWindow{start: now}
	if last {
		s.closed.Store(true) // before the closed window is in place
		next.n.Store(closedBit)
	}
	w := s.win.Swap(next)
	n := w.n.Add(closedBit) &^ closedBit // every later Add sees the bit
	if n <= s.initial {
		return
	}
	over := n - s.initial
	dropped := over - over/s.thereafter
	if dropped == 0 {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "access log sampled",
		slog.Int64("requests", n), slog.Int64("dropped", dropped),
		slog.Int64("initial", s.initial), slog.Int64("thereafter", s.thereafter),
		slog.Duration("window", now.Sub(w.start).Round(time.Millisecond)))
}

// Close stops the sampler and logs the last window's count. A nil
// sampler's Close does nothing.
func (s *sampler) Close() {
	if s == nil {
		return
	}
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
}
