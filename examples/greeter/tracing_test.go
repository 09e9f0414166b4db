package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// spansOf waits until exp holds a server span named name and returns every
// span of its trace: the server span ends only after the response has
// gone out.
func spansOf(t *testing.T, exp *tracetest.InMemoryExporter, name string) (server tracetest.SpanStub, trace []tracetest.SpanStub) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, s := range exp.GetSpans() {
			if s.Name == name {
				server = s
			}
		}
		if server.Name != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if server.Name == "" {
		var names []string
		for _, s := range exp.GetSpans() {
			names = append(names, s.Name)
		}
		t.Fatalf("no span %q; spans: %q", name, names)
	}
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() == server.SpanContext.TraceID() {
			trace = append(trace, s)
		}
	}
	return server, trace
}

func stubAttrs(s tracetest.SpanStub) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// TestTracingSpanTree follows one POST /session/visits, carrying a
// caller's traceparent, through the server with tracing on: the server
// span continues the caller's trace and is named by its route, the session
// save nests under it and the store operation under the save; no span
// holds the session token, the idempotency key or the token secret; the
// access log line carries the trace ID.
func TestTracingSpanTree(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	secret := "tracing-test-secret-" + strings.Repeat("k", 32)
	s := start(t, hooks{spanExporter: exp}, "-token-secret", secret)
	c := newClient(t)
	token := login(t, c, s.url, "Alice")

	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	idemKey := `"visit-` + randomHex(t, 8) + `"`
	req, _ := http.NewRequest(http.MethodPost, s.url+"/session/visits", nil)
	req.Header.Set(tokenHeader, token)
	req.Header.Set("Idempotency-Key", idemKey)
	req.Header.Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /session/visits: %d", resp.StatusCode)
	}

	server, spans := spansOf(t, exp, "POST /session/visits")
	if got := server.SpanContext.TraceID().String(); got != callerTrace {
		t.Errorf("server span in trace %s, want the caller's %s", got, callerTrace)
	}
	if got := server.Parent.SpanID().String(); got != callerSpan {
		t.Errorf("server span's parent %s, want the caller's span %s", got, callerSpan)
	}
	if server.SpanKind != trace.SpanKindServer || stubAttrs(server)["http.route"] != "/session/visits" {
		t.Errorf("server span: kind %v, http.route %q", server.SpanKind, stubAttrs(server)["http.route"])
	}

	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, sp := range spans {
		byID[sp.SpanContext.SpanID()] = sp
	}
	// path names a span's ancestors up to the server span: "replace <
	// session.save < POST /session/visits".
	path := func(sp tracetest.SpanStub) string {
		p := []string{sp.Name}
		for sp.SpanContext.SpanID() != server.SpanContext.SpanID() {
			parent, ok := byID[sp.Parent.SpanID()]
			if !ok {
				return strings.Join(append(p, "(outside the request)"), " < ")
			}
			sp = parent
			p = append(p, sp.Name)
		}
		return strings.Join(p, " < ")
	}
	var paths []string
	var saveReplace bool
	for _, sp := range spans {
		p := path(sp)
		paths = append(paths, p)
		if strings.HasSuffix(p, "(outside the request)") {
			t.Errorf("span %s is not under the server span", p)
		}
		a := stubAttrs(sp)
		if sp.SpanKind == trace.SpanKindClient {
			if a["db.system.name"] != "memory" || a["db.operation.name"] != sp.Name {
				t.Errorf("store span %s: db.system.name %q, db.operation.name %q", p, a["db.system.name"], a["db.operation.name"])
			}
		}
		if p == "replace < session.save < POST /session/visits" {
			saveReplace = true
		}
	}
	if !strings.Contains(strings.Join(paths, "\n"), "idempotency.claim < POST /session/visits") {
		t.Errorf("no idempotency.claim span under the request; spans:\n%s", strings.Join(paths, "\n"))
	}
	if !saveReplace {
		t.Errorf("no request → session.save → store replace path; spans:\n%s", strings.Join(paths, "\n"))
	}
	t.Logf("spans of one POST /session/visits:\n%s", strings.Join(paths, "\n"))

	for _, sp := range exp.GetSpans() {
		check := func(where, v string) {
			for _, secret := range []string{token, strings.Trim(idemKey, `"`), secret} {
				if strings.Contains(v, secret) {
					t.Errorf("span %s %s holds a secret: %q", sp.Name, where, v)
				}
			}
		}
		check("name", sp.Name)
		check("status", sp.Status.Description)
		for _, kv := range sp.Attributes {
			check("attribute", string(kv.Key)+"="+kv.Value.Emit())
		}
		for _, e := range sp.Events {
			check("event", e.Name)
			for _, kv := range e.Attributes {
				check("event attribute", string(kv.Key)+"="+kv.Value.Emit())
			}
		}
		for _, kv := range sp.Resource.Attributes() {
			check("resource attribute", string(kv.Key)+"="+kv.Value.Emit())
		}
	}

	s.stop() // the log is buffered: all of it is out once the server has stopped
	var logged bool
	for _, l := range s.logLines(t) {
		if l["msg"] == "request" && l["path"] == "/session/visits" {
			logged = true
			if l["trace_id"] != callerTrace {
				t.Errorf("access log line %v: trace_id %v, want %s", l, l["trace_id"], callerTrace)
			}
		}
	}
	if !logged {
		t.Error("no access log line for POST /session/visits")
	}
	checkLogs(t, s, token, secret)
}

// TestTracingOffByDefault: without OTEL_* the server wraps nothing, and
// its log lines carry no trace ID even for a request with a traceparent.
func TestTracingOffByDefault(t *testing.T) {
	trc, err := startTracing(t.Context(), env(), nil, nil, nil)
	if err != nil || trc != nil {
		t.Fatalf("startTracing without OTEL_* = %v, %v; want nil, nil", trc, err)
	}
	h := http.NewServeMux()
	if trc.handler(h) != http.Handler(h) {
		t.Error("tracing off wrapped the handler")
	}
	s := start(t, hooks{})
	req, _ := http.NewRequest(http.MethodGet, s.url+"/greet?name=Bob", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.stop()
	for _, l := range s.logLines(t) {
		if _, ok := l["trace_id"]; ok {
			t.Errorf("log line with tracing off carries trace_id: %v", l)
		}
	}
}

func TestTracingEnv(t *testing.T) {
	for _, tc := range []struct {
		env     []string
		on      bool
		wantErr string
	}{
		{env: nil},
		{env: []string{"OTEL_TRACES_EXPORTER", "none"}},
		{env: []string{"OTEL_TRACES_EXPORTER", "console"}, on: true},
		{env: []string{"OTEL_TRACES_EXPORTER", "otlp, console"}, on: true},
		{env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}, on: true},
		{env: []string{"OTEL_TRACES_EXPORTER", "console", "OTEL_SDK_DISABLED", "true"}},
		{env: []string{"OTEL_TRACES_EXPORTER", "console", "OTEL_TRACES_SAMPLER", "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG", "0.25"}, on: true},
		{env: []string{"OTEL_TRACES_EXPORTER", "zipkin"}, wantErr: `invalid OTEL_TRACES_EXPORTER "zipkin": want otlp, console or none`},
		{env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"}, wantErr: `invalid OTEL_EXPORTER_OTLP_TRACES_PROTOCOL "grpc"`},
		{env: []string{"OTEL_TRACES_EXPORTER", "console", "OTEL_TRACES_SAMPLER", "sometimes"}, wantErr: `invalid OTEL_TRACES_SAMPLER "sometimes"`},
		{env: []string{"OTEL_TRACES_EXPORTER", "console", "OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "2"}, wantErr: `invalid OTEL_TRACES_SAMPLER_ARG "2"`},
	} {
		var log strings.Builder
		trc, err := startTracing(t.Context(), env(tc.env...), &strings.Builder{}, newLogger(config{logFormat: "text"}, &log), nil)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", tc.env, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.env, err)
		case trc.on() != tc.on:
			t.Errorf("%q: tracing on %v, want %v", tc.env, trc.on(), tc.on)
		}
		trc.shutdown(newLogger(config{}, &log))
	}

	// A bad value stops the server at start-up: exit 2, one line.
	var stderr strings.Builder
	code := run(t.Context(), []string{"-addr", "127.0.0.1:0"}, env("OTEL_TRACES_EXPORTER", "jaeger"), &strings.Builder{}, &stderr)
	if code != 2 || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 || !strings.Contains(stderr.String(), "OTEL_TRACES_EXPORTER") {
		t.Errorf("OTEL_TRACES_EXPORTER=jaeger: exit %d, stderr %q; want 2 and one line naming the variable", code, stderr.String())
	}
}

// TestGreeterRoutes checks the mux that names spans against the routes the
// server serves: every one is found by its own pattern, an unknown path by
// "/".
func TestGreeterRoutes(t *testing.T) {
	for path, want := range map[string]string{
		"/greet": "/greet", "/session": "/session", "/session/visits": "/session/visits",
		"/token": "/token", "/.well-known/jwks.json": "/.well-known/jwks.json",
		"/": "/{$}", "/assets/app.js": "/assets/", "/nope": "/", "/session/visits/x": "/",
	} {
		if got := greeterRoute(httptest.NewRequest(http.MethodGet, path, nil)); got != want {
			t.Errorf("route of %s = %q, want %q", path, got, want)
		}
	}
}
