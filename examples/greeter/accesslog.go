package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// maxLoggedPath bounds the path in a log line; a client chooses the path,
// and a log line should not cost more than the request.
const maxLoggedPath = 256

// errClientGone is logged for a response the client was no longer there to
// receive: its connection closed before the handler finished.
var errClientGone = errors.New("client connection closed before the response was sent")

// accessLog logs one line per request after it is served: method, path,
// status, response bytes and duration. It logs nothing else of the request
// on purpose: the query string may carry names or tokens, and the headers
// carry cookies and X-Session-Token.
//
// The line tells what the client got, not only what the handler wrote. On
// a server set up by logConns (the example server is), the line waits
// until net/http has sent the response, which it does after the handler
// returns: it is written when the connection goes idle, or when it closes
// after the response. If sending failed (the client hung up, the server's
// write timeout passed while the handler waited), or any earlier write
// failed, or the client's connection had already closed when the handler
// returned, the line carries aborted=true and an error attribute saying
// why; status and bytes are then what the handler meant to send. Waiting
// costs nothing: flushing the response from the handler to learn the
// same, as this did at first, sent the response while net/http's
// background read of the connection was still waiting, so the client's
// next request woke it on every request. Elsewhere (an httptest.ResponseRecorder, a server
// without logConns, HTTP/2) the line is written when the handler returns,
// with the write errors and the closed connection the handler saw.
//
// accessLog must run on the goroutine net/http serves the request on, as
// the outermost handlers do: not under an http.TimeoutHandler.
//
// The options (accessLogOptions) say which lines are written and how. A
// handler that panics is neither logged nor counted.
func accessLog(log *slog.Logger, next http.Handler, o accessLogOptions) http.Handler {
	a := &accessLogger{log: log, accessLogOptions: o}
	count := o.count
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logged := log.Enabled(r.Context(), slog.LevelInfo)
		if !logged && count == nil {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		// An HTTP/1 connection serves one request at a time: its
		// requests share one recorder, which spares each an
		// allocation.
		lc, _ := r.Context().Value(logConnKey{}).(*logConn)
		if r.ProtoMajor != 1 {
			lc = nil
		}
		var rec *recorder
		if lc != nil && w != http.ResponseWriter(&lc.rec) { // not under another accessLog's
			rec = &lc.rec
			*rec = recorder{ResponseWriter: w}
			defer func() { *rec = recorder{} }() // holds the request's writer no longer
		} else {
			rec = &recorder{ResponseWriter: w}
		}
		next.ServeHTTP(rec, r)
		status, bytes, err := rec.status, rec.bytes, rec.err
		if count != nil {
			count(r, status, time.Since(start))
		}
		if !logged {
			return
		}
		if err == nil && r.Context().Err() != nil {
			// A write to a connection the peer has closed can still
			// succeed (the kernel takes it; the peer answers with a
			// reset), so the closed connection is the surer sign.
			err = errClientGone
		}
		if status == 0 {
			status = http.StatusOK // nothing written: net/http sends 200
		}
		l := accessLine{a: a, ctx: r.Context(), method: r.Method, path: r.URL.Path, status: status, bytes: bytes, start: start, err: err}
		if lc != nil && !lc.hijacked && lc.line.a == nil { // not hijacked by the handler; no inner access log's line waiting
			lc.line = l // written by logConnState once sent
			lc.logs.pending.Add(1)
			return
		}
		l.write(nil)
	})
}

// accessLogOptions are accessLog's; the zero value logs every request
// but successful probes, through slog.
type accessLogOptions struct {
	// Health checks (/healthz, /readyz: a balancer probes them every
	// second or so) that succeed are not logged unless logHealth; a
	// failing one (a 503 while draining or while the store is down) is.
	logHealth bool

	// direct, when not nil, writes the common line (no error, a plain
	// path) itself, in the very format of log's handler, instead of
	// through slog: see lineWriter for why, and for when it is safe.
	direct *lineWriter

	// count, when not nil, is given each request's status and the time
	// its handler took, whatever the log's level: the metrics
	// (metrics.go), so that one timing and one recorder serve both.
	count requestCounter

	// sample, when not nil, samples the lines of successful requests
	// (logsample.go).
	sample *sampler
}

// requestCounter is given a request, its status (0: nothing written,
// which net/http answers 200) and the time its handler took.
type requestCounter func(r *http.Request, status int, d time.Duration)

type accessLogger struct {
	log *slog.Logger
	accessLogOptions
}

// accessLine is a request's line, until it is written.
type accessLine struct {
	a            *accessLogger
	ctx          context.Context // the request's: a trace ID comes from it
	method, path string
	status       int
	bytes        int64
	start        time.Time
	err          error // of the handler's writes, or errClientGone
}

// write writes the line; sendErr is the error of sending the response
// after the handler returned, if any.
func (l *accessLine) write(sendErr error) {
	a, err := l.a, l.err
	if err == nil {
		err = sendErr
	}
	if !a.logHealth && err == nil && l.status < 300 && (l.path == "/healthz" || l.path == "/readyz") {
		return
	}
	if a.sample != nil && err == nil && l.status < 400 && !a.sample.keep() {
		return
	}
	path := l.path
	if a.direct != nil && err == nil && plainPath(path) && plainMethod(l.method) {
		end := time.Now()
		a.direct.request(end, l.method, path, l.status, l.bytes, end.Sub(l.start))
		return
	}
	// Further fields (a trace ID) go to the slog line below; tracing
	// on, main passes no direct writer.
	if len(path) > maxLoggedPath {
		path = path[:maxLoggedPath] + "…"
	}
	attrs := []slog.Attr{
		slog.String("method", l.method),
		slog.String("path", path),
		slog.Int("status", l.status),
		slog.Int64("bytes", l.bytes),
		slog.Duration("duration", time.Since(l.start)),
	}
	if err != nil {
		// Write errors name the connection's addresses and the
		// failure (broken pipe, i/o timeout), never request data.
		attrs = append(attrs, slog.Bool("aborted", true), slog.String("error", err.Error()))
	}
	a.log.LogAttrs(l.ctx, slog.LevelInfo, "request", attrs...)
}

// recorder notes the status and size of a response on its way out, and the
// first write error.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	err    error
}

func (r *recorder) WriteHeader(code int) {
	// 1xx answers other than 101 are interim: the final status follows.
	if r.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer (for
// Flush, deadlines) through the recorder.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logConns sets srv up so that access-log lines wait for their responses
// to be sent (see accessLog), and returns the listener srv must serve:
// ln, its connections noting their write errors. After a shutdown, wait
// on the connLogs for the last lines: srv.Shutdown can return as a
// connection goes idle, before its hook has written the line.
//
// writeBound, when not 0, bounds every write to a connection instead of
// srv.WriteTimeout, which must then be 0: see writebound.go. srv's read
// timeouts must be set before: the connections apply them lazily
// (readdeadline.go).
func logConns(srv *http.Server, ln net.Listener, writeBound time.Duration) (net.Listener, *connLogs) {
	logs := &connLogs{}
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if lc, ok := c.(*logConn); ok {
			return context.WithValue(ctx, logConnKey{}, lc)
		}
		return ctx
	}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		logConnState(c, s)
		if prev != nil {
			prev(c, s)
		}
	}
	return logListener{ln, logs, writeBound, readStep(srv)}, logs
}

// connLogs counts the lines of a server's connections that wait for their
// responses to be sent.
type connLogs struct{ pending atomic.Int64 }

// wait waits until no line is waiting, for at most d. After srv.Shutdown
// (or srv.Close) it is short: every connection is idle or closed, so
// every hook has run or is running.
func (l *connLogs) wait(d time.Duration) {
	for end := time.Now().Add(d); l.pending.Load() > 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
}

type logConnKey struct{}

// logListener's connections are logConns.
type logListener struct {
	net.Listener
	logs       *connLogs
	writeBound time.Duration
	readStep   time.Duration
}

func (l logListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &logConn{Conn: c, logs: l.logs, bound: l.writeBound, rstep: l.readStep}
	lc.rd.asked.Store(never) // a new socket has no read deadline
	lc.rd.set, lc.wdl = never, never
	return lc, nil
}

// logConn is a server connection that notes its first write error, and
// holds the line of the request it is answering until the answer is sent.
// net/http serves an HTTP/1 connection's requests one after the other on
// one goroutine, writes to it from that goroutine only, and calls
// ConnState there too, so its fields need no lock.
type logConn struct {
	net.Conn
	logs     *connLogs
	werr     error
	line     accessLine // the line waiting for its response to be sent; a nil when none
	rec      recorder   // of the request being served (accessLog)
	hijacked bool       // by the handler: net/http is done with c

	// The write bound (writebound.go): bound is 0 for none; wdl is the
	// write deadline in force (see mono; never for none), explicit whether
	// it is one net/http or a handler set rather than the bound.
	bound    time.Duration
	wdl      int64
	explicit bool

	// Read deadlines (readdeadline.go): rstep is 0 when they go to the
	// socket as they are asked for.
	rstep time.Duration
	rd    readDeadline
}

func (c *logConn) Write(b []byte) (int, error) {
	if c.bound > 0 && !c.explicit && !c.hijacked {
		c.armWriteBound()
	}
	n, err := c.Conn.Write(b)
	if err != nil && c.werr == nil {
		c.werr = err
	}
	return n, err
}

// CloseWrite keeps the half-close net/http does on a *net.TCPConn before
// closing a connection whose request body it did not read.
func (c *logConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// logConnState writes the waiting line of c once its response is sent:
// when the connection goes idle (sent), or closes after the response
// (sent, unless a write failed). A handler that hijacks the connection
// gets its line written when it returns.
func logConnState(c net.Conn, s http.ConnState) {
	lc, ok := c.(*logConn)
	if !ok {
		return
	}
	if s == http.StateHijacked {
		lc.hijacked = true // during the handler: its line is written at once
	}
	if lc.line.a == nil { // no line waiting
		return
	}
	var err error
	switch s {
	case http.StateIdle:
	case http.StateClosed:
		err = lc.werr
	default:
		return
	}
	l := lc.line
	lc.line = accessLine{}
	l.write(err)
	lc.logs.pending.Add(-1)
}
