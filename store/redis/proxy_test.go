package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
)

// proxy is a TCP proxy on 127.0.0.1 in front of a Redis server, through
// which a test acts on its own client's connections and on nobody else's
// (CLIENT PAUSE, say, would hold up every user of a shared server):
//
//   - hold keeps the server's replies from the client until release, so
//     calls stay in flight as long as the test wants;
//   - cutReplyTo makes the proxy close the connection that carries the
//     next request holding marker, when the server's reply to it comes
//     back, instead of forwarding the reply. The server has then applied
//     the request, and the client sees its connection fail before the
//     reply: the one case where go-redis' retry of a write can meet the
//     write's own effect.
type proxy struct {
	addr   string
	target string
	marker atomic.Pointer[[]byte]
	cuts   atomic.Int64

	mu      sync.Mutex
	cond    sync.Cond
	holding bool
	held    int // replies waiting for release
	conns   []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String(), target: target}
	p.cond.L = &p.mu
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		p.release()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c) })
		}
	})
	return p
}

func (p *proxy) cutReplyTo(marker string) {
	m := []byte(marker)
	p.marker.Store(&m)
}

func (p *proxy) hold() {
	p.mu.Lock()
	p.holding = true
	p.mu.Unlock()
}

func (p *proxy) release() {
	p.mu.Lock()
	p.holding = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// heldReplies returns how many replies wait for release.
func (p *proxy) heldReplies() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

func (p *proxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, client, server)
	p.mu.Unlock()
	defer client.Close()
	defer server.Close()
	var cutNext atomic.Bool // the next reply on this connection is cut
	go func() {
		defer server.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if m := p.marker.Load(); n > 0 && m != nil && bytes.Contains(buf[:n], *m) && p.marker.CompareAndSwap(m, nil) {
				cutNext.Store(true)
			}
			if n > 0 {
				if _, werr := server.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.holding {
				p.held++
				p.cond.Wait()
				p.held--
			}
			p.mu.Unlock()
			if cutNext.Load() {
				p.cuts.Add(1)
				return // the deferred Closes drop the reply
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// proxiedStore returns a store with a fresh prefix over a client of its
// own that reaches the shared test server through a proxy, with go-redis'
// default retries, and the server's script cache holding the store's
// scripts.
func proxiedStore(t *testing.T) (*Store, *proxy, *goredis.Client) {
	t.Helper()
	opts, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, opts.Addr)
	opts.Addr = p.addr
	opts.MaxRetries = 3
	opts.ContextTimeoutEnabled = true
	client := goredis.NewClient(opts)
	s := pipelineStore(t, client)
	// Have the server cache every script, so that a cut reply is that of
	// an applied write, not a NOSCRIPT.
	ctx := t.Context()
	v, err := s.Create(ctx, "warm", nil, time.Minute)
	if err == nil {
		v, err = s.Replace(ctx, "warm", nil, time.Minute, v)
	}
	if err == nil {
		err = s.CompareAndDelete(ctx, "warm", v)
	}
	if err != nil {
		t.Fatalf("warming the scripts up: %v", err)
	}
	return s, p, client
}

// queueBehind makes calls queue for a pipeline slot of s, on a real server:
// it holds the replies at p, sends one Get per slot (each takes a slot and
// waits for its reply), then starts the calls, each in its own goroutine,
// and waits until Stats says all of them are queued. release lets the
// replies through, which frees the slots, and waits for the Gets; the
// queued calls then go as one pipeline. wait waits for the calls.
func queueBehind(t *testing.T, s *Store, p *proxy, calls ...func()) (release, wait func()) {
	t.Helper()
	ctx := t.Context()
	p.hold()
	var blockers sync.WaitGroup
	for i := range maxPipelines {
		blockers.Go(func() {
			if _, err := s.Get(ctx, fmt.Sprint("blocker", i)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get of a key that slot %d blocks on = %v, want store.ErrNotFound", i, err)
			}
		})
	}
	waitFor(t, "every slot to wait on a reply", func() bool { return p.heldReplies() == maxPipelines })
	var wg sync.WaitGroup
	for _, f := range calls {
		wg.Go(f)
	}
	waitFor(t, "the calls to queue", func() bool { return s.Stats().Queued == len(calls) })
	return func() {
		p.release()
		blockers.Wait()
	}, wg.Wait
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
