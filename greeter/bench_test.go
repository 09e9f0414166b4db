package greeter_test

import (
	"net/http"
	"net/http/httptest"
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
