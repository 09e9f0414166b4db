package main

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/store/memory"
)

// benchSink is a reusable ResponseWriter, so that the benchmarks count the
// handler's allocations and not a recorder's.
type benchSink struct {
	header http.Header
	code   int
}

func (s *benchSink) Header() http.Header { return s.header }
func (s *benchSink) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}
func (s *benchSink) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return len(p), nil
}

// BenchmarkGreetBearer: what a Bearer token seen before (a verified-token
// cache hit) adds to GET /greet, against GET /greet?name=X on the same
// Greeter, in process: the in-process half of issue 12's load ratio.
func BenchmarkGreetBearer(b *testing.B) {
	ctx := context.Background()
	st := memory.New(nil)
	tk, err := newTokens(ctx, st, "", 10*time.Minute, 0, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tk.Close()
	h := greeter.New(st, &greeter.Options{Tokens: tk})
	tok, _, err := tk.Issue(ctx, "Alice", "sid-1")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name, target, bearer string
	}{
		{"name", "/greet?name=Alice", ""},
		{"bearer", "/greet", tok},
	} {
		b.Run(c.name, func(b *testing.B) {
			r, _ := http.NewRequest(http.MethodGet, c.target, nil)
			if c.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+c.bearer)
			}
			w := &benchSink{header: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.header)
				w.code = 0
				h.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					b.Fatalf("GET %s: %d", c.target, w.code)
				}
			}
		})
	}
}
