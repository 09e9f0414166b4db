package main

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// freezeProxy is a TCP proxy, on a loopback port, between a greeter and its
// store, that can make the store hang the way a stopped process or a
// black-holed network does: freeze stops forwarding bytes in both
// directions while every connection stays open, and new connections are
// still accepted but go nowhere; thaw resumes. Nothing is lost or reordered
// across a freeze: each direction of each connection is copied by one
// goroutine, which holds the chunk it read until the thaw (and the kernel's
// buffers hold the rest), and passes a close on only after the data before
// it.
type freezeProxy struct {
	ln     net.Listener
	target string
	done   chan struct{} // closed by close

	mu     sync.Mutex
	thawed chan struct{}         // closed while forwarding; open while frozen
	conns  map[net.Conn]struct{} // every open connection, both sides
	closed bool
	wg     sync.WaitGroup
}

// newFreezeProxy starts a proxy to target (host:port) and stops it when the
// test ends.
func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{
		ln: ln, target: target, done: make(chan struct{}),
		thawed: make(chan struct{}), conns: map[net.Conn]struct{}{},
	}
	close(p.thawed)
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// addr is the proxy's address, 127.0.0.1:PORT.
func (p *freezeProxy) addr() string { return p.ln.Addr().String() }

// freeze stops all forwarding; a chunk being written at that moment still
// arrives.
func (p *freezeProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
		p.thawed = make(chan struct{})
	default: // already frozen
	}
}

// thaw resumes forwarding where it stopped.
func (p *freezeProxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

// wait blocks while the proxy is frozen. It reports false once the proxy is
// closed.
func (p *freezeProxy) wait() bool {
	p.mu.Lock()
	thawed := p.thawed
	p.mu.Unlock()
	select {
	case <-thawed:
		return true
	case <-p.done:
		return false
	}
}

// track registers c, or reports false (and closes c) if the proxy is
// closing.
func (p *freezeProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *freezeProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *freezeProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// handle connects client to the target (once thawed: a connection accepted
// while frozen reaches nothing until then) and copies both ways until both
// sides are done.
func (p *freezeProxy) handle(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	if !p.wait() {
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil || !p.track(up) {
		return
	}
	defer p.untrack(up)
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(up, client) })
	wg.Go(func() { p.pipe(client, up) })
	wg.Wait()
}

// pipe copies src to dst, holding each chunk while the proxy is frozen. The
// end of src is passed on as a half-close, after the data before it; a
// failed write or read closes both, which ends the other direction too.
func (p *freezeProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				dst.Close()
				return
			}
		}
		if err != nil {
			if !p.wait() {
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok && err == io.EOF {
				tc.CloseWrite()
				return
			}
			src.Close()
			dst.Close()
			return
		}
	}
}

// close stops the proxy: no more accepts, every connection closed, every
// goroutine gone.
func (p *freezeProxy) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}
