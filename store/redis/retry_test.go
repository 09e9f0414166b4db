package redis

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
)

// replyCutter is a TCP proxy on 127.0.0.1 in front of a Redis server. It
// forwards everything both ways until armed; armed, it lets the next
// request through to the server and, when the server's reply comes back,
// closes both sides of that connection instead of forwarding the reply.
// The server has then applied the request, and the client sees its
// connection fail before the reply: the one case where go-redis' retry of
// a write can meet the write's own effect.
type replyCutter struct {
	addr   string
	target string
	armed  atomic.Bool
	cuts   atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
}

func newReplyCutter(t *testing.T, target string) *replyCutter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyCutter{addr: l.Addr().String(), target: target}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
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

func (p *replyCutter) serve(client net.Conn) {
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
	go func() {
		_, _ = io.Copy(server, client)
		server.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 && p.armed.CompareAndSwap(true, false) {
			p.cuts.Add(1)
			return // the deferred Closes drop the reply
		}
		if n > 0 {
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// cutStore returns a store over a client that reaches the shared test
// server through a replyCutter, with one connection in its pool (so the
// connection the test warms up is the one the cut request uses) and
// go-redis' default retries.
func cutStore(t *testing.T) (*Store, *replyCutter) {
	t.Helper()
	opts, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newReplyCutter(t, opts.Addr)
	opts.Addr = p.addr
	opts.PoolSize = 1
	opts.MaxRetries = 3
	opts.ContextTimeoutEnabled = true
	s := pipelineStore(t, goredis.NewClient(opts))
	// Open the pooled connection (dial, HELLO) before anything is armed,
	// so the cut falls on the test's own command.
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s, p
}

// TestCreateReplyLost: the server applies a Create, the connection drops
// before its reply arrives, go-redis sends the command again on a new
// connection, and Create reports success with the version it wrote — not
// store.ErrExists for its own record. A different Create of the key is
// still refused.
func TestCreateReplyLost(t *testing.T) {
	ctx := t.Context()
	s, p := cutStore(t)
	p.armed.Store(true)
	v, err := s.Create(ctx, "k", []byte("mine"), time.Minute)
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d replies, want 1", p.cuts.Load())
	}
	if err != nil {
		t.Fatalf("Create whose first reply was lost = %v, want success", err)
	}
	if rec, err := s.Get(ctx, "k"); err != nil || rec.Version != v || string(rec.Value) != "mine" {
		t.Fatalf("Get = (%q, %d, %v), want (\"mine\", %d)", rec.Value, rec.Version, err, v)
	}
	if _, err := s.Create(ctx, "k", []byte("theirs"), time.Minute); !errors.Is(err, store.ErrExists) {
		t.Errorf("a different Create of the key = %v, want store.ErrExists", err)
	}
}

// TestReplaceReplyLost: the same for a compare-and-swap. The retried
// Replace reports success with its new version, not store.ErrConflict
// with itself; a Replace with the old version still conflicts.
func TestReplaceReplyLost(t *testing.T) {
	ctx := t.Context()
	s, p := cutStore(t)
	v1, err := s.Create(ctx, "k", []byte("one"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p.armed.Store(true)
	v2, err := s.Replace(ctx, "k", []byte("two"), time.Minute, v1)
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d replies, want 1", p.cuts.Load())
	}
	if err != nil {
		t.Fatalf("Replace whose first reply was lost = %v, want success", err)
	}
	if rec, err := s.Get(ctx, "k"); err != nil || rec.Version != v2 || string(rec.Value) != "two" {
		t.Fatalf("Get = (%q, %d, %v), want (\"two\", %d)", rec.Value, rec.Version, err, v2)
	}
	if _, err := s.Replace(ctx, "k", []byte("three"), time.Minute, v1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Replace with the old version = %v, want store.ErrConflict", err)
	}
}

// TestPipelineReplayed: a pipeline of compare-and-swaps (and Gets and
// Touches) whose replies are lost after the server applied it is replayed
// whole by go-redis; every Replace in it reports success with its own new
// version, and a real conflict in the same pipeline still reports
// store.ErrConflict.
func TestPipelineReplayed(t *testing.T) {
	ctx := t.Context()
	s, p := cutStore(t)
	const n = 4
	var old [n]uint64
	for i := range n {
		v, err := s.Create(ctx, fmt.Sprint("k", i), []byte("a"), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		old[i] = v
	}
	stale := old[0] ^ 1 // a version k0 never had
	var (
		got      [n]uint64
		errs     [n]error
		staleErr error
		getErr   error
		touchErr error
	)
	var calls []func()
	for i := range n {
		calls = append(calls, func() {
			got[i], errs[i] = s.Replace(ctx, fmt.Sprint("k", i), []byte("b"), time.Minute, old[i])
		})
	}
	calls = append(calls,
		func() { _, staleErr = s.Replace(ctx, "k0", []byte("c"), time.Minute, stale) },
		func() { _, getErr = s.Get(ctx, "k1") },
		func() { touchErr = s.Touch(ctx, "k2", time.Minute) },
	)
	release, wait := holdAndQueue(t, s, calls...)
	p.armed.Store(true)
	release()
	wait()
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d replies, want 1", p.cuts.Load())
	}
	if s.pipelines.Load() == 0 {
		t.Fatal("the queued calls did not go as a pipeline")
	}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Replace k%d in a replayed pipeline = %v, want success", i, errs[i])
			continue
		}
		if rec, err := s.Get(ctx, fmt.Sprint("k", i)); err != nil || rec.Version != got[i] || string(rec.Value) != "b" {
			t.Errorf("Get k%d = (%q, %d, %v), want (\"b\", %d)", i, rec.Value, rec.Version, err, got[i])
		}
	}
	if !errors.Is(staleErr, store.ErrConflict) {
		t.Errorf("a stale Replace in the replayed pipeline = %v, want store.ErrConflict", staleErr)
	}
	if getErr != nil || touchErr != nil {
		t.Errorf("Get and Touch in the replayed pipeline = %v, %v, want success", getErr, touchErr)
	}
}
