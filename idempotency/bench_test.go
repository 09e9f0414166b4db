package idempotency_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stateless-go/stateless/idempotency"
)

// The middleware's own cost over store/memory, with a handler that reads a
// small JSON body and answers a small JSON body. Compare each figure with
// BenchmarkPassThrough, which is the handler alone plus one method check.

const benchBody = `{"name":"Alice","item":"book","quantity":1}`

func benchHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"name":"Alice","visits":1}`)
	})
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

func benchServe(b *testing.B, h http.Handler, key func(i int) string) {
	b.ReportAllocs()
	body := strings.NewReader(benchBody)
	r, _ := http.NewRequest("POST", "http://example.com/orders", io.NopCloser(body))
	r.ContentLength = int64(len(benchBody))
	w := &discard{h: http.Header{}}
	i := 0
	for b.Loop() {
		body.Reset(benchBody)
		clear(w.h)
		if k := key(i); k != "" {
			r.Header[idempotency.HeaderKey] = []string{k}
		}
		h.ServeHTTP(w, r)
		i++
	}
}

// BenchmarkFirstExecution: a fresh key every time (read, create, run,
// complete).
func BenchmarkFirstExecution(b *testing.B) {
	h := newMiddleware(b, newMemory(), nil).Handler(benchHandler())
	benchServe(b, h, func(i int) string { return "key-" + strconv.Itoa(i) })
}

// BenchmarkReplay: one key, replayed (one read).
func BenchmarkReplay(b *testing.B) {
	h := newMiddleware(b, newMemory(), nil).Handler(benchHandler())
	benchServe(b, h, func(int) string { return "the-key" })
}

// BenchmarkPassThrough: no key.
func BenchmarkPassThrough(b *testing.B) {
	h := newMiddleware(b, newMemory(), nil).Handler(benchHandler())
	benchServe(b, h, func(int) string { return "" })
}

// BenchmarkHandlerAlone: the handler without the middleware.
func BenchmarkHandlerAlone(b *testing.B) {
	benchServe(b, benchHandler(), func(int) string { return "" })
}
