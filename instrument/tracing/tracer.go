package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of every span the package makes.
const ScopeName = "github.com/stateless-go/stateless/instrument/tracing"

// Options configure a Tracer. A nil *Options, or a zero field, means the
// default given beside it.
type Options struct {
	// Provider makes the spans. Default: otel.GetTracerProvider() at the
	// time New is called. The no-op provider turns every method into one
	// that returns its input.
	Provider trace.TracerProvider

	// Propagator reads the caller's trace context from request headers.
	// Default: otel.GetTextMapPropagator() at the time New is called.
	Propagator propagation.TextMapPropagator

	// Route names the route a request matched, for the span name and
	// http.route; "" means none is known (the span is then named by the
	// method alone). It is called after the handler has run. Default: the
	// request's Pattern, which a ServeMux sets when the request it routes
	// is the one Handler passed on (not a copy made by middleware between
	// them).
	Route func(*http.Request) string

	// Filter, if set, is asked first; a request it reports false for is
	// served without a span (health probes, /metrics).
	Filter func(*http.Request) bool

	// PublicEndpoint starts a new trace for every request, linked to the
	// caller's span context instead of continuing it, so that clients can
	// neither choose trace IDs nor force sampling.
	PublicEndpoint bool
}

// Tracer makes the spans of one program. It is safe for concurrent use.
type Tracer struct {
	off    bool
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	route  func(*http.Request) string
	filter func(*http.Request) bool
	public bool
}

// New returns a Tracer with opts.
func New(opts *Options) *Tracer {
	if opts == nil {
		opts = &Options{}
	}
	tp := opts.Provider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	t := &Tracer{
		prop:   opts.Propagator,
		route:  opts.Route,
		filter: opts.Filter,
		public: opts.PublicEndpoint,
	}
	switch tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		t.off = true
	}
	t.tracer = tp.Tracer(ScopeName)
	if t.prop == nil {
		t.prop = otel.GetTextMapPropagator()
	}
	if t.route == nil {
		t.route = func(r *http.Request) string { return r.Pattern }
	}
	return t
}

// Enabled reports whether t makes spans at all: false for the no-op
// provider.
func (t *Tracer) Enabled() bool { return !t.off }
