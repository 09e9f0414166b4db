package main

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The write bound: a client that stops reading its responses can hold a
// connection and its goroutine only until a write to it has been blocked
// for about writeTimeout.
//
// net/http's own bound, Server.WriteTimeout, costs every request a clock
// reading and two changes of the connection's write timer: it sets the
// deadline when a request has been read and clears it once the response
// is sent. On a 2-core machine that was 1–3 % of the throughput of
// GET /greet?name=Alice, for nothing in the usual case, where a write
// never blocks. logConn keeps one deadline instead, the bound ahead of a
// clock that ticks every clockTick, and moves it only when it has fallen
// more than a sixteenth of the bound behind: about once a second for a
// busy connection under the example server's 15 s, and never between a
// request and its response. A write that blocks fails after between
// 15/16 of the bound less clockTick (14 s) and the bound.
//
// It bounds a blocked write, not a slow handler, which is what
// WriteTimeout also did (a handler's answer after it failed to send). The
// Greeter's handlers are bounded by their own waits on the store
// (greeter.Options.ReadyTimeout, the store's timeouts).
//
// A deadline that net/http or a handler sets (http.ResponseController's
// SetWriteDeadline, a Server.WriteTimeout) is kept as it is until it is
// cleared; a hijacked connection gets none but its owner's.
const clockTick = 100 * time.Millisecond

// armWriteBound moves c's write deadline to the bound, unless it is there
// already, within a sixteenth of it.
func (c *logConn) armWriteBound() {
	want := coarseNow() + int64(c.bound)
	// A deadline later than want is left by an explicit one since
	// cleared: it is moved too.
	if d := want - c.wdl; d > int64(c.bound/16) || d < 0 {
		c.wdl = want
		_ = c.Conn.SetWriteDeadline(monoTime(want)) // fails only on a closed connection, as the write will
	}
}

// SetWriteDeadline sets an explicit deadline; a zero one (net/http clears
// it after each response) hands the connection back to the bound, which
// the next write arms.
func (c *logConn) SetWriteDeadline(t time.Time) error {
	if c.bound == 0 || !t.IsZero() {
		return c.setWriteDeadline(t)
	}
	c.explicit = false
	return nil
}

// SetDeadline sets both deadlines on the socket as they are (see
// readdeadline.go for the read one): net/http clears both when a handler
// hijacks the connection, which is then the handler's to bound.
func (c *logConn) SetDeadline(t time.Time) error {
	c.rd.mu.Lock()
	c.rd.asked.Store(mono(t))
	err := c.setRead(c.rd.asked.Load())
	c.rd.mu.Unlock()
	if err != nil {
		return err
	}
	return c.setWriteDeadline(t)
}

func (c *logConn) setWriteDeadline(t time.Time) error {
	c.explicit = !t.IsZero()
	c.wdl = mono(t)
	return c.Conn.SetWriteDeadline(t)
}

// Deadlines are kept as nanoseconds since clockBase on the monotonic
// clock, so that a step of the wall clock (an NTP step, a VM resumed)
// moves none of them: a deadline net/http sets carries a monotonic
// reading, and one without (time.Unix) is fixed when it is set, as
// net.Conn fixes it.
var clockBase = time.Now()

// never is the deadline of none (a zero time.Time), and of any beyond
// 292 years.
const never = math.MaxInt64

// mono is t on the monotonic clock; never for the zero time.
func mono(t time.Time) int64 {
	if t.IsZero() {
		return never
	}
	if t != t.Round(0) || t.Before(clockBase) {
		// A monotonic reading (time.Now().Add: net/http's), or a time
		// before the process began, which is past (net/http's
		// aLongTimeAgo): no clock reading. Sub saturates.
		return int64(t.Sub(clockBase))
	}
	// A wall-clock time (time.Unix, a parsed time) is due when the wall
	// clock reaches it, as net.Conn has it.
	u := time.Until(t)
	if u >= time.Duration(never)/2 {
		return never
	}
	return int64(time.Since(clockBase) + u)
}

// monoTime is mono's inverse, with a monotonic reading.
func monoTime(d int64) time.Time {
	if d == never {
		return time.Time{}
	}
	return clockBase.Add(time.Duration(d))
}

// clock is the monotonic clock (see mono) to within clockTick, read
// without a system clock reading: set on first use, then by a ticker for
// the life of the process.
var clock struct {
	once sync.Once
	now  atomic.Int64
}

func coarseNow() int64 {
	clock.once.Do(func() {
		clock.now.Store(int64(time.Since(clockBase)))
		go func() {
			for t := range time.Tick(clockTick) {
				clock.now.Store(int64(t.Sub(clockBase)))
			}
		}()
	})
	return clock.now.Load()
}
