package main

// Tracing is off unless the standard OpenTelemetry environment variables
// ask for it:
//
//	OTEL_TRACES_EXPORTER=otlp     spans go over OTLP/HTTP to a collector:
//	                              OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT
//	                              (default http://localhost:4318), with the
//	                              exporter's other OTEL_EXPORTER_OTLP_*
//	                              variables (headers, TLS, timeout)
//	OTEL_TRACES_EXPORTER=console  spans as JSON lines on stdout
//	OTEL_TRACES_EXPORTER=none     off (so is unset); "otlp,console" both
//	OTEL_SDK_DISABLED=true        off, whatever the rest says
//	OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL  http/protobuf (default) or
//	                              http/json; grpc is refused
//	OTEL_TRACES_SAMPLER[_ARG]     parentbased_always_on (default),
//	                              parentbased_traceidratio with a ratio
//	                              in [0,1], always_on, always_off, …
//	OTEL_SERVICE_NAME             default "greeter";
//	OTEL_RESOURCE_ATTRIBUTES      k=v,… more resource attributes
//	OTEL_BSP_MAX_QUEUE_SIZE       spans waiting for export, default 2048;
//	                              more are dropped, never block a request
//
// A bad value of the variables the server reads itself (the exporter, the
// protocol, the sampler) is a start-up error, exit 2. With tracing on, each
// request but the probes and /metrics gets a server span named by its
// route, the session layer and every store operation under it get child
// spans, the caller's W3C traceparent is continued, and every log line
// written for a request (the access log's among them) carries trace_id
// and span_id. With tracing off nothing is wrapped: it costs nothing.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/instrument/tracing"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
)

// tracingShutdownTimeout bounds the flush of the last spans at exit.
const tracingShutdownTimeout = 5 * time.Second

// spanExporter is what a test hands runWith to receive the spans.
type spanExporter = sdktrace.SpanExporter

// tracer is the server's tracing, as the environment set it up. A nil
// *tracer is tracing off: every method then returns its input.
type tracer struct {
	t        *tracing.Tracer
	provider *sdktrace.TracerProvider
}

// startTracing reads the OTEL_* variables through getenv and returns the
// server's tracer, nil when tracing is off. test, if set, is the exporter
// (spans exported as they end, every one sampled) whatever the
// environment says.
func startTracing(ctx context.Context, getenv func(string) string, stdout io.Writer, log *slog.Logger, test spanExporter) (*tracer, error) {
	var opts []sdktrace.TracerProviderOption
	var names []string
	if test != nil {
		opts = append(opts, sdktrace.WithSyncer(test), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		names = append(names, "test")
	} else {
		if v := strings.TrimSpace(getenv("OTEL_SDK_DISABLED")); strings.EqualFold(v, "true") {
			return nil, nil
		}
		exporters, err := tracesExporters(getenv("OTEL_TRACES_EXPORTER"))
		if err != nil || len(exporters) == 0 {
			return nil, err
		}
		sampler, err := tracesSampler(getenv("OTEL_TRACES_SAMPLER"), getenv("OTEL_TRACES_SAMPLER_ARG"))
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithSampler(sampler))
		for _, name := range exporters {
			var exp sdktrace.SpanExporter
			switch name {
			case "otlp":
				enc, err := otlpEncoding(getenv)
				if err != nil {
					return nil, err
				}
				// The exporter reads its endpoint, headers and TLS
				// settings from the environment itself; it connects
				// only when it first exports.
				exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEncoding(enc))
				if err != nil {
					return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=otlp: %v", err)
				}
			case "console":
				exp, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
				if err != nil {
					return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=console: %v", err)
				}
			}
			// A batcher: a request never waits on an export; its queue
			// is bounded (OTEL_BSP_MAX_QUEUE_SIZE) and drops when full.
			opts = append(opts, sdktrace.WithBatcher(exp))
		}
		names = append(names, exporters...)
		names = append(names, "sampler "+sampler.Description())
		routeOtelErrors(log)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("greeter")),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %v", err)
	}
	opts = append(opts, sdktrace.WithResource(res))
	tp := sdktrace.NewTracerProvider(opts...)
	log.Info("tracing on", "exporters", strings.Join(names, ", "))
	return &tracer{
		provider: tp,
		t: tracing.New(&tracing.Options{
			Provider:   tp,
			Propagator: propagation.TraceContext{}, // no baggage: nothing here forwards it
			Route:      greeterRoute,
			Filter:     traced,
		}),
	}, nil
}

// tracesExporters parses OTEL_TRACES_EXPORTER: nil for off.
func tracesExporters(v string) ([]string, error) {
	var out []string
	for name := range strings.SplitSeq(v, ",") {
		switch name = strings.TrimSpace(name); name {
		case "", "none":
		case "otlp", "console":
			out = append(out, name)
		default:
			return nil, fmt.Errorf("invalid OTEL_TRACES_EXPORTER %q: want otlp, console or none", v)
		}
	}
	return out, nil
}

// otlpEncoding reads OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL; this server
// speaks OTLP over HTTP only.
func otlpEncoding(getenv func(string) string) (otlptracehttp.Encoding, error) {
	name := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		name = "OTEL_EXPORTER_OTLP_PROTOCOL"
		v = strings.TrimSpace(getenv(name))
	}
	switch v {
	case "", "http/protobuf":
		return otlptracehttp.EncodingProtobuf, nil
	case "http/json":
		return otlptracehttp.EncodingJSON, nil
	}
	return 0, fmt.Errorf("invalid %s %q: want http/protobuf or http/json (the greeter exports OTLP over HTTP only, a collector's port 4318)", name, v)
}

// tracesSampler parses OTEL_TRACES_SAMPLER and its argument as the
// OpenTelemetry specification defines them.
func tracesSampler(name, arg string) (sdktrace.Sampler, error) {
	name, arg = strings.TrimSpace(name), strings.TrimSpace(arg)
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("invalid OTEL_TRACES_SAMPLER_ARG %q: want a ratio from 0 to 1", arg)
		}
		return r, nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio", "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(r), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	}
	return nil, fmt.Errorf("invalid OTEL_TRACES_SAMPLER %q: want parentbased_always_on, parentbased_always_off, parentbased_traceidratio, always_on, always_off or traceidratio", name)
}

// traced reports whether a request gets a span: not the probes, which a
// load balancer sends every second or two, nor a metrics scrape.
func traced(r *http.Request) bool {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		return false
	}
	return true
}

// greeterRoutes mirrors the patterns the Greeter and the page register.
// The session middleware in front of the Greeter's ServeMux passes a copy
// of the request on, so the Pattern the mux sets never reaches the
// tracing middleware; this mux finds it again. tracing_test.go checks it
// against every route.
var greeterRoutes = func() *http.ServeMux {
	mux := http.NewServeMux()
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, p := range []string{
		"/greet", "/session", "/session/visits", "/token", "/.well-known/jwks.json",
		"/healthz", "/readyz", "/metrics", "/{$}", "/assets/", "/",
	} {
		mux.Handle(p, nop)
	}
	return mux
}()

var greeterRoute = tracing.MuxRoute(greeterRoutes)

// on reports whether tracing is on.
func (t *tracer) on() bool { return t != nil }

// logger adds trace_id and span_id to the lines logged for a request.
func (t *tracer) logger(log *slog.Logger) *slog.Logger {
	if t == nil {
		return log
	}
	return slog.New(tracing.LogHandler(log.Handler()))
}

// handler puts a server span around each request h serves.
func (t *tracer) handler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return t.t.Handler(h)
}

// store traces every operation on st, which storeURL opened.
func (t *tracer) store(st store.Store, storeURL string) store.Store {
	if t == nil {
		return st
	}
	return t.t.Store(st, tracing.DBSystem(storeURL))
}

// sessionObserver returns prev (nil for none) and the tracer's observer,
// both told of every session event; the tracer first, so that what prev
// sees runs in the tracer's span.
func (t *tracer) sessionObserver(prev session.Observer) session.Observer {
	if t == nil {
		return prev
	}
	obs := t.t.SessionObserver()
	if prev == nil {
		return obs
	}
	return func(ctx context.Context, ev session.Event) (context.Context, func(error)) {
		ctx, done1 := obs(ctx, ev)
		ctx2, done2 := prev(ctx, ev)
		if ctx2 != nil {
			ctx = ctx2
		}
		switch {
		case done1 == nil:
			return ctx, done2
		case done2 == nil:
			return ctx, done1
		}
		return ctx, func(err error) { done2(err); done1(err) }
	}
}

// idempotency returns the Greeter's default idempotency middleware over st
// with the tracer's observer, or nil (the Greeter's own default) when
// tracing is off.
func (t *tracer) idempotency(st store.Store, log *slog.Logger) *idempotency.Middleware {
	if t == nil {
		return nil
	}
	// New fails only on bad options; these are the Greeter's defaults.
	o := greeter.IdempotencyOptions()
	o.Logger, o.Observer = log, t.t.IdempotencyObserver()
	m, _ := idempotency.New(st, o)
	return m
}

// shutdown exports the spans still queued, for up to
// tracingShutdownTimeout.
func (t *tracer) shutdown(log *slog.Logger) {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
	defer cancel()
	if err := t.provider.Shutdown(ctx); err != nil {
		log.Warn("tracing: the last spans were not all exported", "error", err.Error())
	}
}

// routeOtelErrors sends the SDK's own errors (a collector that does not
// answer, spans dropped) to log, at most one a batch, instead of the
// standard logger. It is process-wide, as the SDK's error handler is.
func routeOtelErrors(log *slog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing", "error", err.Error())
	}))
}
