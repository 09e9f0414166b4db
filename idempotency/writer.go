package idempotency

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
)

// captureWriter passes the response through to the client while keeping a
// copy for replay: rec is the completed record being built, its head
// (status and allow-listed headers, as they were when the status was
// written) followed by the body so far. Once the response turns out not
// to be replayable (why != reasonNone), the copy is dropped and the rest
// only passes through.
type captureWriter struct {
	http.ResponseWriter
	o *owner

	wrote     bool
	status    int
	why       reason
	rec       []byte
	bodyStart int
}

// start records the status and the headers as they go out.
func (w *captureWriter) start(code int) {
	w.wrote = true
	w.status = code
	switch {
	case code == http.StatusSwitchingProtocols:
		w.drop(reasonUpgrade)
		return
	case isEventStream(w.ResponseWriter.Header()):
		w.drop(reasonStream)
		return
	}
	m, o := w.o.m, w.o
	var hb int
	w.rec, hb = appendCompletedHead(w.rec[:0], &o.fp, o.attempt, code, w.ResponseWriter.Header(), m.c.replayable)
	if hb > MaxHeaderBytes {
		w.drop(reasonTooLarge)
		return
	}
	w.bodyStart = len(w.rec)
}

func (w *captureWriter) drop(why reason) {
	if w.why == reasonNone {
		w.why = why
	}
	w.rec = nil
}

func (w *captureWriter) WriteHeader(code int) {
	if w.wrote || code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational, or superfluous: net/http's to send or complain about.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.start(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *captureWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.start(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	if w.why == reasonNone && !errors.Is(err, http.ErrBodyNotAllowed) {
		// All of p, even if the client is gone: a retry is owed the
		// response the handler gave.
		if int64(len(w.rec)-w.bodyStart+len(p)) > w.o.m.c.maxResponseBody {
			w.drop(reasonTooLarge)
		} else {
			w.rec = append(w.rec, p...)
		}
	}
	return n, err
}

// Flush streams the response, which is then not replayable.
func (w *captureWriter) Flush() {
	w.FlushError()
}

// FlushError is Flush for http.ResponseController.
func (w *captureWriter) FlushError() error {
	if !w.wrote {
		w.start(http.StatusOK)
	}
	w.drop(reasonFlushed)
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection to the handler; what it sends is not seen
// here, so the response is not replayable.
func (w *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		if !w.wrote {
			w.wrote, w.status = true, http.StatusSwitchingProtocols
		}
		w.drop(reasonHijacked)
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the writer underneath for
// deadlines and full duplex.
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish settles a response the handler never began: net/http sends 200
// with no body.
func (w *captureWriter) finish() {
	if !w.wrote {
		w.start(http.StatusOK)
	}
}

func isEventStream(h http.Header) bool {
	const es = "text/event-stream"
	ct := strings.TrimLeft(h.Get("Content-Type"), " \t")
	if len(ct) < len(es) || !strings.EqualFold(ct[:len(es)], es) {
		return false
	}
	rest := ct[len(es):]
	return rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}
