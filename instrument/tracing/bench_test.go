package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/instrument/tracing"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store/memory"
)

// BenchmarkGreeter measures what tracing adds to a request served by the
// Greeter over the memory store, in process:
//
//	off          no tracing at all (the example server without OTEL_*)
//	noop         every hook wired to a Tracer over the no-op provider
//	sampled-out  the SDK with a sampler that records nothing
//	sampled      the SDK recording every span, exported to a no-op
//	             exporter as each ends (the cost of making spans, not of
//	             shipping them)
//	otelhttp     for the HTTP span alone: otelhttp.NewHandler with the
//	             same recording provider, against Handler alone
//	             (http-only), neither with store or session spans
//
// Run: go test ./instrument/tracing -run '^$' -bench Greeter -benchmem
func BenchmarkGreeter(b *testing.B) {
	recording := func(b *testing.B) trace.TracerProvider {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		b.Cleanup(func() { tp.Shutdown(context.Background()) })
		return tp
	}
	variants := []struct {
		name string
		h    func(b *testing.B) http.Handler
	}{
		{"off", func(b *testing.B) http.Handler { return plainGreeter(b) }},
		{"noop", func(b *testing.B) http.Handler {
			return tracedGreeter(b, tracing.New(&tracing.Options{Provider: noop.NewTracerProvider()}))
		}},
		{"sampled-out", func(b *testing.B) http.Handler {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
			return tracedGreeter(b, tracing.New(&tracing.Options{Provider: tp, Propagator: propagation.TraceContext{}}))
		}},
		{"sampled", func(b *testing.B) http.Handler {
			return tracedGreeter(b, tracing.New(&tracing.Options{Provider: recording(b), Propagator: propagation.TraceContext{}}))
		}},
		{"http-only", func(b *testing.B) http.Handler {
			tr := tracing.New(&tracing.Options{Provider: recording(b), Propagator: propagation.TraceContext{}})
			return tr.Handler(plainGreeter(b))
		}},
		{"otelhttp", func(b *testing.B) http.Handler {
			return otelhttp.NewHandler(plainGreeter(b), "greeter",
				otelhttp.WithTracerProvider(recording(b)), otelhttp.WithPropagators(propagation.TraceContext{}))
		}},
	}
	for _, route := range []string{"greet", "read", "rmw"} {
		for _, v := range variants {
			b.Run(route+"/"+v.name, func(b *testing.B) {
				h := v.h(b)
				token := ""
				if route != "greet" {
					w := serve(h, httptest.NewRequest("POST", "/session", strings.NewReader(`{"name":"Alice"}`)))
					token = w.Header().Get("X-Session-Token")
					if token == "" {
						b.Fatalf("login: %d", w.Code)
					}
				}
				b.ReportAllocs()
				for b.Loop() {
					var r *http.Request
					switch route {
					case "greet":
						r = httptest.NewRequest("GET", "/greet?name=Alice", nil)
					case "read":
						r = httptest.NewRequest("GET", "/session", nil)
					case "rmw":
						r = httptest.NewRequest("POST", "/session/visits", nil)
					}
					if token != "" {
						r.Header.Set("X-Session-Token", token)
					}
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("%s: %d %s", route, w.Code, w.Body)
					}
				}
			})
		}
	}
}

// plainGreeter is tracedGreeter without any tracing.
func plainGreeter(b *testing.B) http.Handler {
	st := memory.New(nil)
	b.Cleanup(func() { st.Close() })
	sm, err := session.New(st, greeter.SessionOptions())
	if err != nil {
		b.Fatal(err)
	}
	return greeter.New(st, &greeter.Options{Sessions: sm})
}
