package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"testing"
	"time"
)

// boundServer serves h with writes bounded by bound, as the example server
// does (its Server.WriteTimeout 0).
func boundServer(t *testing.T, h http.Handler, bound time.Duration) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	ts.Listener, _ = logConns(ts.Config, ts.Listener, bound)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// writeUntilFail writes a large body in pieces and reports the first
// error and how long the writes took; a nil error if all went out.
func writeUntilFail(w http.ResponseWriter, report chan<- error, took chan<- time.Duration) {
	start := time.Now()
	chunk := make([]byte, 32<<10)
	var err error
	for range 2048 { // 64 MiB: far more than the socket buffers hold
		if _, err = w.Write(chunk); err != nil {
			break
		}
	}
	took <- time.Since(start)
	report <- err
}

// sendAndStall sends GET / and reads nothing back.
func sendAndStall(t *testing.T, ts *httptest.Server) net.Conn {
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWriteBoundStalledClient: a client that stops reading holds the
// handler's write only until the bound passes; the write fails with a
// timeout. (Without a bound, the write would wait for ever.)
func TestWriteBoundStalledClient(t *testing.T) {
	const bound = 400 * time.Millisecond
	errs, took := make(chan error, 1), make(chan time.Duration, 1)
	ts := boundServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeUntilFail(w, errs, took) }), bound)
	sendAndStall(t, ts)
	select {
	case err := <-errs:
		d := <-took
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("write error %v, want a deadline exceeded", err)
		}
		if min := bound*15/16 - clockTick - 50*time.Millisecond; d < min || d > bound+time.Second {
			t.Errorf("the write failed after %v, want about %v (at least %v)", d, bound, min)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write to a client that reads nothing still blocks after 10 s")
	}
}

// TestWriteBoundExplicitDeadline: a deadline a handler sets holds instead
// of the bound, until net/http clears it after the response.
func TestWriteBoundExplicitDeadline(t *testing.T) {
	errs, took := make(chan error, 1), make(chan time.Duration, 1)
	ts := boundServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(150 * time.Millisecond)); err != nil {
			t.Error(err)
		}
		writeUntilFail(w, errs, took)
	}), time.Minute)
	sendAndStall(t, ts)
	select {
	case err := <-errs:
		if d := <-took; !errors.Is(err, os.ErrDeadlineExceeded) || d > 5*time.Second {
			t.Errorf("write failed after %v with %v, want the handler's 150 ms deadline", d, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's deadline did not hold: the write still blocks after 10 s")
	}
}

// TestWriteBoundIdleConnection: the deadline of a connection that sat
// idle for longer than the bound has passed; its next response must go
// out all the same, as must those of a busy connection over many bounds.
func TestWriteBoundIdleConnection(t *testing.T) {
	const bound = 300 * time.Millisecond
	ts := boundServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	}), bound)
	c := ts.Client()
	get := func(wantReused bool) {
		t.Helper()
		reused := false
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", ts.URL, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "ok\n" {
			t.Fatalf("body %q, %v", b, err)
		}
		if wantReused && !reused {
			t.Fatal("the connection was not reused: a response on it failed (a write deadline left in the past?), and the client retried on a new one")
		}
	}
	get(false)
	for range 3 {
		time.Sleep(bound + 2*clockTick)
		get(true)
	}
	for end := time.Now().Add(3 * bound); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		get(true)
	}
}

// TestWriteBoundHijacked: a hijacked connection is its handler's; the
// deadline the response before it armed does not cut the handler's
// writes, however long it takes.
func TestWriteBoundHijacked(t *testing.T) {
	const bound = 200 * time.Millisecond
	done := make(chan error, 1)
	ts := boundServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hijack" {
			io.WriteString(w, "first\n")
			return
		}
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		time.Sleep(bound + 3*clockTick)
		bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
		done <- bw.Flush()
	}), bound)
	c := sendAndStall(t, ts) // GET /: its response arms the bound
	br := bufio.NewReader(c)
	for i, want := range []string{"first\n", "ok\n"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Fatalf("response %d: body %q, want %q", i, b, want)
		}
		if i == 0 {
			io.WriteString(c, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
		}
	}
	if err := <-done; err != nil {
		t.Errorf("hijacked write after the bound: %v", err)
	}
}
