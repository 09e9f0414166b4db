package greeter_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/store/memory"
)

func benchmarkGET(b *testing.B, target string) {
	h := greeter.New(memory.New(nil), nil)
	r := httptest.NewRequest(http.MethodGet, target, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s: status %d", target, w.Code)
		}
	}
}

func BenchmarkGreet(b *testing.B)        { benchmarkGET(b, "/greet?name=Alice") }
func BenchmarkGreetNoName(b *testing.B)  { benchmarkGET(b, "/greet") }
func BenchmarkGreetEscaped(b *testing.B) { benchmarkGET(b, "/greet?name=Jos%C3%A9+%3Cb%3E") }
func BenchmarkReadyz(b *testing.B)       { benchmarkGET(b, "/readyz") }

// BenchmarkVisits compares, in process over the memory store, what
// issue 13's load ratios compare: POST /session/visits without a key, with
// a new Idempotency-Key each time, and replayed (one key), and GET
// /session, the session read a replay is held against.
func BenchmarkVisits(b *testing.B) {
	h := greeter.New(memory.New(nil), nil)
	r := httptest.NewRequest(http.MethodPost, "/session", strings.NewReader(`{"name":"Alice"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	tok := w.Header().Get("X-Session-Token")
	if w.Code != http.StatusCreated || tok == "" {
		b.Fatalf("login: %d", w.Code)
	}
	for _, c := range []struct {
		name, method, path, key string
	}{
		{"post", http.MethodPost, "/session/visits", ""},
		{"post-fresh-key", http.MethodPost, "/session/visits", "fresh"},
		{"post-replay", http.MethodPost, "/session/visits", "one-key"},
		{"get-session", http.MethodGet, "/session", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := httptest.NewRequest(c.method, c.path, nil)
				r.Header.Set("X-Session-Token", tok)
				switch c.key {
				case "":
				case "fresh":
					r.Header.Set("Idempotency-Key", "k"+strconv.Itoa(i))
				default:
					r.Header.Set("Idempotency-Key", c.key)
				}
				i++
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("%s %s: %d", c.method, c.path, w.Code)
				}
			}
		})
	}
}
