package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/stateless-go/stateless/store"
)

// answersWorkers is how many goroutines make calls of each kind at once in
// answersUnderLoad: enough that an adapter that groups concurrent calls
// (a pipeline, one statement for many calls) groups them.
const answersWorkers = 64

// answerCase is one kind of call answersUnderLoad makes, once per worker,
// each worker on a key of its own.
type answerCase struct {
	what string // "Replace of a missing key"
	// setup prepares worker i's key (before the expired keys expire) and
	// returns what call and check need.
	setup func(e *env, i int) (slot, error)
	// call makes worker i's call, concurrently with every other worker of
	// every case, and returns the version it got (if any) and its error.
	call func(e *env, s *slot) (uint64, error)
	// want is the answer a lone call gets: nil or a sentinel error.
	want error
	// check, if set, judges a call that answered as wanted (what it
	// returned, what the store holds now) and returns a complaint or "".
	check func(e *env, s *slot, version uint64) string
}

// slot is one worker's key and what it knows about it.
type slot struct {
	key     string
	value   []byte
	version uint64 // the live record's version, when there is one
	stale   uint64 // a version the key had before
}

// answersUnderLoad makes many calls of every kind at once, each on a key of
// its own so that no call races another over a record, and checks that each
// gets exactly the answer the contract gives it, the one it gets alone: a
// store that answers differently when it groups concurrent calls (one
// pipeline, one statement for many) fails here, whether or not it says it
// groups them.
func answersUnderLoad(e *env) {
	val := func(tag string, i int) []byte { return fmt.Appendf(nil, "%s %d", tag, i) }
	live := func(tag string) func(e *env, i int) (slot, error) {
		return func(e *env, i int) (slot, error) {
			s := slot{key: e.key(fmt.Sprintf("%s-%d", tag, i)), value: val(tag, i)}
			v, err := e.s.Create(e.ctx, s.key, s.value, long)
			if err != nil {
				return s, fmt.Errorf("Create: %w", err)
			}
			s.version = v
			return s, nil
		}
	}
	replaced := func(tag string) func(e *env, i int) (slot, error) {
		return func(e *env, i int) (slot, error) {
			s, err := live(tag)(e, i)
			if err != nil {
				return s, err
			}
			v, err := e.s.Replace(e.ctx, s.key, s.value, long, s.version)
			if err != nil {
				return s, fmt.Errorf("Replace with the current version: %w", err)
			}
			s.stale, s.version = s.version, v
			return s, nil
		}
	}
	expired := func(tag string) func(e *env, i int) (slot, error) {
		return func(e *env, i int) (slot, error) {
			s := slot{key: e.key(fmt.Sprintf("%s-%d", tag, i)), value: val(tag, i)}
			v, err := e.s.Create(e.ctx, s.key, s.value, e.short())
			if err != nil {
				return s, fmt.Errorf("Create(ttl %v): %w", e.short(), err)
			}
			s.stale = v
			return s, nil
		}
	}
	missing := func(tag string) func(e *env, i int) (slot, error) {
		return func(e *env, i int) (slot, error) {
			return slot{key: e.key(fmt.Sprintf("%s-%d", tag, i)), stale: uint64(i) + 1}, nil
		}
	}
	// Judges of what the store holds after the storm.
	unchanged := func(e *env, s *slot, _ uint64) string {
		return e.holds(s.key, s.value, s.version)
	}
	gone := func(e *env, s *slot, _ uint64) string {
		if rec, err := e.s.Get(e.ctx, s.key); !errors.Is(err, store.ErrNotFound) {
			return fmt.Sprintf("afterwards Get = (value %s, version %d, err %v), want store.ErrNotFound", show(rec.Value), rec.Version, err)
		}
		return ""
	}
	written := func(e *env, s *slot, v uint64) string {
		switch {
		case v == 0:
			return "returned version 0, which never names a live record"
		case v == s.version || v == s.stale:
			return fmt.Sprintf("returned version %d, which the key had before; every write must change it", v)
		}
		return e.holds(s.key, append(s.value[:len(s.value):len(s.value)], " new"...), v)
	}

	cases := []answerCase{
		{what: "Replace of a missing key", setup: missing("replace-missing"), want: store.ErrNotFound, check: gone,
			call: func(e *env, s *slot) (uint64, error) { return e.s.Replace(e.ctx, s.key, []byte("x"), long, s.stale) }},
		{what: "Replace of an expired key, with its last version", setup: expired("replace-expired"), want: store.ErrNotFound, check: gone,
			call: func(e *env, s *slot) (uint64, error) { return e.s.Replace(e.ctx, s.key, []byte("x"), long, s.stale) }},
		{what: "Replace with a stale version", setup: replaced("replace-stale"), want: store.ErrConflict, check: unchanged,
			call: func(e *env, s *slot) (uint64, error) { return e.s.Replace(e.ctx, s.key, []byte("x"), long, s.stale) }},
		{what: "Replace with version 0 of a live key", setup: live("replace-zero"), want: store.ErrConflict, check: unchanged,
			call: func(e *env, s *slot) (uint64, error) { return e.s.Replace(e.ctx, s.key, []byte("x"), long, 0) }},
		{what: "Replace with the current version", setup: replaced("replace-current"), want: nil, check: written,
			call: func(e *env, s *slot) (uint64, error) {
				return e.s.Replace(e.ctx, s.key, append(s.value[:len(s.value):len(s.value)], " new"...), long, s.version)
			}},
		{what: "Touch of a missing key", setup: missing("touch-missing"), want: store.ErrNotFound, check: gone,
			call: func(e *env, s *slot) (uint64, error) { return 0, e.s.Touch(e.ctx, s.key, long) }},
		{what: "Touch of an expired key", setup: expired("touch-expired"), want: store.ErrNotFound, check: gone,
			call: func(e *env, s *slot) (uint64, error) { return 0, e.s.Touch(e.ctx, s.key, long) }},
		{what: "Touch of a live key", setup: live("touch-live"), want: nil, check: unchanged,
			call: func(e *env, s *slot) (uint64, error) { return 0, e.s.Touch(e.ctx, s.key, long) }},
		{what: "Get of a missing key", setup: missing("get-missing"), want: store.ErrNotFound,
			call: func(e *env, s *slot) (uint64, error) { rec, err := e.s.Get(e.ctx, s.key); return rec.Version, err }},
		{what: "Get of an expired key", setup: expired("get-expired"), want: store.ErrNotFound,
			call: func(e *env, s *slot) (uint64, error) { rec, err := e.s.Get(e.ctx, s.key); return rec.Version, err }},
		{what: "Get of a live key", setup: live("get-live"), want: nil,
			call: func(e *env, s *slot) (uint64, error) {
				rec, err := e.s.Get(e.ctx, s.key)
				if err == nil && (!bytesEqual(rec.Value, s.value) || rec.Version != s.version) {
					return 0, fmt.Errorf("got (value %s, version %d), want (value %s, version %d)", show(rec.Value), rec.Version, show(s.value), s.version)
				}
				return rec.Version, err
			}},
		{what: "Create of a live key", setup: live("create-live"), want: store.ErrExists, check: unchanged,
			call: func(e *env, s *slot) (uint64, error) { return e.s.Create(e.ctx, s.key, []byte("x"), long) }},
		{what: "Create of a missing key", setup: missing("create-missing"), want: nil, check: written,
			call: func(e *env, s *slot) (uint64, error) { return e.s.Create(e.ctx, s.key, []byte(" new"), long) }},
		{what: "Create over an expired key", setup: expired("create-expired"), want: nil, check: written,
			call: func(e *env, s *slot) (uint64, error) {
				return e.s.Create(e.ctx, s.key, append(s.value[:len(s.value):len(s.value)], " new"...), long)
			}},
		{what: "Delete of a missing key", setup: missing("delete-missing"), want: nil, check: gone,
			call: func(e *env, s *slot) (uint64, error) { return 0, e.s.Delete(e.ctx, s.key) }},
	}

	// Set up every key, a few calls at a time, then let the expiring ones
	// expire.
	slots := make([][]slot, len(cases))
	for c := range cases {
		slots[c] = make([]slot, answersWorkers)
	}
	var (
		setupMu  sync.Mutex
		setupErr error
	)
	e.parallel(len(cases)*answersWorkers, 8, func(j int) {
		c, i := j/answersWorkers, j%answersWorkers
		s, err := cases[c].setup(e, i)
		slots[c][i] = s
		if err != nil {
			setupMu.Lock()
			setupErr = cmp.Or(setupErr, fmt.Errorf("setting up for %s: %w", cases[c].what, err))
			setupMu.Unlock()
		}
	})
	if setupErr != nil {
		e.Fatalf("%v", setupErr)
	}
	e.waitPast(e.short())

	// The storm: every call of every case at once.
	type result struct {
		version uint64
		err     error
	}
	results := make([][]result, len(cases))
	for c := range cases {
		results[c] = make([]result, answersWorkers)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range cases {
		for i := range answersWorkers {
			wg.Go(func() {
				<-start
				v, err := cases[c].call(e, &slots[c][i])
				results[c][i] = result{v, err}
			})
		}
	}
	close(start)
	wg.Wait()

	// Every answer, then what the store holds.
	for c, ac := range cases {
		var wrong []string
		for i, r := range results[c] {
			s := &slots[c][i]
			var complaint string
			switch {
			case ac.want == nil && r.err != nil:
				complaint = fmt.Sprintf("err %v, want nil", r.err)
			case ac.want != nil && !errors.Is(r.err, ac.want):
				complaint = fmt.Sprintf("(version %d, err %v), want %v", r.version, r.err, ac.want)
			case ac.want != nil && r.version != 0:
				complaint = fmt.Sprintf("version %d with %v, want 0", r.version, r.err)
			case ac.check != nil:
				complaint = ac.check(e, s, r.version)
			}
			if complaint != "" {
				wrong = append(wrong, fmt.Sprintf("call %d: %s", i, complaint))
			}
		}
		if len(wrong) > 0 {
			e.Errorf("%s, %d calls at once with %d others: %d answered unlike a lone call (want %s), e.g. %s",
				ac.what, answersWorkers, (len(cases)-1)*answersWorkers, len(wrong), answerName(ac.want), strings.Join(wrong[:min(3, len(wrong))], "; "))
		}
	}
}

func answerName(err error) string {
	if err == nil {
		return "nil"
	}
	for _, s := range []struct {
		err  error
		name string
	}{{store.ErrNotFound, "store.ErrNotFound"}, {store.ErrConflict, "store.ErrConflict"}, {store.ErrExists, "store.ErrExists"}} {
		if err == s.err {
			return s.name
		}
	}
	return err.Error()
}

// holds returns "" if key holds exactly value at version, else what it
// holds instead.
func (e *env) holds(key string, value []byte, version uint64) string {
	rec, err := e.s.Get(e.ctx, key)
	switch {
	case err != nil:
		return fmt.Sprintf("afterwards Get = %v, want value %s at version %d", err, show(value), version)
	case !bytesEqual(rec.Value, value) || rec.Version != version:
		return fmt.Sprintf("afterwards Get = (value %s, version %d), want (value %s, version %d)", show(rec.Value), rec.Version, show(value), version)
	}
	return ""
}

// parallel runs f(0) to f(n-1) on at most width goroutines at once.
func (e *env) parallel(n, width int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range width {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
