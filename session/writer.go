package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/stateless-go/stateless/store"
)

var errNotSaved = errors.New("session: response replaced: the session could not be saved")

// responseWriter saves the session at the moment the response begins, so
// that a failed save can still turn into an error status.
type responseWriter struct {
	http.ResponseWriter
	s      *Session
	r      *http.Request
	wrote  bool
	failed bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wrote || code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational, or net/http's to complain about
		return
	}
	w.wrote = true
	if err := w.s.finish(); err != nil {
		w.failed = true
		w.s.m.fail(w.ResponseWriter, w.r, err)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return 0, errNotSaved
	}
	return w.ResponseWriter.Write(b)
}

// Flush begins the response (saving the session first) and flushes it.
func (w *responseWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !w.failed {
		http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// done runs after the handler: a handler that wrote nothing still has its
// session saved, and still gets an error status if that fails.
func (w *responseWriter) done() {
	if w.wrote {
		return
	}
	if err := w.s.finish(); err != nil {
		w.wrote, w.failed = true, true
		w.s.m.fail(w.ResponseWriter, w.r, err)
	}
}

// finish saves what is pending (or touches the session) and seals it; the
// response may begin after it returns nil.
func (s *Session) finish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase == sealed {
		return nil
	}
	err := s.save()
	if err == nil {
		s.touchIfDue()
	}
	s.phase = sealed
	return err
}

// fail answers with the error handler, dropping headers the handler had set
// for the response it meant to send.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, ErrConflict) && !errors.Is(err, context.Canceled) {
		m.storeError(r.Context(), "session: save failed; answered with an error status", err)
	}
	clear(w.Header())
	if m.c.onError != nil {
		m.c.onError(w, r, err)
		return
	}
	writeError(w, r, err)
}

// writeError is the default ErrorHandler.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusServiceUnavailable, "session store unavailable"
	switch {
	case errors.Is(err, ErrConflict):
		status, msg = http.StatusConflict, "session changed by a concurrent request; try again"
	case errors.Is(err, ErrTooLarge), errors.Is(err, store.ErrTooLarge):
		status, msg = http.StatusInternalServerError, "session too large to save"
	case errors.Is(err, context.Canceled):
		status, msg = 499, "request canceled"
	}
	body := fmt.Sprintf("{\"error\":%q}\n", msg)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}
