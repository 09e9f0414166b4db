package tracing_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/stateless-go/stateless/instrument/tracing"
)

// newTracer returns a Tracer over an SDK provider that samples everything
// and records the spans it ends, with W3C trace context propagation.
func newTracer(t testing.TB, opts *tracing.Options) (*tracing.Tracer, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	if opts == nil {
		opts = &tracing.Options{}
	}
	opts.Provider = tp
	opts.Propagator = propagation.TraceContext{}
	return tracing.New(opts), rec
}

// attrs returns a span's attributes by key, as strings.
func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// byName returns the ended spans named name.
func byName(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// names lists the spans' names, for a failure message.
func names(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "%q(parent %s) ", s.Name(), s.Parent().SpanID())
	}
	return b.String()
}

// checkNoSecret fails t if any attribute, event, link or name of spans
// contains one of the secrets.
func checkNoSecret(t *testing.T, spans []sdktrace.ReadOnlySpan, secrets ...string) {
	t.Helper()
	check := func(where, v string) {
		for _, s := range secrets {
			if s != "" && strings.Contains(v, s) {
				t.Errorf("%s holds a secret (%.6s…): %q", where, s, v)
			}
		}
	}
	var kvs func(where string, list []attribute.KeyValue)
	kvs = func(where string, list []attribute.KeyValue) {
		for _, kv := range list {
			check(where+" attribute "+string(kv.Key), string(kv.Key)+"="+kv.Value.Emit())
		}
	}
	for _, s := range spans {
		check("span name", s.Name())
		check("span "+s.Name()+" status", s.Status().Description)
		kvs("span "+s.Name(), s.Attributes())
		for _, e := range s.Events() {
			check("span "+s.Name()+" event", e.Name)
			kvs("span "+s.Name()+" event "+e.Name, e.Attributes)
		}
		for _, l := range s.Links() {
			kvs("span "+s.Name()+" link", l.Attributes)
		}
		kvs("span "+s.Name()+" resource", s.Resource().Attributes())
	}
}
