// Package tracing feeds OpenTelemetry traces from the hook points the core
// packages expose: a server span for every HTTP request (Tracer.Handler),
// a client span for every store operation made under it (Tracer.StoreHook
// with store.WithHook), and spans for session saves and retries and the
// idempotency phases (Tracer.SessionObserver, Tracer.IdempotencyObserver).
// LogHandler adds the trace ID to log lines written with a request's
// context.
//
// The package speaks only the OpenTelemetry API (go.opentelemetry.io/otel
// and its trace package): the program chooses the SDK, the sampler and the
// exporter, as OpenTelemetry asks of libraries. examples/greeter shows one
// choice driven by the standard OTEL_* environment variables. Given no
// tracer provider, the Tracer uses the global one; given the no-op provider
// (trace/noop), every method returns its input unchanged, so wiring the
// Tracer in costs nothing until a provider is set.
//
// It is named tracing, not otel, so that it does not shadow the package it
// builds on, and it lives in the root module beside the core rather than in
// a module of its own: the core never imports it, so the OpenTelemetry
// modules reach only programs that import this package.
//
// # What spans carry
//
// HTTP server spans are named "METHOD route" (the ServeMux pattern that
// matched, never the raw path) and carry the semantic-convention attributes
// http.request.method (an unknown method as "_OTHER"), url.scheme, url.path
// (at most 256 bytes, valid UTF-8), http.route and
// http.response.status_code; a 5xx sets the span's status to Error. The
// query string, headers and cookies are never recorded: they carry names,
// session tokens and idempotency keys.
//
// Store spans are children of the span in the operation's context and are
// made only when that span is recording: a store operation outside a traced
// request (a background refresh, a sampled-out request) makes none. They
// are named by the operation ("get", "replace", …) and carry db.system.name
// and db.operation.name. The store hook never sees a key or a value, so no
// span can hold one. The answers the store contract defines (not found,
// exists, conflict) are attributes (stateless.store.outcome), not errors;
// any other error sets the status to Error and error.type to the error's
// class (timeout, canceled, closed, too_large) or its Go type, never its
// message, which may quote a key.
//
// # Propagation
//
// Handler reads the W3C traceparent and tracestate headers through the
// propagator (default: the global one; set it to propagation.TraceContext),
// so a request's spans join its caller's trace. A public endpoint that
// should not let clients choose trace IDs or force sampling sets
// Options.PublicEndpoint: each request then starts a new trace, linked to
// the caller's span.
package tracing
