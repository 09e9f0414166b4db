package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/stateless-go/stateless/instrument/tracing"
)

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("item"))
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/bad", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	})
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
	})
	return mux
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerServerSpan(t *testing.T) {
	tr, rec := newTracer(t, nil)
	h := tr.Handler(testMux())
	w := serve(h, httptest.NewRequest("GET", "/items/42?name=Alice&token=sekrit", nil))
	if w.Code != 200 || w.Body.String() != "item" {
		t.Fatalf("response %d %q, want 200 item", w.Code, w.Body)
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1: %s", len(spans), names(spans))
	}
	s := spans[0]
	if s.Name() != "GET /items/{id}" {
		t.Errorf("span name %q, want %q", s.Name(), "GET /items/{id}")
	}
	if s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span kind %v, want server", s.SpanKind())
	}
	a := attrs(s)
	want := map[string]string{
		"http.request.method":       "GET",
		"http.route":                "/items/{id}",
		"http.response.status_code": "200",
		"url.path":                  "/items/42",
		"url.scheme":                "http",
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, a[k], v)
		}
	}
	if s.Status().Code != codes.Unset {
		t.Errorf("status %v, want unset", s.Status())
	}
	checkNoSecret(t, spans, "sekrit", "Alice")
}

func TestHandlerStatus(t *testing.T) {
	tr, rec := newTracer(t, nil)
	h := tr.Handler(testMux())
	serve(h, httptest.NewRequest("POST", "/fail", nil))
	serve(h, httptest.NewRequest("GET", "/bad", nil))
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	if s := spans[0]; s.Status().Code != codes.Error || attrs(s)["error.type"] != "503" {
		t.Errorf("503: status %v, error.type %q; want Error, 503", s.Status(), attrs(s)["error.type"])
	}
	if s := spans[1]; s.Status().Code != codes.Unset || attrs(s)["http.response.status_code"] != "400" {
		t.Errorf("400: status %v, code %q; want unset (a client error), 400", s.Status(), attrs(s)["http.response.status_code"])
	}
}

func TestHandlerPropagatesW3C(t *testing.T) {
	tr, rec := newTracer(t, nil)
	var inner trace.SpanContext
	h := tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	serve(h, r)
	s := rec.Ended()[0]
	if got := s.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace ID %s, want the caller's", got)
	}
	if got := s.Parent().SpanID().String(); got != "00f067aa0ba902b7" || !s.Parent().IsRemote() {
		t.Errorf("parent %s (remote %v), want the caller's span 00f067aa0ba902b7", got, s.Parent().IsRemote())
	}
	if inner.SpanID() != s.SpanContext().SpanID() {
		t.Errorf("the handler's context holds span %s, want the server span %s", inner.SpanID(), s.SpanContext().SpanID())
	}
	if s.Name() != "GET" {
		t.Errorf("span name %q without a route, want the method alone", s.Name())
	}
}

func TestHandlerPublicEndpoint(t *testing.T) {
	tr, rec := newTracer(t, &tracing.Options{PublicEndpoint: true})
	h := tr.Handler(testMux())
	r := httptest.NewRequest("GET", "/items/1", nil)
	r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	serve(h, r)
	s := rec.Ended()[0]
	if s.SpanContext().TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().IsValid() {
		t.Errorf("public endpoint continued the caller's trace (parent %v)", s.Parent())
	}
	if len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("links %v, want one to the caller's span", s.Links())
	}
}

func TestHandlerBoundsClientInput(t *testing.T) {
	tr, rec := newTracer(t, nil)
	h := tr.Handler(testMux())
	long := "/" + strings.Repeat("é", 400) + "%ff"
	serve(h, httptest.NewRequest("BREW", long, nil))
	s := rec.Ended()[0]
	a := attrs(s)
	if a["http.request.method"] != "_OTHER" || s.Name() != "HTTP" {
		t.Errorf("unknown method: attribute %q, name %q; want _OTHER, HTTP", a["http.request.method"], s.Name())
	}
	p := a["url.path"]
	if len(p) > 256+3 || !utf8.ValidString(p) {
		t.Errorf("url.path is %d bytes, valid UTF-8 %v: want at most 256 bytes (+ one replacement), valid", len(p), utf8.ValidString(p))
	}
}

func TestHandlerFilter(t *testing.T) {
	tr, rec := newTracer(t, &tracing.Options{Filter: func(r *http.Request) bool { return r.URL.Path != "/healthz" }})
	h := tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	serve(h, httptest.NewRequest("GET", "/healthz", nil))
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("filtered request made %d spans", n)
	}
	serve(h, httptest.NewRequest("GET", "/other", nil))
	if n := len(rec.Ended()); n != 1 {
		t.Errorf("unfiltered request made %d spans, want 1", n)
	}
}

func TestHandlerFlushes(t *testing.T) {
	tr, _ := newTracer(t, nil)
	w := serve(tr.Handler(testMux()), httptest.NewRequest("GET", "/flush", nil))
	if !w.Flushed {
		t.Error("a handler's Flush did not reach the writer")
	}
}

// copying stands for middleware that passes a copy of the request on, as
// a session middleware does: the ServeMux then sets the Pattern on the copy.
func copying(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), struct{}{}, 1)))
	})
}

func TestMuxRoute(t *testing.T) {
	mux := testMux()
	tr, rec := newTracer(t, &tracing.Options{Route: tracing.MuxRoute(mux)})
	serve(tr.Handler(copying(mux)), httptest.NewRequest("GET", "/items/7", nil))
	if s := rec.Ended()[0]; s.Name() != "GET /items/{id}" || attrs(s)["http.route"] != "/items/{id}" {
		t.Errorf("behind a copying middleware: name %q, route %q; want the pattern", s.Name(), attrs(s)["http.route"])
	}

	tr2, rec2 := newTracer(t, nil)
	serve(tr2.Handler(copying(mux)), httptest.NewRequest("GET", "/items/7", nil))
	if s := rec2.Ended()[0]; s.Name() != "GET" {
		t.Errorf("without MuxRoute behind a copying middleware: name %q, want the method alone", s.Name())
	}
}

func TestNoopProviderIsOff(t *testing.T) {
	tr := tracing.New(&tracing.Options{Provider: noop.NewTracerProvider()})
	if tr.Enabled() {
		t.Error("Enabled() with the no-op provider")
	}
	mux := testMux()
	if h := tr.Handler(mux); h != http.Handler(mux) {
		t.Error("Handler wrapped its handler under the no-op provider")
	}
	if tr.StoreHook("redis") != nil {
		t.Error("StoreHook is not nil under the no-op provider")
	}
}
