package main

import (
	"math"
	"runtime"
	"runtime/debug"
	rtm "runtime/metrics"
	"sync"
)

// The heap floor: a larger minimum heap target for the garbage collector,
// kept while the heap is small.
//
// Go starts a collection when the heap reaches its target: by default twice
// what the last collection found live, but never less than 4 MiB. This
// server keeps little live (about 1.3 MB under load: buffers, metrics,
// caches) and allocates about 2.3 KB a request, nearly all of it net/http's
// own, so at the 4 MiB minimum it collects every 1,100 requests or so,
// and each collection scans a program larger than a bare net/http server
// (Prometheus, OpenTelemetry, three store clients). Under wrk on two
// shared cores the collector took 1.5 µs of CPU a request, of about 30 µs
// in all; with the floor, one collection in 2,800 requests and 0.7 µs.
//
// So when GOGC is not set, main raises the minimum to heapFloor (8 MiB):
// after each collection, keepHeapFloor sets the collector's percentage to
// the smallest at which the next target is at least heapFloor, and back to
// 100, Go's default, once the heap is large enough to reach it by itself
// (at about 4 MB live). The cost is bounded: a small heap may grow to
// 8 MiB instead of 4 MiB, a heap with 4 MB or more live is collected
// exactly as Go's defaults would, and the percentage never goes above 200
// (from about 2.5 MB live it comes down). A memory store holding many
// sessions is not made to grow by half, as GOGC=200 would. GOMEMLIMIT,
// when set, still holds: the limit makes collections come earlier
// whatever the percentage. Setting GOGC (to 100 for Go's defaults) turns
// the floor off.

// heapFloor is the example server's minimum heap target.
const heapFloor = 8 << 20

// defaultHeapMinimum is the Go runtime's minimum heap target at GOGC=100
// (runtime.defaultHeapMinimum, 4 MiB unless the runtime is built with
// GOEXPERIMENT=heapminimum512kib); at GOGC=p it is p/100 times this.
const defaultHeapMinimum = 4 << 20

// floorPercent is the smallest GOGC percentage, from 100 up, at which the
// runtime's next heap target reaches floor, given the heap the last
// collection found live and the roots it scanned (live heap plus stacks
// plus globals). The runtime's target at percentage p is the larger of
// live + roots·p/100 and defaultHeapMinimum·p/100 (runtime.gcControllerState
// .heapGoal and heapMinimum); the second alone reaches floor at
// p = 100·floor/defaultHeapMinimum, which caps the answer.
func floorPercent(live, roots, floor uint64) int {
	if max(live+roots, defaultHeapMinimum) >= floor {
		return 100 // Go's default target reaches the floor by itself
	}
	p := math.Ceil(100 * float64(floor) / defaultHeapMinimum)
	if roots > 0 { // and live < floor, as live+roots < floor
		p = min(p, math.Ceil(100*float64(floor-live)/float64(roots)))
	}
	return max(int(p), 100)
}

// floorKeeper sets the collector's percentage after each collection, from
// the figures that collection left (see keepHeapFloor).
type floorKeeper struct {
	floor uint64

	mu      sync.Mutex
	stopped bool
	samples [4]rtm.Sample
}

// keepHeapFloor keeps the collector's heap target at floor or more while
// the heap is small, by setting the GOGC percentage after every collection
// (see floorPercent), and returns a function that stops it and puts the
// percentage back to 100. A collection hands it its figures through a
// cleanup (runtime.AddCleanup) of an object dropped at once, re-made each
// time; it costs one runtime/metrics read a collection.
func keepHeapFloor(floor uint64) (stop func()) {
	k := &floorKeeper{floor: floor}
	k.samples[0].Name = "/gc/heap/live:bytes"
	k.samples[1].Name = "/gc/scan/stack:bytes"
	k.samples[2].Name = "/gc/scan/globals:bytes"
	k.samples[3].Name = "/gc/gogc:percent"
	k.adjust()
	k.arm()
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.stopped = true
		debug.SetGCPercent(100)
	}
}

// gcSentinel is too large for the runtime's tiny allocator (under 16
// bytes, no pointers), whose blocks hold several objects and free them
// together, which could put off its cleanup indefinitely.
type gcSentinel struct{ _ [24]byte }

// arm sets k to adjust after the next collection.
func (k *floorKeeper) arm() {
	runtime.AddCleanup(&gcSentinel{}, func(k *floorKeeper) {
		if k.adjust() {
			k.arm()
		}
	}, k)
}

// adjust sets the percentage the last collection's figures call for,
// unless k is stopped; it reports whether k still runs.
func (k *floorKeeper) adjust() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return false
	}
	rtm.Read(k.samples[:])
	live := k.samples[0].Value.Uint64()
	roots := live + k.samples[1].Value.Uint64() + k.samples[2].Value.Uint64()
	p := floorPercent(live, roots, k.floor)
	if p != int(k.samples[3].Value.Uint64()) {
		debug.SetGCPercent(p)
	}
	return true
}
