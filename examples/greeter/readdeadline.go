package main

import (
	"errors"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Lazy read deadlines: the server's read bounds (ReadHeaderTimeout,
// ReadTimeout, IdleTimeout) hold as net/http sets them, for a fraction of
// what setting them costs.
//
// net/http changes a connection's read deadline six times a request:
// the idle bound after a response, the header bound when the next request
// begins, the whole-request bound once its headers are read, none while
// the handler runs and net/http reads in the background, a past one to
// stop that read, and none again. Each future deadline costs two clock
// readings and a change to the runtime's timer heap: about 0.4 µs here,
// together over 1 % of the throughput of GET /greet?name=Alice.
//
// logConn notes every deadline it is asked for, and keeps on the socket
// one that is never later than the one asked for (to within clockTick)
// but may come earlier: at most readStep ahead of the clock, where
// readStep is the server's shortest read bound. A read that times out
// before the deadline asked for is a false alarm: the socket gets the
// deadline asked for and the read goes on, with nothing read lost (a
// read that times out has read nothing). So the socket's deadline moves
// once a request, when the past deadline that stopped the background
// read is lifted, instead of four times; an idle connection costs one
// false alarm, readStep into its wait.
//
// A past deadline (net/http stopping its background read, a handler or a
// hijacker waking its own read) goes to the socket at once, as does any
// deadline set with SetDeadline (net/http clears both when a handler
// hijacks the connection).

// readStep is the shortest read bound of srv as net/http applies them
// (the header bound defaults to ReadTimeout, as does the idle one): how
// far ahead of the clock a connection's read deadline may be set when
// none or a later one is asked for. 0 when srv has none: deadlines then
// go to the socket as they are asked for.
func readStep(srv *http.Server) time.Duration {
	hdr, idle := srv.ReadHeaderTimeout, srv.IdleTimeout
	if hdr <= 0 {
		hdr = srv.ReadTimeout
	}
	if idle <= 0 {
		idle = srv.ReadTimeout
	}
	var step time.Duration
	for _, d := range []time.Duration{hdr, srv.ReadTimeout, idle} {
		if d > 0 && (step == 0 || d < step) {
			step = d
		}
	}
	return step
}

// readDeadline is a connection's read deadlines, on the process's
// monotonic clock (see mono; never for none): asked, the one asked for;
// set, the one on the socket. Net/http sets them from the goroutine
// serving the connection while its background read may be in Read on
// another, hence the lock.
type readDeadline struct {
	mu    sync.Mutex
	asked atomic.Int64 // written under mu; read without it by readAgain
	set   int64
}

func (c *logConn) SetReadDeadline(t time.Time) error {
	c.rd.mu.Lock()
	defer c.rd.mu.Unlock()
	want := mono(t)
	c.rd.asked.Store(want)
	if c.rstep == 0 {
		return c.setRead(want)
	}
	now, step, set := coarseNow(), int64(c.rstep), c.rd.set
	switch {
	case want == never:
		if set > now {
			return nil // none, or a read that outlives it is a false alarm
		}
		// The past deadline that stopped net/http's background read:
		// the next deadlines (idle, header, whole request) are later
		// than this one, so it stands for them.
		return c.setRead(now + step)
	case want <= now:
		return c.setRead(want) // wakes a read now
	case set-want <= int64(clockTick) && set > now+step/2:
		return nil // the socket's comes no later than want, and not soon
	default:
		return c.setRead(min(want, now+step))
	}
}

// setRead puts deadline d on the socket. The caller holds c.rd.mu.
func (c *logConn) setRead(d int64) error {
	c.rd.set = d
	return c.Conn.SetReadDeadline(monoTime(d))
}

func (c *logConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n == 0 && err != nil && c.rstep != 0 {
		return c.readAgain(b, err)
	}
	return n, err
}

// readAgain reads again after a read that failed with err for as long as
// it was a false alarm.
func (c *logConn) readAgain(b []byte, err error) (n int, _ error) {
	// First what answers for the past deadline that stops net/http's
	// background read after every request, without a lock.
	if want := c.rd.asked.Load(); want <= coarseNow() {
		return 0, err
	}
	for n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && c.falseAlarm() {
		n, err = c.Conn.Read(b)
	}
	return n, err
}

// falseAlarm reports whether a read that timed out did so before the
// deadline asked for, and if so sets that one on the socket.
func (c *logConn) falseAlarm() bool {
	c.rd.mu.Lock()
	defer c.rd.mu.Unlock()
	want := c.rd.asked.Load()
	if want <= int64(time.Since(clockBase)) {
		return false
	}
	_ = c.setRead(want) // fails only on a closed connection, as the read then will
	return true
}
