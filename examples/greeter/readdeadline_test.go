package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// The read bounds of readServer: short, so the tests wait little, and
// distinct, so a test tells which one fired.
const (
	testHeaderBound = 300 * time.Millisecond
	testReadBound   = 600 * time.Millisecond
	testIdleBound   = 1500 * time.Millisecond
)

// readServer serves h over logConns with the read bounds above, as the
// example server does with its own.
func readServer(t *testing.T, h http.Handler) *httptest.Server {
	return readServerWith(t, h, testHeaderBound, testReadBound, testIdleBound)
}

func readServerWith(t *testing.T, h http.Handler, header, read, idle time.Duration) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ReadHeaderTimeout, ts.Config.ReadTimeout, ts.Config.IdleTimeout = header, read, idle
	ts.Listener, _ = logConns(ts.Config, ts.Listener, 0)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

func dialServer(t *testing.T, ts *httptest.Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedAfter waits for the server to close c, reading and discarding
// whatever comes first, and says how long after start it did.
func closedAfter(t *testing.T, c net.Conn, start time.Time) time.Duration {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("the server did not close the connection: %v", err)
	}
	return time.Since(start)
}

// within fails unless d is bound or up to a second more (a bound may
// fire up to clockTick late, and a slow machine adds its own); never
// early, but for the few milliseconds between the server's start of the
// bound and the client's.
func within(t *testing.T, what string, d, bound time.Duration) {
	t.Helper()
	if d < bound-20*time.Millisecond || d > bound+time.Second {
		t.Errorf("%s after %v, want about %v", what, d, bound)
	}
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

// getOn sends GET / on c and reads its answer.
func getOn(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a hung server fails the test, not go test's timeout
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer on the connection: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
}

// TestReadBoundHeader: a client that never finishes its request's headers
// holds the connection for the header bound, no longer.
func TestReadBoundHeader(t *testing.T) {
	c := dialServer(t, readServer(t, okHandler))
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // no blank line: the headers never end
	within(t, "closed", closedAfter(t, c, start), testHeaderBound)
}

// TestReadBoundIdle: an idle connection stays open until the idle bound,
// though the socket's deadline is set only the shorter header bound
// ahead; then it is closed.
func TestReadBoundIdle(t *testing.T) {
	c := dialServer(t, readServer(t, okHandler))
	getOn(t, c, bufio.NewReader(c))
	start := time.Now()
	within(t, "the idle connection closed", closedAfter(t, c, start), testIdleBound)
}

// TestReadBoundPause: a connection that waits longer than the header and
// request bounds between two requests, but less than the idle bound,
// serves the second on the same connection.
func TestReadBoundPause(t *testing.T) {
	c := dialServer(t, readServer(t, okHandler))
	br := bufio.NewReader(c)
	getOn(t, c, br)
	time.Sleep(testReadBound + testHeaderBound) // 0.6 s short of the idle bound
	getOn(t, c, br)
}

// TestReadBoundWholeRequest: a request whose body stalls fails its
// handler's read at the request bound, measured from the request's start.
func TestReadBoundWholeRequest(t *testing.T) {
	failed := make(chan time.Time, 1) // the clock is read on the handler's side: no data race
	errs := make(chan error, 1)
	ts := readServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		failed <- time.Now()
		errs <- err
	}))
	c := dialServer(t, ts)
	start := time.Now()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789") // 90 bytes short
	select {
	case at := <-failed:
		if err := <-errs; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("body read error %v, want a deadline exceeded", err)
		}
		within(t, "the body read failed", at.Sub(start), testReadBound)
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled body still blocks the handler after 10 s")
	}
}

// TestReadBoundExplicit: a read deadline a handler sets, earlier than the
// one on the socket, holds (to within clockTick), rather than the
// socket's a second ahead.
func TestReadBoundExplicit(t *testing.T) {
	const deadline = 100 * time.Millisecond
	took := make(chan time.Duration, 1)
	errs := make(chan error, 1)
	ts := readServerWith(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if err := http.NewResponseController(w).SetReadDeadline(start.Add(deadline)); err != nil {
			t.Error(err)
		}
		_, err := io.ReadAll(r.Body)
		took <- time.Since(start)
		errs <- err
	}), time.Second, 2*time.Second, 3*time.Second)
	c := dialServer(t, ts)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	select {
	case d := <-took:
		if err := <-errs; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("body read error %v, want a deadline exceeded", err)
		}
		if d < deadline || d > deadline+clockTick+400*time.Millisecond {
			t.Errorf("the body read failed after %v, want %v", d, deadline)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled body still blocks the handler after 10 s")
	}
}

// TestReadBoundSlowHandler: a handler that runs past every read bound
// still answers (net/http's background read, which waits meanwhile, sees
// only false alarms), and a client that hangs up during a long handler
// still cancels its request's context.
func TestReadBoundSlowHandler(t *testing.T) {
	cancelled := make(chan time.Time, 1) // zero: not in 10 s
	slowCtx := make(chan error, 1)
	ts := readServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(testIdleBound + testHeaderBound)
			slowCtx <- r.Context().Err() // a false alarm taken for an error would have cancelled it
			io.WriteString(w, "slow")
			return
		}
		select { // /wait: until the client hangs up
		case <-r.Context().Done():
			cancelled <- time.Now()
		case <-time.After(10 * time.Second):
			cancelled <- time.Time{}
		}
	}))

	resp, err := ts.Client().Get(ts.URL + "/slow")
	if err != nil {
		t.Fatalf("a handler slower than the read bounds: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "slow" {
		t.Errorf("body %q", body)
	}
	if err := <-slowCtx; err != nil {
		t.Errorf("the slow request's context ended while its client waited: %v", err)
	}

	c := dialServer(t, ts)
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	hangUp := testReadBound + testHeaderBound // after the socket's deadline has come and gone
	time.Sleep(hangUp)
	start := time.Now()
	c.Close()
	if at := <-cancelled; at.IsZero() || at.Before(start) || at.Sub(start) > time.Second {
		t.Errorf("the request's context was cancelled %v after the client hung up (at %v; zero: not in 10 s)", at.Sub(start), at)
	}
}

// TestReadStep: the shortest read bound, as net/http applies them.
func TestReadStep(t *testing.T) {
	for _, tc := range []struct {
		hdr, read, idle, want time.Duration
	}{
		{5 * time.Second, 10 * time.Second, 60 * time.Second, 5 * time.Second},
		{0, 10 * time.Second, 60 * time.Second, 10 * time.Second},
		{0, 0, 60 * time.Second, 60 * time.Second},
		{20 * time.Second, 10 * time.Second, 0, 10 * time.Second},
		{0, 0, 0, 0},
	} {
		srv := &http.Server{ReadHeaderTimeout: tc.hdr, ReadTimeout: tc.read, IdleTimeout: tc.idle}
		if got := readStep(srv); got != tc.want {
			t.Errorf("readStep(header %v, read %v, idle %v) = %v, want %v", tc.hdr, tc.read, tc.idle, got, tc.want)
		}
	}
}

// TestReadDeadlineTimes: a deadline at the Unix epoch is in the past (it
// wakes a read), not "none"; the zero time is none; mono and monoTime
// agree.
func TestReadDeadlineTimes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c, err := logListener{Listener: acceptOnce{raw}, logs: &connLogs{}, readStep: time.Second}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	read := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); read <- err }()
	time.Sleep(50 * time.Millisecond) // the read blocks
	c.SetReadDeadline(time.Unix(0, 0))
	select {
	case err := <-read:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read error %v, want a deadline exceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a deadline at the Unix epoch did not wake the read")
	}

	c.SetReadDeadline(time.Time{})
	go func() { _, err := c.Read(make([]byte, 1)); read <- err }()
	select {
	case err := <-read:
		t.Fatalf("read with no deadline returned %v", err)
	case <-time.After(1500 * time.Millisecond): // past readStep: its false alarm is read through
	}
	client.Write([]byte("x"))
	if err := <-read; err != nil {
		t.Errorf("read: %v", err)
	}

	now := time.Now()
	if got := monoTime(mono(now)); !got.Equal(now) {
		t.Errorf("monoTime(mono(%v)) = %v", now, got)
	}
	if mono(time.Time{}) != never || !monoTime(never).IsZero() {
		t.Error("the zero time is not never")
	}
	if mono(time.Unix(1, 0)) >= 0 {
		t.Error("net/http's aLongTimeAgo is not in the past")
	}
	// A wall-clock time (no monotonic reading) is as far ahead as the
	// wall clock says.
	if d := time.Duration(mono(now.Round(0).Add(time.Hour)) - mono(now)); d < time.Hour-time.Second || d > time.Hour+time.Second {
		t.Errorf("a wall-clock time an hour ahead is %v ahead", d)
	}
	if mono(time.Unix(1<<62, 0)) != never || mono(now.AddDate(300, 0, 0)) != never {
		t.Error("a deadline centuries ahead is not never")
	}
}

// acceptOnce is a listener that hands out one connection.
type acceptOnce struct{ c net.Conn }

func (a acceptOnce) Accept() (net.Conn, error) { return a.c, nil }
func (a acceptOnce) Close() error              { return nil }
func (a acceptOnce) Addr() net.Addr            { return a.c.LocalAddr() }
