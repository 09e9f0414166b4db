package storetest

import (
	"errors"
	"sync"

	"github.com/stateless-go/stateless/store"
)

// capability names an optional interface of package store that some checks
// need; a check with one runs only on stores that offer it.
type capability uint8

const (
	capNone capability = iota
	capCompareAndDelete
	capStats
	capCreateOrGet
)

func (c capability) name() string {
	switch c {
	case capCompareAndDelete:
		return "store.CompareAndDeleter"
	case capStats:
		return "store.StatsReporter"
	case capCreateOrGet:
		return "store.CreateOrGetter"
	}
	return ""
}

func (c capability) offeredBy(s store.Store) bool {
	switch c {
	case capCompareAndDelete:
		_, ok := s.(store.CompareAndDeleter)
		return ok
	case capStats:
		_, ok := s.(store.StatsReporter)
		return ok
	case capCreateOrGet:
		_, ok := s.(store.CreateOrGetter)
		return ok
	}
	return true
}

// capabilityChecks run when the store offers what they need. (Of the
// capabilities in package store, NonBlocking has no check: it promises
// that calls never wait on I/O, which no test can tell from a fast
// network.)
var capabilityChecks = []check{
	{name: "CompareAndDelete/CurrentVersion", fn: cadCurrent, needs: capCompareAndDelete},
	{name: "CompareAndDelete/StaleVersion", fn: cadStale, needs: capCompareAndDelete},
	{name: "CompareAndDelete/Missing", fn: cadMissing, needs: capCompareAndDelete},
	{name: "CompareAndDelete/AfterExpiry", fn: cadExpired, needs: capCompareAndDelete},
	{name: "CompareAndDelete/Concurrent", fn: cadConcurrent, needs: capCompareAndDelete},
	{name: "CompareAndDelete/InvalidKey", fn: cadInvalid, needs: capCompareAndDelete},
	{name: "Stats/CountsCalls", fn: statsCounts, needs: capStats},
	{name: "CreateOrGet/Creates", fn: cogCreates, needs: capCreateOrGet},
	{name: "CreateOrGet/GetsTheLiveRecord", fn: cogGets, needs: capCreateOrGet},
	{name: "CreateOrGet/AfterExpiry", fn: cogExpired, needs: capCreateOrGet},
	{name: "CreateOrGet/Concurrent", fn: cogConcurrent, needs: capCreateOrGet},
	{name: "CreateOrGet/Invalid", fn: cogInvalid, needs: capCreateOrGet},
}

func (e *env) cog() store.CreateOrGetter { return e.s.(store.CreateOrGetter) }

func cogCreates(e *env) {
	k := e.key("cog")
	rec, created, err := e.cog().CreateOrGet(e.ctx, k, []byte("first"), long)
	if err != nil || !created || rec.Version == 0 {
		e.Fatalf("CreateOrGet of an absent key = %v, created %v, %v; want a new version, created", rec, created, err)
	}
	e.expect("after CreateOrGet created it", k, []byte("first"), rec.Version)
}

func cogGets(e *env) {
	k := e.key("cogget")
	v := e.mustCreate(k, []byte("held"), long)
	rec, created, err := e.cog().CreateOrGet(e.ctx, k, []byte("other"), long)
	if err != nil || created || string(rec.Value) != "held" || rec.Version != v {
		e.Fatalf("CreateOrGet of a live key = {%q %d}, created %v, %v; want {\"held\" %d}, not created, nil", rec.Value, rec.Version, created, err, v)
	}
	e.expect("after CreateOrGet found it", k, []byte("held"), v)
	// What it returned is the caller's: changing it changes nothing stored.
	rec.Value[0] = 'X'
	e.expect("after the caller changed the returned value", k, []byte("held"), v)
}

func cogExpired(e *env) {
	k := e.key("cogexpired")
	e.mustCreate(k, []byte("old"), e.short())
	e.waitPast(e.short())
	rec, created, err := e.cog().CreateOrGet(e.ctx, k, []byte("new"), long)
	if err != nil || !created {
		e.Fatalf("CreateOrGet over an expired record = %v, created %v, %v; want created", rec, created, err)
	}
	e.expect("after CreateOrGet replaced an expired record", k, []byte("new"), rec.Version)
}

func cogConcurrent(e *env) {
	k := e.key("cograce")
	const n = 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		won      int
		winner   uint64
		versions []uint64
		errs     []error
	)
	for i := range n {
		wg.Go(func() {
			rec, created, err := e.cog().CreateOrGet(e.ctx, k, []byte{byte('a' + i)}, long)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case created:
				won++
				winner = rec.Version
			default:
				versions = append(versions, rec.Version)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		e.Fatalf("concurrent CreateOrGets: %v", errs[0])
	}
	if won != 1 {
		e.Fatalf("%d concurrent CreateOrGets of one absent key: %d created, want exactly 1", n, won)
	}
	for _, v := range versions {
		if v != winner {
			e.Errorf("a CreateOrGet that did not create returned version %d, want the creator's %d", v, winner)
		}
	}
}

func cogInvalid(e *env) {
	if _, _, err := e.cog().CreateOrGet(e.ctx, "", []byte("x"), long); !errors.Is(err, store.ErrInvalid) {
		e.Errorf("CreateOrGet of an empty key = %v, want store.ErrInvalid", err)
	}
	if _, _, err := e.cog().CreateOrGet(e.ctx, e.key("cogttl"), []byte("x"), 0); !errors.Is(err, store.ErrInvalid) {
		e.Errorf("CreateOrGet with ttl 0 = %v, want store.ErrInvalid", err)
	}
}

func (e *env) cad() store.CompareAndDeleter { return e.s.(store.CompareAndDeleter) }

func cadCurrent(e *env) {
	k := e.key("cad")
	v := e.mustCreate(k, []byte("x"), long)
	if err := e.cad().CompareAndDelete(e.ctx, k, v); err != nil {
		e.Fatalf("CompareAndDelete with the current version: %v", err)
	}
	e.expectGone("after CompareAndDelete", k)
	if _, err := e.s.Create(e.ctx, k, []byte("again"), long); err != nil {
		e.Errorf("Create after CompareAndDelete: %v", err)
	}
}

func cadStale(e *env) {
	k := e.key("cadstale")
	v1 := e.mustCreate(k, []byte("one"), long)
	v2 := e.mustReplace(k, []byte("two"), long, v1)
	if err := e.cad().CompareAndDelete(e.ctx, k, v1); !errors.Is(err, store.ErrConflict) {
		e.Errorf("CompareAndDelete with a stale version = %v, want store.ErrConflict", err)
	}
	if err := e.cad().CompareAndDelete(e.ctx, k, 0); !errors.Is(err, store.ErrConflict) {
		e.Errorf("CompareAndDelete with version 0 = %v, want store.ErrConflict", err)
	}
	e.expect("after the refused CompareAndDeletes", k, []byte("two"), v2)
}

func cadMissing(e *env) {
	if err := e.cad().CompareAndDelete(e.ctx, e.key("cadmissing"), 1); !errors.Is(err, store.ErrNotFound) {
		e.Errorf("CompareAndDelete of a missing key = %v, want store.ErrNotFound", err)
	}
}

func cadExpired(e *env) {
	k := e.key("cadexpired")
	v := e.mustCreate(k, []byte("x"), e.short())
	e.waitPast(e.short())
	if err := e.cad().CompareAndDelete(e.ctx, k, v); !errors.Is(err, store.ErrNotFound) {
		e.Errorf("CompareAndDelete of an expired record = %v, want store.ErrNotFound", err)
	}
}

func cadConcurrent(e *env) {
	k := e.key("cadrace")
	v := e.mustCreate(k, []byte("x"), long)
	const n = 16
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		won    int
		others []error
	)
	for range n {
		wg.Go(func() {
			err := e.cad().CompareAndDelete(e.ctx, k, v)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrNotFound):
				others = append(others, err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		e.Errorf("%d concurrent CompareAndDeletes of one record with its version: %d succeeded, want exactly 1", n, won)
	}
	if len(others) > 0 {
		e.Errorf("the losers must answer store.ErrNotFound; got %v", others[0])
	}
	e.expectGone("after the concurrent CompareAndDeletes", k)
}

func cadInvalid(e *env) {
	if err := e.cad().CompareAndDelete(e.ctx, "", 1); !errors.Is(err, store.ErrInvalid) {
		e.Errorf("CompareAndDelete of an empty key = %v, want store.ErrInvalid", err)
	}
}

// statsCounts: each call counts once under its operation, answers of the
// contract are not errors, and a refused argument is.
func statsCounts(e *env) {
	sr := e.s.(store.StatsReporter)
	before := sr.Stats()
	k := e.key("stats")
	v := e.mustCreate(k, []byte("x"), long)       // Create
	e.s.Create(e.ctx, k, []byte("y"), long)       // Create: ErrExists
	e.s.Get(e.ctx, k)                             // Get
	e.s.Get(e.ctx, e.key("stats-missing"))        // Get: ErrNotFound
	e.s.Replace(e.ctx, k, []byte("z"), long, v^1) // Replace: ErrConflict
	e.s.Touch(e.ctx, k, long)                     // Touch
	e.s.Delete(e.ctx, k)                          // Delete
	e.s.Get(e.ctx, "")                            // Get: ErrInvalid, an error
	after := sr.Stats()
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"Gets", after.Gets - before.Gets, 3},
		{"Creates", after.Creates - before.Creates, 2},
		{"Replaces", after.Replaces - before.Replaces, 1},
		{"Touches", after.Touches - before.Touches, 1},
		{"Deletes", after.Deletes - before.Deletes, 1},
		{"Errors", after.Errors - before.Errors, 1},
	} {
		if c.got != c.want {
			e.Errorf("Stats().%s grew by %d over the calls made, want %d", c.name, c.got, c.want)
		}
	}
}
