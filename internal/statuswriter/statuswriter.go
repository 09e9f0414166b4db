// Package statuswriter is the ResponseWriter wrapper the instrumentation
// packages share: it notes the final status a handler sends.
package statuswriter

import "net/http"

// Writer notes the final status of a response in Status (0 until the
// handler sends one; a body or a flush without one means 200).
type Writer struct {
	http.ResponseWriter
	Status int
}

// WriteHeader notes code unless it is an interim 1xx (other than 101):
// the final status follows those.
func (w *Writer) WriteHeader(code int) {
	if w.Status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *Writer) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes a flush on, for handlers that assert http.Flusher; a
// writer underneath that cannot flush has nothing to report.
func (w *Writer) Flush() {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
