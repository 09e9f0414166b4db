package tracing_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/stateless-go/stateless/instrument/tracing"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

func TestStoreSpans(t *testing.T) {
	tr, rec := newTracer(t, nil)
	st := tr.Store(memory.New(nil), "memory")
	if _, ok := st.(store.CompareAndDeleter); !ok {
		t.Error("the traced memory store lost CompareAndDelete")
	}
	if _, ok := st.(store.NonBlocking); !ok {
		t.Error("the traced memory store lost NonBlocking")
	}
	ctx := context.Background()

	// Outside a span: nothing.
	if _, err := st.Create(ctx, "k-outside", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("a store operation outside any span made %d spans", n)
	}

	const key = "session:SECRETKEY"
	parent := inSpan(tr, func(pctx context.Context) {
		v, err := st.Create(pctx, key, []byte("SECRETVALUE"), time.Minute)
		if err != nil {
			t.Error(err)
		}
		st.Get(pctx, key)
		st.Get(pctx, "missing")
		st.Create(pctx, key, []byte("x"), time.Minute)
		st.Replace(pctx, key, []byte("x"), time.Minute, v+100)
		st.Touch(pctx, key, time.Minute)
		st.(store.CompareAndDeleter).CompareAndDelete(pctx, key, v)
		st.Ping(pctx)
		st.Delete(pctx, key)
	})

	spans := rec.Ended()
	want := []struct{ name, outcome string }{
		{"create", ""}, {"get", ""}, {"get", "not_found"}, {"create", "exists"},
		{"replace", "conflict"}, {"touch", ""}, {"compare_and_delete", ""}, {"ping", ""}, {"delete", ""},
	}
	if len(spans) != len(want)+1 {
		t.Fatalf("%d spans, want %d: %s", len(spans), len(want)+1, names(spans))
	}
	for i, w := range want {
		s := spans[i]
		a := attrs(s)
		if s.Name() != w.name || a["db.operation.name"] != w.name || a["db.system.name"] != "memory" {
			t.Errorf("span %d: %q, db.operation.name %q, db.system.name %q; want %q, memory", i, s.Name(), a["db.operation.name"], a["db.system.name"], w.name)
		}
		if a["stateless.store.outcome"] != w.outcome {
			t.Errorf("span %d (%s): outcome %q, want %q", i, s.Name(), a["stateless.store.outcome"], w.outcome)
		}
		if s.Status().Code != codes.Unset {
			t.Errorf("span %d (%s): status %v; an answer of the contract is no error", i, s.Name(), s.Status())
		}
		if s.SpanKind() != trace.SpanKindClient || s.Parent().SpanID() != parent.SpanID() {
			t.Errorf("span %d (%s): kind %v, parent %s; want client, the request's", i, s.Name(), s.SpanKind(), s.Parent().SpanID())
		}
	}
	checkNoSecret(t, spans, "SECRETKEY", "SECRETVALUE")
}

// failing is a store whose every operation fails with err, which quotes a
// key.
type failing struct {
	store.Store
	err error
}

func (f failing) Get(context.Context, string) (store.Record, error) { return store.Record{}, f.err }

func TestStoreSpanErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("get session:SECRETKEY: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("get session:SECRETKEY: %w", context.Canceled), "canceled"},
		{fmt.Errorf("get session:SECRETKEY: %w", store.ErrClosed), "closed"},
		{fmt.Errorf("get session:SECRETKEY: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}), "*net.OpError"},
		{errors.New("get session:SECRETKEY: boom"), "*errors.errorString"},
	} {
		tr, rec := newTracer(t, nil)
		st := tr.Store(failing{memory.New(nil), tc.err}, "redis")
		inSpan(tr, func(ctx context.Context) { st.Get(ctx, "session:SECRETKEY") })
		s := rec.Ended()[0]
		if s.Status().Code != codes.Error || attrs(s)["error.type"] != tc.want {
			t.Errorf("%v: status %v, error.type %q; want Error, %q", tc.err, s.Status(), attrs(s)["error.type"], tc.want)
		}
		if len(s.Events()) != 0 {
			t.Errorf("%v: events %v; an error's message is never recorded", tc.err, s.Events())
		}
		checkNoSecret(t, rec.Ended(), "SECRETKEY")
	}
}

// inSpan runs f with a context holding a recording server span of tr, as
// a traced request's would, and returns that span's context.
func inSpan(tr *tracing.Tracer, f func(ctx context.Context)) trace.SpanContext {
	var sc trace.SpanContext
	h := tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc = trace.SpanContextFromContext(r.Context())
		f(r.Context())
	}))
	serve(h, httptest.NewRequest("GET", "/parent", nil))
	return sc
}

func TestDBSystem(t *testing.T) {
	for url, want := range map[string]string{
		"redis://user:pass@h:6379/0":          "redis",
		"rediss://h":                          "redis",
		"redis+sentinel://h:26379/mymaster/0": "redis",
		"redis+cluster://h1,h2":               "redis",
		"memcache://h1:11211,h2:11211":        "memcached",
		"postgres://u:p@h/db?sslmode=disable": "postgresql",
		"postgresql://u:p@h/db":               "postgresql",
		"memory://":                           "memory",
		"":                                    "other",
		"REDIS://h":                           "redis",
	} {
		if got := tracing.DBSystem(url); got != want {
			t.Errorf("DBSystem(%q) = %q, want %q", url, got, want)
		}
	}
}
