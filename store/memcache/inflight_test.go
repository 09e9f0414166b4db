package memcache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memcache"
)

// gauge counts the commands a fake server is answering at once.
type gauge struct{ now, max atomic.Int64 }

func (g *gauge) enter() {
	n := g.now.Add(1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.now.Add(-1) }

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMaxInFlight: with max_in_flight=2 over two servers that hold every
// command until released, 60 concurrent Gets put exactly 2 commands in
// flight on each server (the bound is per server, not for the store), over
// at most 2 connections each, and the queued Gets all go through once the
// servers answer.
func TestMaxInFlight(t *testing.T) {
	const limit, calls = 2, 60
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	var gauges [2]gauge
	var servers [2]*fakeServer
	for i := range servers {
		g := &gauges[i]
		servers[i] = newFakeServer(t, func(cmd []string, data []byte) string {
			g.enter()
			defer g.leave()
			<-release
			if cmd[0] == "gets" {
				return "END\r\n"
			}
			return "ERROR\r\n"
		})
	}
	s, err := memcache.Open(t.Context(), fmt.Sprintf("memcache://%s,%s?max_in_flight=%d&timeout=1h", servers[0].addr, servers[1].addr, limit))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	errs := make(chan error, calls)
	for i := range calls {
		go func() {
			_, err := s.Get(t.Context(), fmt.Sprint("key-", i))
			errs <- err
		}()
	}
	for i := range gauges {
		waitFor(t, fmt.Sprintf("%d commands in flight on server %d", limit, i), func() bool { return gauges[i].now.Load() == limit })
	}
	// Stats see the same: 2 in flight per server, the rest queued.
	waitFor(t, "Stats to show the queue", func() bool {
		st := s.Stats()
		return st.InFlight == 2*limit && st.Queued == calls-2*limit
	})
	// Give a call that ignored the bound time to show up (not an
	// assertion on time: a correct store passes however long this is).
	time.Sleep(50 * time.Millisecond)
	releaseOnce.Do(func() { close(release) })
	for range calls {
		if err := <-errs; !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get: %v, want store.ErrNotFound", err)
		}
	}
	for i, f := range servers {
		if m := gauges[i].max.Load(); m != limit {
			t.Errorf("server %d: %d commands in flight at most, want %d (max_in_flight)", i, m, limit)
		}
		if accepted, _ := f.stats(); accepted > limit {
			t.Errorf("server %d: %d connections opened, want at most %d (max_in_flight)", i, accepted, limit)
		}
	}
	if st := s.Stats(); st.Gets != calls || st.Errors != 0 || st.Queued != 0 || st.InFlight != 0 {
		t.Errorf("Stats after: %+v; want %d Gets, no errors, nothing queued or in flight", st, calls)
	}
}

// TestQueuedCallsHonourContext: with max_in_flight=1 and a server that
// does not answer, a call abandoned when its context ended keeps its slot
// until its round trip really ends, so every later call queues, and
// returns when its context ends having sent nothing. When the server
// answers, the slot comes back and the next call reuses the connection.
func TestQueuedCallsHonourContext(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 16)
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	f := newFakeServer(t, func(cmd []string, data []byte) string {
		arrived <- struct{}{}
		<-release
		if cmd[0] == "gets" {
			return "END\r\n"
		}
		return "ERROR\r\n"
	})
	s, err := memcache.Open(t.Context(), "memcache://"+f.addr+"?max_in_flight=1&timeout=1h")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// The first Get takes the only slot, then its context ends.
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() { _, err := s.Get(ctx, "first"); first <- err }()
	<-arrived
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get cancelled during its round trip: %v, want context.Canceled", err)
	}

	// Its round trip goes on: every call queues behind it.
	eachCallEndsWithItsContext(t, s, 20*time.Millisecond, "queued")
	if accepted, cmds := f.stats(); accepted != 1 || len(cmds) != 1 {
		t.Errorf("server saw %d connections and commands %q, want only the first Get's", accepted, cmds)
	}

	// The server answers the abandoned Get: its slot is free again.
	releaseOnce.Do(func() { close(release) })
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := s.Get(ctx, "next"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after the server answered: %v, want store.ErrNotFound", err)
	}
	if accepted, cmds := f.stats(); accepted != 1 || len(cmds) != 2 {
		t.Errorf("server saw %d connections and commands %q, want 2 gets on 1 connection", accepted, cmds)
	}
}

// TestServerErrors: a server's refusal for too many connections, and its
// other error lines, come back as errors that say what happened, name the
// limit and the option to change, and never hold the key.
func TestServerErrors(t *testing.T) {
	const key = "secret-session-token-0123456789"
	t.Run("TooManyConnections", func(t *testing.T) {
		f := newFakeServer(t, func(cmd []string, data []byte) string {
			return "ERROR Too many open connections\r\n"
		})
		s, err := memcache.Open(t.Context(), "memcache://"+f.addr+"?max_in_flight=7")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := t.Context()
		for name, err := range map[string]error{
			"Get":     func() error { _, err := s.Get(ctx, key); return err }(),
			"Create":  func() error { _, err := s.Create(ctx, key, []byte("v"), time.Minute); return err }(),
			"Replace": func() error { _, err := s.Replace(ctx, key, []byte("v"), time.Minute, 1); return err }(),
			"Touch":   s.Touch(ctx, key, time.Minute),
			"Delete":  s.Delete(ctx, key),
			"Ping":    s.Ping(ctx),
		} {
			if !errors.Is(err, memcache.ErrTooManyConnections) {
				t.Errorf("%s: %v, want an error matching ErrTooManyConnections", name, err)
				continue
			}
			msg := err.Error()
			for _, want := range []string{"max_in_flight", "MaxInFlight", "7 per server", "-c"} {
				if !strings.Contains(msg, want) {
					t.Errorf("%s: %q does not mention %q", name, msg, want)
				}
			}
			if strings.Contains(msg, key) {
				t.Errorf("%s: %q contains the key", name, msg)
			}
		}
	})
	t.Run("ServerError", func(t *testing.T) {
		f := newFakeServer(t, func(cmd []string, data []byte) string {
			if cmd[0] == "gets" {
				return "SERVER_ERROR out of memory reading " + cmd[1] + "\r\n"
			}
			return "SERVER_ERROR out of memory storing object\r\n"
		})
		s, err := memcache.Open(t.Context(), "memcache://"+f.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, errGet := s.Get(t.Context(), key)
		_, errCreate := s.Create(t.Context(), key, []byte("v"), time.Minute)
		for name, err := range map[string]error{"Get": errGet, "Create": errCreate} {
			if !errors.Is(err, gomemcache.ErrServerError) || !strings.Contains(err.Error(), "SERVER_ERROR out of memory") {
				t.Errorf("%s: %v, want an error matching gomemcache.ErrServerError quoting the server", name, err)
			}
			if err != nil && strings.Contains(err.Error(), key) {
				t.Errorf("%s: %q contains the key", name, err)
			}
		}
	})
}
