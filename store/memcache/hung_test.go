package memcache_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/memcache"
)

// TestHungServerHonoursContext: against a server that accepts connections
// and commands but does not answer (stopped, or behind a network that drops
// packets), every call returns when its context ends, although the client's
// Timeout would let it wait an hour. When the server answers again, later
// calls get their own answers: the replies the abandoned calls were waiting
// for are never read by anyone else.
func TestHungServerHonoursContext(t *testing.T) {
	release := make(chan struct{})
	var answered atomic.Int64
	f := newFakeServer(t, func(cmd []string, data []byte) string {
		<-release // hung until the test lets it answer
		defer answered.Add(1)
		switch cmd[0] {
		case "gets":
			// The value of every item is its own key, after version 1.
			v := "\x00\x00\x00\x00\x00\x00\x00\x01" + cmd[1]
			return fmt.Sprintf("VALUE %s %d %d 7\r\n%s\r\nEND\r\n", cmd[1], memcache.ItemFlags, len(v), v)
		case "add", "cas":
			return "STORED\r\n"
		case "touch":
			return "TOUCHED\r\n"
		case "delete":
			return "DELETED\r\n"
		case "version":
			return "VERSION 1.6.0-fake\r\n"
		}
		return "ERROR\r\n"
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release) // let the server goroutines end
		}
	})
	s, err := memcache.Open(t.Context(), "memcache://"+f.addr+"?timeout=1h")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	eachCallEndsWithItsContext(t, s, 50*time.Millisecond, "on a hung server")

	// The server answers again: first the abandoned calls, on their own
	// connections, then ours.
	close(release)
	for i := range 20 {
		key := fmt.Sprintf("key-%d", i)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		rec, err := s.Get(ctx, key)
		cancel()
		if err != nil || string(rec.Value) != key {
			t.Fatalf("Get(%q) after the server came back: %q, %v; want its own value", key, rec.Value, err)
		}
	}
	if n := answered.Load(); n < 20 {
		t.Errorf("server answered %d commands, want at least the 20 Gets", n)
	}
}

// eachCallEndsWithItsContext calls every method of s with a context that
// ends after d, by its deadline and by a cancel, and checks each returns an
// error matching the context's as it ends (within 10 s at the outside).
// where says what state the calls meet, for the messages.
func eachCallEndsWithItsContext(t *testing.T, s *memcache.Store, d time.Duration, where string) {
	t.Helper()
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, "k"); return err }},
		{"Create", func(ctx context.Context) error { _, err := s.Create(ctx, "k", []byte("v"), time.Minute); return err }},
		{"Replace", func(ctx context.Context) error {
			_, err := s.Replace(ctx, "k", []byte("v"), time.Minute, 1)
			return err
		}},
		{"Touch", func(ctx context.Context) error { return s.Touch(ctx, "k", time.Minute) }},
		{"Delete", func(ctx context.Context) error { return s.Delete(ctx, "k") }},
		{"Ping", func(ctx context.Context) error { return s.Ping(ctx) }},
	}
	for _, c := range calls {
		for _, end := range []struct {
			what string
			ctx  func() (context.Context, context.CancelFunc)
			want error
		}{
			{"deadline", func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(t.Context(), d)
			}, context.DeadlineExceeded},
			{"cancel", func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(t.Context())
				time.AfterFunc(d, cancel)
				return ctx, cancel
			}, context.Canceled},
		} {
			ctx, cancel := end.ctx()
			got := make(chan error, 1)
			go func() { got <- c.call(ctx) }()
			select {
			case err := <-got:
				if !errors.Is(err, end.want) {
					t.Errorf("%s %s, context ended by %s: %v, want an error matching %v", c.name, where, end.what, err, end.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s %s still waiting 10s after its context's %s", c.name, where, end.what)
			}
			cancel()
		}
	}
}
