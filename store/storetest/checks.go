package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stateless-go/stateless/store"
)

type check struct {
	name string
	fn   func(e *env)
	// needs is the optional capability the check is about (capNone: none).
	needs capability
}

// checks is the whole suite, one entry per guarantee of store.Store.
var checks = []check{
	{name: "Get/Missing", fn: getMissing},
	{name: "Create/RoundTrip", fn: createRoundTrip},
	{name: "Create/LiveKey", fn: createLiveKey},
	{name: "Create/Concurrent", fn: createConcurrent},
	{name: "Replace/CurrentVersion", fn: replaceCurrent},
	{name: "Replace/StaleVersion", fn: replaceStale},
	{name: "Replace/ZeroVersion", fn: replaceZero},
	{name: "Replace/Missing", fn: replaceMissing},
	{name: "Replace/VersionsNeverRepeat", fn: replaceChain},
	{name: "Touch/KeepsValueAndVersion", fn: touchKeeps},
	{name: "Touch/Missing", fn: touchMissing},
	{name: "Delete/Existing", fn: deleteExisting},
	{name: "Delete/Missing", fn: deleteMissing},
	{name: "Delete/RecreateGetsNewVersion", fn: deleteRecreate},
	{name: "Concurrency/CompareAndSwapCounter", fn: casCounter},
	{name: "Concurrency/SameAnswersUnderLoad", fn: answersUnderLoad},
	{name: "Value/AllByteValues", fn: valueAllBytes},
	{name: "Value/Empty", fn: valueEmpty},
	{name: "Value/Large", fn: valueLarge},
	{name: "Value/NotAliased", fn: valueNotAliased},
	{name: "Key/Lengths", fn: keyLengths},
	{name: "Key/OddBytes", fn: keyOddBytes},
	{name: "Key/Invalid", fn: keyInvalid},
	{name: "Expiry/GetAfterExpiry", fn: expiryGet},
	{name: "Expiry/CreateOverExpired", fn: expiryCreate},
	{name: "Expiry/ReplaceAfterExpiry", fn: expiryReplace},
	{name: "Expiry/TouchAfterExpiry", fn: expiryTouch},
	{name: "Expiry/TouchExtends", fn: expiryTouchExtends},
	{name: "Expiry/TouchShortens", fn: expiryTouchShortens},
	{name: "Expiry/ReplaceExtends", fn: expiryReplaceExtends},
	{name: "Expiry/ReplaceShortens", fn: expiryReplaceShortens},
	{name: "Expiry/NotEarly", fn: expiryNotEarly},
	{name: "Expiry/TinyTTL", fn: expiryTiny},
	{name: "Expiry/HugeTTL", fn: expiryHuge},
	{name: "Expiry/InvalidTTL", fn: expiryInvalid},
	{name: "Context/Canceled", fn: contextCanceled},
	{name: "Context/DeadlineExceeded", fn: contextDeadline},
	{name: "Close/UseAfterClose", fn: useAfterClose},
	{name: "Ping/Live", fn: pingLive},
}

func getMissing(e *env) {
	rec, err := e.s.Get(e.ctx, e.key("missing"))
	if !errors.Is(err, store.ErrNotFound) {
		e.Fatalf("Get of a key never written = (value %s, version %d, err %v), want store.ErrNotFound", show(rec.Value), rec.Version, err)
	}
}

func createRoundTrip(e *env) {
	k := e.key("roundtrip")
	v := e.mustCreate(k, []byte("hello"), long)
	e.expect("after Create", k, []byte("hello"), v)
}

func createLiveKey(e *env) {
	k := e.key("live")
	v := e.mustCreate(k, []byte("first"), long)
	v2, err := e.s.Create(e.ctx, k, []byte("second"), long)
	if !errors.Is(err, store.ErrExists) {
		e.Fatalf("Create on a live key = (version %d, err %v), want store.ErrExists", v2, err)
	}
	e.expect("after the refused Create", k, []byte("first"), v)
}

func createConcurrent(e *env) {
	k := e.key("race")
	const n = 32
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []int
		winVer  uint64
		others  []error
	)
	for i := range n {
		wg.Go(func() {
			v, err := e.s.Create(e.ctx, k, fmt.Appendf(nil, "writer %d", i), long)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, i)
				winVer = v
			case !errors.Is(err, store.ErrExists):
				others = append(others, err)
			}
		})
	}
	wg.Wait()
	if len(others) > 0 {
		e.Fatalf("concurrent Creates of one key: %d failed with something other than store.ErrExists, first: %v", len(others), others[0])
	}
	if len(winners) != 1 {
		e.Fatalf("%d of %d concurrent Creates of one key succeeded (writers %v), want exactly 1", len(winners), n, winners)
	}
	e.expect("after concurrent Creates", k, fmt.Appendf(nil, "writer %d", winners[0]), winVer)
}

func replaceCurrent(e *env) {
	k := e.key("replace")
	v1 := e.mustCreate(k, []byte("one"), long)
	v2 := e.mustReplace(k, []byte("two"), long, v1)
	e.expect("after Replace", k, []byte("two"), v2)
}

func replaceStale(e *env) {
	k := e.key("stale")
	v1 := e.mustCreate(k, []byte("one"), long)
	v2 := e.mustReplace(k, []byte("two"), long, v1)
	v3, err := e.s.Replace(e.ctx, k, []byte("three"), long, v1)
	if !errors.Is(err, store.ErrConflict) {
		e.Fatalf("Replace with a stale version = (version %d, err %v), want store.ErrConflict", v3, err)
	}
	e.expect("after a Replace with a stale version", k, []byte("two"), v2)
}

func replaceZero(e *env) {
	k := e.key("zero")
	v := e.mustCreate(k, []byte("one"), long)
	v2, err := e.s.Replace(e.ctx, k, []byte("two"), long, 0)
	if !errors.Is(err, store.ErrConflict) {
		e.Fatalf("Replace with version 0 on a live record = (version %d, err %v), want store.ErrConflict", v2, err)
	}
	e.expect("after a Replace with version 0", k, []byte("one"), v)
}

func replaceMissing(e *env) {
	k := e.key("nothing")
	v, err := e.s.Replace(e.ctx, k, []byte("x"), long, 1)
	if !errors.Is(err, store.ErrNotFound) {
		e.Fatalf("Replace of a key never written = (version %d, err %v), want store.ErrNotFound", v, err)
	}
	e.expectGone("after a Replace of a missing key", k)
}

func replaceChain(e *env) {
	k := e.key("chain")
	seen := map[uint64]int{}
	v := e.mustCreate(k, []byte("0"), long)
	seen[v] = 0
	for i := 1; i <= 100; i++ {
		val := fmt.Appendf(nil, "%d", i)
		v = e.mustReplace(k, val, long, v)
		if j, dup := seen[v]; dup {
			e.Fatalf("write %d returned version %d, already used by write %d", i, v, j)
		}
		seen[v] = i
	}
	e.expect("after 100 Replaces", k, []byte("100"), v)
}

func touchKeeps(e *env) {
	k := e.key("touch")
	v := e.mustCreate(k, []byte("kept"), long)
	if err := e.s.Touch(e.ctx, k, 2*long); err != nil {
		e.Fatalf("Touch of a live record: %v", err)
	}
	e.expect("after Touch", k, []byte("kept"), v)
	// The version Touch kept still works for compare-and-swap.
	e.mustReplace(k, []byte("next"), long, v)
}

func touchMissing(e *env) {
	k := e.key("nothing")
	if err := e.s.Touch(e.ctx, k, long); !errors.Is(err, store.ErrNotFound) {
		e.Fatalf("Touch of a key never written = %v, want store.ErrNotFound", err)
	}
	e.expectGone("after a Touch of a missing key", k)
}

func deleteExisting(e *env) {
	k := e.key("delete")
	v := e.mustCreate(k, []byte("doomed"), long)
	if err := e.s.Delete(e.ctx, k); err != nil {
		e.Fatalf("Delete of a live record: %v", err)
	}
	e.expectGone("after Delete", k)
	if v2, err := e.s.Replace(e.ctx, k, []byte("x"), long, v); !errors.Is(err, store.ErrNotFound) {
		e.Errorf("Replace after Delete = (version %d, err %v), want store.ErrNotFound", v2, err)
	}
	if err := e.s.Touch(e.ctx, k, long); !errors.Is(err, store.ErrNotFound) {
		e.Errorf("Touch after Delete = %v, want store.ErrNotFound", err)
	}
	e.expectGone("after Replace and Touch of a deleted key", k)
}

func deleteMissing(e *env) {
	k := e.key("nothing")
	for i := range 2 {
		if err := e.s.Delete(e.ctx, k); err != nil {
			e.Fatalf("Delete #%d of a key never written = %v, want nil", i+1, err)
		}
	}
}

// deleteRecreate is the ABA check: a writer holding the version of a record
// that was deleted and created again must not overwrite the new record.
func deleteRecreate(e *env) {
	k := e.key("aba")
	seen := map[uint64]bool{}
	var old uint64
	for i := range 20 {
		v := e.mustCreate(k, fmt.Appendf(nil, "life %d", i), long)
		if seen[v] {
			e.Fatalf("Create #%d after Delete returned version %d, used by an earlier record of the key", i+1, v)
		}
		seen[v] = true
		if old != 0 {
			if v2, err := e.s.Replace(e.ctx, k, []byte("stale writer"), long, old); !errors.Is(err, store.ErrConflict) {
				e.Fatalf("Replace with the version of a deleted earlier record = (version %d, err %v), want store.ErrConflict", v2, err)
			}
		}
		e.expect("after Create over a deleted record", k, fmt.Appendf(nil, "life %d", i), v)
		if err := e.s.Delete(e.ctx, k); err != nil {
			e.Fatalf("Delete: %v", err)
		}
		old = v
	}
}

// casCounter runs 64 goroutines that each increment one counter 16 times
// with read / compare-and-swap / retry loops. Any lost update shows as a
// short count.
func casCounter(e *env) {
	const workers, perWorker = 64, 16
	k := e.key("counter")
	e.mustCreate(k, []byte("0"), long)
	var (
		wg        sync.WaitGroup
		conflicts atomic.Int64
		failed    atomic.Pointer[error]
	)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				for attempt := 0; ; attempt++ {
					if failed.Load() != nil {
						return
					}
					if attempt > 10000 {
						err := fmt.Errorf("no increment succeeded in 10000 attempts")
						failed.CompareAndSwap(nil, &err)
						return
					}
					rec, err := e.s.Get(e.ctx, k)
					if err != nil {
						err = fmt.Errorf("Get: %w", err)
						failed.CompareAndSwap(nil, &err)
						return
					}
					var n int
					if _, err := fmt.Sscanf(string(rec.Value), "%d", &n); err != nil {
						err = fmt.Errorf("counter value %s is not a number", show(rec.Value))
						failed.CompareAndSwap(nil, &err)
						return
					}
					// Let other workers run between read and write, as network
					// latency would, so a store that loses updates shows it.
					runtime.Gosched()
					_, err = e.s.Replace(e.ctx, k, fmt.Appendf(nil, "%d", n+1), long, rec.Version)
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) {
						err = fmt.Errorf("Replace: %w (want nil or store.ErrConflict)", err)
						failed.CompareAndSwap(nil, &err)
						return
					}
					conflicts.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		e.Fatalf("compare-and-swap increments: %v", *p)
	}
	want := []byte(fmt.Sprint(workers * perWorker))
	rec, err := e.s.Get(e.ctx, k)
	if err != nil {
		e.Fatalf("Get after the increments: %v", err)
	}
	if !bytes.Equal(rec.Value, want) {
		e.Fatalf("%d goroutines x %d compare-and-swap increments ended at %s, want %s (%d conflicts retried): updates were lost",
			workers, perWorker, rec.Value, want, conflicts.Load())
	}
}

func valueAllBytes(e *env) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	k := e.key("bytes")
	v := e.mustCreate(k, all, long)
	e.expect("value with every byte 0-255", k, all, v)
	rev := bytes.Clone(all)
	for i := range rev {
		rev[i] = byte(255 - i)
	}
	v = e.mustReplace(k, rev, long, v)
	e.expect("replaced with every byte 255-0", k, rev, v)
}

func valueEmpty(e *env) {
	k := e.key("empty")
	v := e.mustCreate(k, []byte{}, long)
	e.expect("empty value", k, []byte{}, v)
	v = e.mustReplace(k, []byte("x"), long, v)
	v = e.mustReplace(k, nil, long, v)
	e.expect("replaced with a nil value", k, []byte{}, v)
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func valueLarge(e *env) {
	const mib = 1 << 20
	limit := e.o.maxValue
	if limit == 0 {
		k := e.key("large")
		big := randomBytes(mib, 1)
		v := e.mustCreate(k, big, long)
		e.expect("1 MiB value", k, big, v)
		big = randomBytes(mib, 2)
		v = e.mustReplace(k, big, long, v)
		e.expect("1 MiB value replaced", k, big, v)
		return
	}
	fits := randomBytes(limit, 3)
	k := e.key("limit")
	v := e.mustCreate(k, fits, long)
	e.expect(fmt.Sprintf("value of the declared limit, %d bytes", limit), k, fits, v)

	over := randomBytes(limit+1, 4)
	if v2, err := e.s.Create(e.ctx, e.key("over"), over, long); !errors.Is(err, store.ErrTooLarge) {
		e.Errorf("Create of %d bytes, one over the declared limit = (version %d, err %v), want store.ErrTooLarge", limit+1, v2, err)
	}
	if v2, err := e.s.Replace(e.ctx, k, over, long, v); !errors.Is(err, store.ErrTooLarge) {
		e.Errorf("Replace with %d bytes, one over the declared limit = (version %d, err %v), want store.ErrTooLarge", limit+1, v2, err)
	}
	e.expect("after a refused oversized Replace", k, fits, v)
	if limit < mib {
		if _, err := e.s.Create(e.ctx, e.key("mib"), randomBytes(mib, 5), long); !errors.Is(err, store.ErrTooLarge) {
			e.Errorf("Create of 1 MiB over a declared limit of %d bytes = %v, want store.ErrTooLarge", limit, err)
		}
	}
}

func valueNotAliased(e *env) {
	k := e.key("alias")
	in := []byte("original")
	v := e.mustCreate(k, in, long)
	copy(in, "CHANGED!")
	e.expect("after the caller changed the slice it gave Create", k, []byte("original"), v)

	rec, err := e.s.Get(e.ctx, k)
	if err != nil {
		e.Fatalf("Get: %v", err)
	}
	copy(rec.Value, "CHANGED!")
	e.expect("after the caller changed the slice Get returned", k, []byte("original"), v)

	in = []byte("replaced")
	v = e.mustReplace(k, in, long, v)
	copy(in, "CHANGED!")
	e.expect("after the caller changed the slice it gave Replace", k, []byte("replaced"), v)
}

// writeAll writes a distinct value under every key, then reads every key
// back, so that two keys sharing a record (a lossy encoding, a truncating
// hash) show up.
func (e *env) writeAll(what string, keys []string) {
	e.Helper()
	vers := make([]uint64, len(keys))
	for i, k := range keys {
		v, err := e.s.Create(e.ctx, k, fmt.Appendf(nil, "value %d", i), long)
		if err != nil {
			e.Fatalf("%s: Create of key #%d %q (%d bytes): %v", what, i, k, len(k), err)
		}
		vers[i] = v
	}
	for i, k := range keys {
		rec, err := e.s.Get(e.ctx, k)
		if err != nil {
			e.Fatalf("%s: Get of key #%d %q: %v", what, i, k, err)
		}
		if want := fmt.Sprintf("value %d", i); string(rec.Value) != want || rec.Version != vers[i] {
			e.Fatalf("%s: key #%d %q reads (%q, version %d), want (%q, version %d): two keys share a record", what, i, k, rec.Value, rec.Version, want, vers[i])
		}
	}
	for i, k := range keys {
		if err := e.s.Delete(e.ctx, k); err != nil {
			e.Fatalf("%s: Delete of key #%d %q: %v", what, i, k, err)
		}
	}
}

func keyLengths(e *env) {
	// Short keys cannot carry a unique tag, so they are made unique by
	// content instead: one random byte string per run.
	tag := e.key("")[:12]
	var keys []string
	for _, n := range []int{1, 2, 3, 200, 249, 250} {
		k := tag + strings.Repeat("k", 250)
		keys = append(keys, k[:n])
	}
	// Keys of full length that differ only in their last byte, or only in
	// their first: a store that truncates or hashes badly maps them together.
	full := tag + strings.Repeat("x", store.MaxKeyLen-len(tag)-1)
	keys = append(keys, full+"a", full+"b", "~"+full[1:]+"a")
	e.writeAll("keys of 1 to 250 bytes", keys)
}

func keyOddBytes(e *env) {
	tag := e.key("odd") + ":"
	odd := []string{
		" ", "with space", "tab\there", "new\nline", "crlf\r\n", "nul\x00byte", "\x00", "\xff\xfe",
		"del\x7f", "bell\a", "ключ", "鍵", "🔑", "percent%20", "{hash}tag", "{", "}", "a:b:c", "*", "?",
		"back\\slash", `"quoted"`, "'; DROP TABLE sessions; --", "$1", "../..", "CaseKey", "casekey",
		"trailing ", "trailing", "r:raw", "h:hash",
	}
	keys := make([]string, 0, len(odd))
	for _, o := range odd {
		keys = append(keys, tag+o)
	}
	e.writeAll("keys with odd bytes", keys)
}

func keyInvalid(e *env) {
	for _, k := range []string{"", strings.Repeat("k", store.MaxKeyLen+1)} {
		what := fmt.Sprintf("key of %d bytes", len(k))
		if _, err := e.s.Get(e.ctx, k); !errors.Is(err, store.ErrInvalid) {
			e.Errorf("Get of a %s = %v, want store.ErrInvalid", what, err)
		}
		if _, err := e.s.Create(e.ctx, k, []byte("x"), long); !errors.Is(err, store.ErrInvalid) {
			e.Errorf("Create of a %s = %v, want store.ErrInvalid", what, err)
		}
		if _, err := e.s.Replace(e.ctx, k, []byte("x"), long, 1); !errors.Is(err, store.ErrInvalid) {
			e.Errorf("Replace of a %s = %v, want store.ErrInvalid", what, err)
		}
		if err := e.s.Touch(e.ctx, k, long); !errors.Is(err, store.ErrInvalid) {
			e.Errorf("Touch of a %s = %v, want store.ErrInvalid", what, err)
		}
		if err := e.s.Delete(e.ctx, k); !errors.Is(err, store.ErrInvalid) {
			e.Errorf("Delete of a %s = %v, want store.ErrInvalid", what, err)
		}
	}
}

func expiryGet(e *env) {
	k := e.key("expire")
	e.mustCreate(k, []byte("brief"), e.short())
	e.waitPast(e.short())
	e.expectGone(fmt.Sprintf("after its ttl of %v", e.short()), k)
}

func expiryCreate(e *env) {
	k := e.key("recreate")
	v1 := e.mustCreate(k, []byte("old"), e.short())
	e.waitPast(e.short())
	v2, err := e.s.Create(e.ctx, k, []byte("new"), long)
	if err != nil {
		e.Fatalf("Create over an expired record = %v, want success", err)
	}
	if v2 == v1 || v2 == 0 {
		e.Fatalf("Create over an expired record returned version %d (the expired one had %d)", v2, v1)
	}
	e.expect("after Create over an expired record", k, []byte("new"), v2)
}

func expiryReplace(e *env) {
	k := e.key("replace")
	v := e.mustCreate(k, []byte("old"), e.short())
	e.waitPast(e.short())
	if v2, err := e.s.Replace(e.ctx, k, []byte("new"), long, v); !errors.Is(err, store.ErrNotFound) {
		e.Fatalf("Replace of an expired record = (version %d, err %v), want store.ErrNotFound", v2, err)
	}
	e.expectGone("after a Replace of an expired record", k)
}

func expiryTouch(e *env) {
	k := e.key("touch")
	e.mustCreate(k, []byte("old"), e.short())
	e.waitPast(e.short())
	if err := e.s.Touch(e.ctx, k, long); !errors.Is(err, store.ErrNotFound) {
		e.Fatalf("Touch of an expired record = %v, want store.ErrNotFound", err)
	}
	e.expectGone("after a Touch of an expired record", k)
}

func expiryTouchExtends(e *env) {
	k := e.key("extend")
	v := e.mustCreate(k, []byte("kept"), e.brief())
	if err := e.s.Touch(e.ctx, k, math.MaxInt64); err != nil {
		e.Fatalf("Touch(ttl math.MaxInt64) of a live record: %v", err)
	}
	e.waitPast(e.brief())
	e.expect(fmt.Sprintf("past its first ttl of %v, after Touch with ttl math.MaxInt64", e.brief()), k, []byte("kept"), v)
}

func expiryTouchShortens(e *env) {
	k := e.key("shorten")
	e.mustCreate(k, []byte("x"), long)
	if err := e.s.Touch(e.ctx, k, e.short()); err != nil {
		e.Fatalf("Touch(ttl %v): %v", e.short(), err)
	}
	e.waitPast(e.short())
	e.expectGone(fmt.Sprintf("after Touch set its remaining life to %v", e.short()), k)
}

func expiryReplaceExtends(e *env) {
	k := e.key("extend")
	v := e.mustCreate(k, []byte("old"), e.brief())
	// Just over 30 days: memcached reads relative times beyond that as
	// absolute ones, an easy place to expire a record at once.
	ttl := 30*24*time.Hour + time.Second
	v = e.mustReplace(k, []byte("new"), ttl, v)
	e.waitPast(e.brief())
	e.expect(fmt.Sprintf("past its first ttl of %v, after Replace with ttl %v", e.brief(), ttl), k, []byte("new"), v)
}

func expiryReplaceShortens(e *env) {
	k := e.key("shorten")
	v := e.mustCreate(k, []byte("old"), long)
	e.mustReplace(k, []byte("new"), e.short(), v)
	e.waitPast(e.short())
	e.expectGone(fmt.Sprintf("after Replace set its remaining life to %v", e.short()), k)
}

// expiryNotEarly catches unit mistakes (a ttl read as shorter than it is)
// with a wide margin, so it does not depend on the machine's speed.
func expiryNotEarly(e *env) {
	k := e.key("early")
	ttl := 3*time.Second + 2*e.o.res
	v := e.mustCreate(k, []byte("x"), ttl)
	time.Sleep(time.Second)
	e.expect(fmt.Sprintf("1s into a ttl of %v", ttl), k, []byte("x"), v)
}

func expiryTiny(e *env) {
	k := e.key("tiny")
	if _, err := e.s.Create(e.ctx, k, []byte("x"), time.Nanosecond); err != nil {
		e.Fatalf("Create(ttl 1ns) = %v, want success (a positive ttl is valid, however small)", err)
	}
	if _, err := e.s.Get(e.ctx, k); err != nil && !errors.Is(err, store.ErrNotFound) {
		e.Fatalf("Get of a record with ttl 1ns = %v, want it found or store.ErrNotFound", err)
	}
	e.waitPast(time.Nanosecond)
	e.expectGone("after a ttl of 1ns", k)
}

// expiryHuge checks the cap: huge ttls are neither errors nor overflows into
// instant expiry.
func expiryHuge(e *env) {
	ttls := []time.Duration{
		30 * 24 * time.Hour, 30*24*time.Hour + time.Second, 365 * 24 * time.Hour,
		100 * 365 * 24 * time.Hour, 1 << 62, math.MaxInt64 - 1, math.MaxInt64,
	}
	for _, ttl := range ttls {
		k := e.key(fmt.Sprintf("huge-%d", ttl))
		v := e.mustCreate(k, []byte("c"), ttl)
		e.expect(fmt.Sprintf("after Create(ttl %d)", ttl), k, []byte("c"), v)
		v = e.mustReplace(k, []byte("r"), ttl, v)
		e.expect(fmt.Sprintf("after Replace(ttl %d)", ttl), k, []byte("r"), v)
		if err := e.s.Touch(e.ctx, k, ttl); err != nil {
			e.Fatalf("Touch(ttl %d): %v", ttl, err)
		}
		e.expect(fmt.Sprintf("after Touch(ttl %d)", ttl), k, []byte("r"), v)
	}
}

func expiryInvalid(e *env) {
	for _, ttl := range []time.Duration{0, -1, -time.Hour, math.MinInt64} {
		k := e.key("invalid")
		if v, err := e.s.Create(e.ctx, k, []byte("x"), ttl); !errors.Is(err, store.ErrInvalid) {
			e.Errorf("Create(ttl %v) = (version %d, err %v), want store.ErrInvalid", ttl, v, err)
		}
		e.expectGone(fmt.Sprintf("after a refused Create(ttl %v)", ttl), k)

		v := e.mustCreate(k, []byte("live"), long)
		if v2, err := e.s.Replace(e.ctx, k, []byte("y"), ttl, v); !errors.Is(err, store.ErrInvalid) {
			e.Errorf("Replace(ttl %v) = (version %d, err %v), want store.ErrInvalid", ttl, v2, err)
		}
		if err := e.s.Touch(e.ctx, k, ttl); !errors.Is(err, store.ErrInvalid) {
			e.Errorf("Touch(ttl %v) = %v, want store.ErrInvalid", ttl, err)
		}
		e.expect(fmt.Sprintf("after Replace and Touch with ttl %v were refused", ttl), k, []byte("live"), v)
	}
}

// ops calls every context-taking method once; the Replace and Touch target
// a live record, so only the context can make them fail.
func (e *env) ops(ctx context.Context, k string, v uint64) map[string]error {
	out := map[string]error{}
	_, out["Get"] = e.s.Get(ctx, k)
	_, out["Create"] = e.s.Create(ctx, k+"-new", []byte("x"), long)
	_, out["Replace"] = e.s.Replace(ctx, k, []byte("x"), long, v)
	out["Touch"] = e.s.Touch(ctx, k, long)
	out["Delete"] = e.s.Delete(ctx, k)
	out["Ping"] = e.s.Ping(ctx)
	return out
}

func (e *env) contextCheck(ctx context.Context, want error) {
	e.Helper()
	k := e.key("ctx")
	v := e.mustCreate(k, []byte("x"), long)
	start := time.Now()
	errs := e.ops(ctx, k, v)
	for _, op := range []string{"Get", "Create", "Replace", "Touch", "Delete", "Ping"} {
		if !errors.Is(errs[op], want) {
			e.Errorf("%s with a done context = %v, want an error matching %v", op, errs[op], want)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		e.Errorf("six calls with a done context took %v; they should return at once", d)
	}
}

func contextCanceled(e *env) {
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	e.contextCheck(ctx, context.Canceled)
}

func contextDeadline(e *env) {
	ctx, cancel := context.WithDeadline(e.ctx, time.Now().Add(-time.Second))
	defer cancel()
	e.contextCheck(ctx, context.DeadlineExceeded)
}

func useAfterClose(e *env) {
	k := e.key("closed")
	v := e.mustCreate(k, []byte("x"), long)
	if err := e.s.Close(); err != nil {
		e.Fatalf("Close: %v", err)
	}
	for op, err := range e.ops(e.ctx, k, v) {
		if !errors.Is(err, store.ErrClosed) {
			e.Errorf("%s after Close = %v, want store.ErrClosed", op, err)
		}
	}
	if err := e.s.Close(); err != nil {
		e.Errorf("second Close = %v, want nil", err)
	}
}

func pingLive(e *env) {
	if err := e.s.Ping(e.ctx); err != nil {
		e.Fatalf("Ping of a live store: %v", err)
	}
}
