package tracing

import (
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/stateless-go/stateless/internal/statuswriter"
)

// maxPath bounds url.path on a span: a client chooses the path, and a span
// should not cost more than the request.
const maxPath = 256

// Handler returns next with a server span around every request (but those
// Options.Filter refuses). The span is in the request's context for next,
// so that what next does under it (store operations, session saves, log
// lines through LogHandler) joins the same trace.
func (t *Tracer) Handler(next http.Handler) http.Handler {
	if t.off {
		return next
	}
	kind := trace.WithSpanKind(trace.SpanKindServer)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t.filter != nil && !t.filter(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		remote := t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
		method := methodAttr(r.Method)
		attrs := []attribute.KeyValue{
			method,
			schemeAttr(r),
			semconv.URLPath(boundedPath(r.URL.Path)),
		}
		var span trace.Span
		if t.public {
			opts := []trace.SpanStartOption{kind, trace.WithNewRoot(), trace.WithAttributes(attrs...)}
			if sc := trace.SpanContextFromContext(remote); sc.IsValid() && sc.IsRemote() {
				opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
			}
			ctx, span = t.tracer.Start(ctx, spanName(method), opts...)
		} else {
			ctx, span = t.tracer.Start(remote, spanName(method), kind, trace.WithAttributes(attrs...))
		}
		r = r.WithContext(ctx)
		if !span.IsRecording() {
			// Sampled out: the context still carries the span context (a
			// trace ID for the logs, the sampling decision for children),
			// but there is nothing to record.
			defer span.End()
			next.ServeHTTP(w, r)
			return
		}
		sw := &statuswriter.Writer{ResponseWriter: w}
		defer t.end(span, r, sw)
		next.ServeHTTP(sw, r)
	})
}

// end completes a server span once the handler has returned (or
// panicked: the span is ended either way, and net/http recovers).
func (t *Tracer) end(span trace.Span, r *http.Request, sw *statuswriter.Writer) {
	status := sw.Status
	if status == 0 {
		status = http.StatusOK // nothing written: net/http sends 200
	}
	if route := routePath(t.route(r)); route != "" {
		span.SetName(spanName(methodAttr(r.Method)) + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route), semconv.HTTPResponseStatusCode(status))
	} else {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	if status >= 500 {
		// 4xx is the client's error: the server span stays unset, as the
		// semantic conventions ask.
		code := strconv.Itoa(status)
		span.SetAttributes(semconv.ErrorTypeKey.String(code))
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// routePath is the path template of a ServeMux pattern, as http.route
// wants it: "GET example.com/items/{id}" is "/items/{id}".
func routePath(pattern string) string {
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = strings.TrimLeft(p, " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return strings.ToValidUTF8(pattern, "\uFFFD")
}

// methodAttr is http.request.method: the known methods as they are, any
// other as "_OTHER", so that a client cannot fill the span names with
// methods of its own.
func methodAttr(m string) attribute.KeyValue {
	switch m {
	case http.MethodGet:
		return semconv.HTTPRequestMethodGet
	case http.MethodPost:
		return semconv.HTTPRequestMethodPost
	case http.MethodPut:
		return semconv.HTTPRequestMethodPut
	case http.MethodDelete:
		return semconv.HTTPRequestMethodDelete
	case http.MethodHead:
		return semconv.HTTPRequestMethodHead
	case http.MethodPatch:
		return semconv.HTTPRequestMethodPatch
	case http.MethodOptions:
		return semconv.HTTPRequestMethodOptions
	case http.MethodConnect:
		return semconv.HTTPRequestMethodConnect
	case http.MethodTrace:
		return semconv.HTTPRequestMethodTrace
	}
	return semconv.HTTPRequestMethodOther
}

// spanName is the method part of a server span's name: "HTTP" for a
// method the conventions do not know.
func spanName(method attribute.KeyValue) string {
	if method == semconv.HTTPRequestMethodOther {
		return "HTTP"
	}
	return method.Value.AsString()
}

var (
	schemeHTTP  = semconv.URLScheme("http")
	schemeHTTPS = semconv.URLScheme("https")
)

func schemeAttr(r *http.Request) attribute.KeyValue {
	if r.TLS != nil {
		return schemeHTTPS
	}
	return schemeHTTP
}

// boundedPath is p cut to maxPath bytes and made valid UTF-8: a decoded
// path may hold any byte (%ff), and an exporter encoding protobuf strings
// would drop the whole batch over one invalid one.
func boundedPath(p string) string {
	if len(p) > maxPath {
		p = p[:maxPath]
	}
	return strings.ToValidUTF8(p, "\uFFFD")
}

// MuxRoute returns an Options.Route that asks mux which pattern r matches,
// for a handler that routes through mux behind middleware that copies the
// request (so that the Pattern mux sets is not on the request Handler
// sees), or behind an outer ServeMux whose broader pattern ("/") would be.
// It costs one more route match per traced request.
func MuxRoute(mux *http.ServeMux) func(*http.Request) string {
	return func(r *http.Request) string {
		_, pattern := mux.Handler(r)
		return pattern
	}
}
