package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/instrument/tracing"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store/memory"
)

// tracedGreeter is the Greeter over a memory store with every hook traced,
// behind tr's Handler.
func tracedGreeter(t testing.TB, tr *tracing.Tracer) http.Handler {
	t.Helper()
	st := tr.Store(memory.New(nil), "memory")
	t.Cleanup(func() { st.Close() })
	sopts := greeter.SessionOptions()
	sopts.Observer = tr.SessionObserver()
	sm, err := session.New(st, sopts)
	if err != nil {
		t.Fatal(err)
	}
	idem, err := idempotency.New(st, &idempotency.Options{Scope: greeter.IdempotencyScope, Observer: tr.IdempotencyObserver()})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Handler(greeter.New(st, &greeter.Options{Sessions: sm, Idempotency: idem}))
}

// ancestry names a span and its ancestors among spans: "replace <
// session.save < POST".
func ancestry(s sdktrace.ReadOnlySpan, spans []sdktrace.ReadOnlySpan) string {
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byID[sp.SpanContext().SpanID()] = sp
	}
	p := []string{s.Name()}
	for s.Parent().IsValid() {
		parent, ok := byID[s.Parent().SpanID()]
		if !ok {
			p = append(p, "?")
			break
		}
		s = parent
		p = append(p, s.Name())
	}
	return strings.Join(p, " < ")
}

// TestSpanTree: one POST /session/visits makes the tree request → session
// save → store replace, with the idempotency phases and their store
// operations in the same trace, and no span holds the token or the
// idempotency key.
func TestSpanTree(t *testing.T) {
	tr, rec := newTracer(t, nil)
	h := tracedGreeter(t, tr)

	w := serve(h, httptest.NewRequest("POST", "/session", strings.NewReader(`{"name":"Alice"}`)))
	token := w.Header().Get("X-Session-Token")
	if w.Code != http.StatusCreated || token == "" {
		t.Fatalf("login: %d, token %q", w.Code, token)
	}
	loginSpans := rec.Ended()
	if p := ancestry(loginSpans[0], loginSpans); !strings.HasSuffix(p, "< POST") {
		t.Errorf("login: first span ended is %s, want one under the request span", p)
	}
	var created bool
	for _, s := range loginSpans {
		for _, e := range s.Events() {
			created = created || e.Name == "session.create"
		}
	}
	if !created {
		t.Errorf("login: no session.create event; spans: %s", names(loginSpans))
	}
	rec.Reset()

	r := httptest.NewRequest("POST", "/session/visits", nil)
	r.Header.Set("X-Session-Token", token)
	const idemKey = `"visit-SECRETIDEMKEY"`
	r.Header.Set("Idempotency-Key", idemKey)
	if w := serve(h, r); w.Code != http.StatusOK {
		t.Fatalf("POST /session/visits: %d %s", w.Code, w.Body)
	}
	spans := rec.Ended()
	var paths []string
	for _, s := range spans {
		paths = append(paths, ancestry(s, spans))
	}
	all := strings.Join(paths, "\n")
	for _, want := range []string{
		// The session keeps the context of the request it was loaded for,
		// so its save nests under the request, beside the execution.
		"replace < session.save < POST",
		"create_or_get < idempotency.claim < POST",
		"idempotency.execute < POST",
		"idempotency.record < POST",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no span path %q; spans:\n%s", want, all)
		}
	}
	root := spans[len(spans)-1]
	if root.SpanKind() != trace.SpanKindServer {
		t.Fatalf("last span ended is %q (%v), want the server span", root.Name(), root.SpanKind())
	}
	for _, s := range spans {
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("span %s in another trace", ancestry(s, spans))
		}
	}
	t.Logf("spans of POST /session/visits:\n%s", all)
	checkNoSecret(t, append(loginSpans, spans...), token, "SECRETIDEMKEY")
}

// TestSessionObserverOutsideSpan: session work outside a traced request
// makes no span and costs no context.
func TestSessionObserverOutsideSpan(t *testing.T) {
	tr, rec := newTracer(t, nil)
	obs := tr.SessionObserver()
	ctx := context.Background()
	c, done := obs(ctx, session.EventSave)
	if c != ctx || done != nil || len(rec.Ended()) != 0 {
		t.Errorf("outside a span: new context %v, done %v, %d spans", c != ctx, done != nil, len(rec.Ended()))
	}
}
