package main

import (
	"runtime"
	"runtime/debug"
	rtm "runtime/metrics"
	"testing"
	"time"
)

func TestFloorPercent(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live, roots, floor uint64
		want               int
	}{
		{0, 0, 8 * mb, 200},                 // nothing measured yet: the minimum alone
		{1 * mb, 1*mb + mb/2, 8 * mb, 200},  // small: 200 (target max(1+3, 8) = 8)
		{3 * mb, 3*mb + mb/2, 8 * mb, 143},  // 3 + 3.5·1.43 = 8.0
		{4 * mb, 4 * mb, 8 * mb, 100},       // Go's default target is 8 already
		{100 * mb, 101 * mb, 8 * mb, 100},   // large: Go's default
		{1 * mb, 1 * mb, 4 * mb, 100},       // a floor at Go's own minimum: nothing to do
		{1 * mb, 2 * mb, 16 * mb, 400},      // 16 MiB: the minimum caps it at 400
		{10 * mb, 10*mb + mb, 32 * mb, 200}, // 10 + 11·2 = 32
		{0, 1, 8 * mb, 200},                 // a tiny root set does not overflow
		{7 * mb, 7*mb + mb/2, 8 * mb, 100},  // 7 + 7.5 > 8
		{2 * mb, 2*mb + mb/2, 8 * mb, 200},  // 2 + 2.5·2 = 7 < 8: the minimum's 200
		{2*mb + mb/2, 3 * mb, 8 * mb, 184},  // 2.5 + 3·1.84 = 8.02
	} {
		if got := floorPercent(c.live, c.roots, c.floor); got != c.want {
			t.Errorf("floorPercent(%d, %d, %d) = %d, want %d", c.live, c.roots, c.floor, got, c.want)
		}
		// Whatever it answers, the runtime's target at that percentage
		// reaches the floor, and one point less would not (unless 100).
		target := func(p int) float64 {
			return max(float64(c.live)+float64(c.roots)*float64(p)/100, defaultHeapMinimum*float64(p)/100)
		}
		p := floorPercent(c.live, c.roots, c.floor)
		if target(p) < float64(c.floor) {
			t.Errorf("live %d, roots %d: at %d%% the target is %.0f, under the floor %d", c.live, c.roots, p, target(p), c.floor)
		}
		if p > 100 && target(p-1) >= float64(c.floor) {
			t.Errorf("live %d, roots %d: %d%% is not the least (%d%% reaches %.0f)", c.live, c.roots, p, p-1, target(p-1))
		}
	}
}

// readGC reads the collector's percentage and heap target.
func readGC() (percent, goal uint64) {
	s := []rtm.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/goal:bytes"}}
	rtm.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// TestKeepHeapFloor runs the keeper in this test process: after
// collections the target is at least the floor while the heap is small,
// the percentage comes back to 100 when the heap outgrows the floor, and
// stopping it leaves Go's default.
func TestKeepHeapFloor(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	// A floor well above this test binary's live heap, whatever the
	// other tests leave: 64 MiB needs 1,600 % at most.
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	floor := max(uint64(64<<20), 4*ms.HeapAlloc)
	stop := keepHeapFloor(floor)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	// waitFor collects until cond holds of the percentage and target:
	// the keeper adjusts in a cleanup, after the collection.
	waitFor := func(what string, cond func(percent, goal uint64) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
			if p, g := readGC(); cond(p, g) {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("%s: after 10 s of collections, GOGC is %d%% and the heap target %d bytes (floor %d)", what, p, g, floor)
			}
		}
	}
	waitFor("small heap", func(p, g uint64) bool { return p > 100 && g >= floor })

	// A live heap of twice the floor: Go's own target is above it.
	big := make([]byte, 2*floor)
	for i := range big {
		big[i] = 1 // resident, as a real heap is
	}
	waitFor("large heap", func(p, g uint64) bool { return p == 100 })
	runtime.KeepAlive(big)
	big = nil

	waitFor("small again", func(p, g uint64) bool { return p > 100 && g >= floor })
	stop()
	stopped = true
	if p, _ := readGC(); p != 100 {
		t.Fatalf("after stop, GOGC is %d%%, want 100", p)
	}
	// Stopped, it no longer adjusts.
	for range 3 {
		runtime.GC()
	}
	time.Sleep(50 * time.Millisecond)
	if p, _ := readGC(); p != 100 {
		t.Fatalf("collections after stop set GOGC to %d%%, want it left at 100", p)
	}
}
