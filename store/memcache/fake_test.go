package memcache_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memcache"
)

// fakeServer speaks just enough of memcached's text protocol to script the
// answers a real server gives only in a race (the item vanishing between
// gets and cas) and to watch the connections a client opens and closes.
type fakeServer struct {
	addr string
	// answer returns the reply to one command line (and its data block, for
	// storage commands).
	answer func(cmd []string, data []byte) string

	mu       sync.Mutex
	accepted int
	commands []string
	conns    []net.Conn
	eof      chan struct{} // gets a value each time a client closes a connection
}

func newFakeServer(t *testing.T, answer func(cmd []string, data []byte) string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{addr: ln.Addr().String(), answer: answer, eof: make(chan struct{}, 16)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.accepted++
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			wg.Go(func() { f.serve(c) })
		}
	})
	return f
}

func (f *fakeServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				select {
				case f.eof <- struct{}{}:
				default:
				}
			}
			return
		}
		cmd := strings.Fields(line)
		if len(cmd) == 0 {
			continue
		}
		var data []byte
		switch cmd[0] {
		case "set", "add", "replace", "cas":
			n, _ := strconv.Atoi(cmd[4])
			data = make([]byte, n+2)
			if _, err := io.ReadFull(r, data); err != nil {
				return
			}
			data = data[:n]
		}
		f.mu.Lock()
		f.commands = append(f.commands, cmd[0])
		f.mu.Unlock()
		if _, err := io.WriteString(c, f.answer(cmd, data)); err != nil {
			return
		}
	}
}

func (f *fakeServer) stats() (accepted int, commands []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted, append([]string(nil), f.commands...)
}

// versionAnswer answers "version" only.
func versionAnswer(cmd []string, data []byte) string {
	if cmd[0] == "version" {
		return "VERSION 1.6.0-fake\r\n"
	}
	return "ERROR\r\n"
}

// waitEOF waits for the fake server to see a client close a connection.
func (f *fakeServer) waitEOF(t *testing.T) {
	t.Helper()
	select {
	case <-f.eof:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was not closed")
	}
}

// TestOpenOwnsClient: a store from Open closes its client's connections on
// Close; a store from New leaves them to the client's owner.
func TestOpenOwnsClient(t *testing.T) {
	ctx := t.Context()
	t.Run("Open", func(t *testing.T) {
		f := newFakeServer(t, versionAnswer)
		s, err := memcache.Open(ctx, "memcache://"+f.addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		f.waitEOF(t) // Close closed the idle connection
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v, want nil", err)
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Get after Close: %v, want store.ErrClosed", err)
		}
	})
	t.Run("New", func(t *testing.T) {
		f := newFakeServer(t, versionAnswer)
		client := gomemcache.New(f.addr)
		defer client.Close()
		s, err := memcache.New(client, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Ping(ctx); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Ping after Close: %v, want store.ErrClosed", err)
		}
		if err := client.Ping(); err != nil {
			t.Fatalf("the client's own Ping after the store's Close: %v", err)
		}
		// The client reused the connection the store's Ping opened: the
		// store's Close left it alone.
		if accepted, cmds := f.stats(); accepted != 1 || len(cmds) != 2 {
			t.Errorf("server saw %d connections and commands %q, want 1 connection and 2 versions", accepted, cmds)
		}
	})
}

// TestDoneContext: a context already done stops every call before anything
// is sent, with an error that matches the context's.
func TestDoneContext(t *testing.T) {
	f := newFakeServer(t, versionAnswer)
	s, err := memcache.Open(t.Context(), "memcache://"+f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Unix(1, 0))
	defer cancel2()
	for _, c := range []struct {
		ctx  context.Context
		want error
	}{{canceled, context.Canceled}, {expired, context.DeadlineExceeded}} {
		ctx := c.ctx
		calls := map[string]error{
			"Get":     func() error { _, err := s.Get(ctx, "k"); return err }(),
			"Create":  func() error { _, err := s.Create(ctx, "k", nil, time.Minute); return err }(),
			"Replace": func() error { _, err := s.Replace(ctx, "k", nil, time.Minute, 1); return err }(),
			"Touch":   s.Touch(ctx, "k", time.Minute),
			"Delete":  s.Delete(ctx, "k"),
			"Ping":    s.Ping(ctx),
		}
		for name, err := range calls {
			if !errors.Is(err, c.want) {
				t.Errorf("%s with a done context: %v, want %v", name, err, c.want)
			}
		}
	}
	if _, err := memcache.Open(canceled, "memcache://"+f.addr); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a done context: %v, want context.Canceled", err)
	}
	if accepted, cmds := f.stats(); accepted != 0 {
		t.Errorf("server saw %d connections and commands %q, want none", accepted, cmds)
	}
}

// TestReplaceRace scripts what a real server answers when another client
// acts between Replace's gets and its cas.
func TestReplaceRace(t *testing.T) {
	const version = 42
	item := "\x00\x00\x00\x00\x00\x00\x00\x2avalue" // version 42, then the value
	for _, tc := range []struct {
		casAnswer string
		want      error
		what      string
	}{
		{"EXISTS\r\n", store.ErrConflict, "another writer replaced the item"},
		{"NOT_FOUND\r\n", store.ErrNotFound, "the item was deleted or expired"},
		{"NOT_STORED\r\n", store.ErrNotFound, "the item was evicted"},
		{"SERVER_ERROR object too large for cache\r\n", store.ErrTooLarge, "the server's item size limit is lower"},
	} {
		f := newFakeServer(t, func(cmd []string, data []byte) string {
			switch cmd[0] {
			case "gets":
				return fmt.Sprintf("VALUE %s %d %d 7\r\n%s\r\nEND\r\n", cmd[1], memcache.ItemFlags, len(item), item)
			case "cas":
				if cmd[5] != "7" {
					return "CLIENT_ERROR wrong cas\r\n"
				}
				return tc.casAnswer
			}
			return "ERROR\r\n"
		})
		s, err := memcache.Open(t.Context(), "memcache://"+f.addr)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Replace(t.Context(), "k", []byte("new"), time.Minute, version)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s (cas answers %q): Replace = %v, want %v", tc.what, strings.TrimSpace(tc.casAnswer), err, tc.want)
		}
		s.Close()
	}
}

// TestErrorsHideKeys: a protocol error that quotes the item key (which may
// be a session token) must not carry it into the error.
func TestErrorsHideKeys(t *testing.T) {
	f := newFakeServer(t, func(cmd []string, data []byte) string {
		// A reply gomemcache cannot parse, echoing the key.
		return "VALUE " + cmd[1] + " nonsense\r\n"
	})
	s, err := memcache.Open(t.Context(), "memcache://"+f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const token = "secret-session-token-0123456789"
	_, err = s.Get(t.Context(), token)
	if err == nil {
		t.Fatal("Get of a garbled reply: nil error")
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error %q contains the key", err)
	}
}

// TestContextEndsDuringRoundTrip: a context cancelled while the server is
// silent ends the call when the client's Timeout does, with an error that
// matches the context's.
func TestContextEndsDuringRoundTrip(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := newFakeServer(t, func(cmd []string, data []byte) string {
		cancel()
		return "" // and never answer
	})
	s, err := memcache.Open(t.Context(), "memcache://"+f.addr+"?timeout=100ms")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Get(ctx, "k")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Get cancelled during its round trip: %v, want an error matching context.Canceled", err)
	}
}
