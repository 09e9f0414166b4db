package main

import (
	"errors"
	"log/slog"
	"net/http"
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
// The line tells what the client got, not only what the handler wrote: the
// response is flushed to the connection before the line is logged, and if
// that or any earlier write failed (the client hung up, the server's write
// timeout passed while the handler waited), or the client's connection had
// already closed when the handler returned, the line carries aborted=true
// and an error attribute saying why. Status and bytes are then what the
// handler meant to send. Flushing here, rather than letting net/http do it
// after the handler returns, means a response whose handler set no
// Content-Length (and wrote something) goes out chunked; every greeter
// route sets one.
//
// Health checks (/healthz, /readyz: a balancer probes them every second
// or so) that succeed are not logged unless logHealth; a failing one (a
// 503 while draining or while the store is down) is.
//
// direct, when not nil, writes the common line (no error, a plain path)
// itself, in the very format of log's handler, instead of through slog:
// see lineWriter for why, and for when it is safe.
func accessLog(log *slog.Logger, next http.Handler, logHealth bool, direct *lineWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !log.Enabled(r.Context(), slog.LevelInfo) {
			next.ServeHTTP(w, r)
			return
		}
		probe := !logHealth && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz")
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		err := rec.err
		if err == nil && r.Context().Err() != nil {
			// A write to a connection the peer has closed can still
			// succeed (the kernel takes it; the peer answers with a
			// reset), so the closed connection is the surer sign.
			err = errClientGone
		}
		if err == nil {
			err = rec.flush(r)
		}
		if rec.status == 0 {
			rec.status = http.StatusOK // nothing written: net/http sends 200
		}
		if probe && err == nil && rec.status < 300 {
			return
		}
		path := r.URL.Path
		if direct != nil && err == nil && plainPath(path) && plainMethod(r.Method) {
			end := time.Now()
			direct.request(end, r.Method, path, rec.status, rec.bytes, end.Sub(start))
			return
		}
		// Further fields (a trace ID) go to the slog line below; tracing
		// on, main passes no direct writer.
		if len(path) > maxLoggedPath {
			path = path[:maxLoggedPath] + "…"
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", path),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
		}
		if err != nil {
			// Write errors name the connection's addresses and the
			// failure (broken pipe, i/o timeout), never request data.
			attrs = append(attrs, slog.Bool("aborted", true), slog.String("error", err.Error()))
		}
		// Further fields (a trace ID) go here.
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
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

// flush sends what the server still buffers of the response and returns
// the error of that write. A writer that cannot flush (a test's, say) has
// nothing to report.
func (r *recorder) flush(req *http.Request) error {
	if r.status == 0 {
		// Nothing written: net/http would send an empty 200 with
		// Content-Length: 0, not a chunked one. Say so before the flush
		// sends the header.
		h := r.Header()
		if req.Method != http.MethodHead && h.Get("Content-Length") == "" && h.Get("Transfer-Encoding") == "" && h.Get("Trailer") == "" {
			h.Set("Content-Length", "0")
		}
	}
	err := http.NewResponseController(r.ResponseWriter).Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}

// Unwrap lets http.ResponseController reach the connection's writer (for
// Flush, deadlines) through the recorder.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
