package prom_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stateless-go/stateless/auth"
	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/instrument/prom"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

// exercise sends a little through every hook, so that every metric has a
// series.
func exercise(t *testing.T, m *prom.Metrics) {
	ctx := t.Context()
	st := store.WithHook(memory.New(nil), m.StoreHook("memory"))
	m.WatchStore("memory", st)
	st.Create(ctx, "k", []byte("v"), time.Minute)
	st.Create(ctx, "k", []byte("v"), time.Minute) // exists
	st.Get(ctx, "missing")                        // not_found

	sess, _ := session.New(st, &session.Options{Observer: m.SessionObserver()})
	s, _ := sess.Load(ctx, "")
	s.SetString("a", "b")
	s.Save()

	obs := m.AuthObserver()
	for _, ev := range []auth.Event{auth.EventVerify, auth.EventCacheHit, auth.EventCacheMiss, auth.EventRevoke} {
		if _, done := obs(ctx, ev); done != nil {
			done(nil)
		}
	}
	_, done := obs(ctx, auth.EventVerify)
	done(auth.ErrTokenExpired)
	iobs := m.IdempotencyObserver()
	for _, ev := range []idempotency.Event{idempotency.EventExecute, idempotency.EventReplay, idempotency.EventInFlight, idempotency.EventStoreError} {
		if _, done := iobs(ctx, ev); done != nil {
			done(nil)
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /greet", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	h := m.Handler(mux, nil)
	for _, p := range []string{"/greet", "/greet", "/fail", "/no/such/path"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	// A server that times requests itself feeds the same series.
	greet, own := m.Route("GET /greet"), m.Route("POST /own")
	greet.Observe(0, time.Millisecond) // nothing written: 200
	own.Observe(http.StatusConflict, 3*time.Millisecond)
	own.Observe(http.StatusCreated, 2*time.Second)
	m.Route("").Observe(http.StatusNotFound, time.Millisecond)
}

func TestLint(t *testing.T) {
	m := prom.New(nil)
	exercise(t, m)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	n, err := testutil.GatherAndCount(m.Registry())
	if err != nil || n == 0 {
		t.Fatalf("gathered %d metrics, %v", n, err)
	}
}

func TestCounts(t *testing.T) {
	m := prom.New(nil)
	exercise(t, m)
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"stateless_http_requests_total", `code="2xx",route="GET /greet"`, 3}, // two through Handler, one through Route
		{"stateless_http_requests_total", `code="5xx",route="GET /fail"`, 1},
		{"stateless_http_requests_total", `code="4xx",route="unmatched"`, 2},
		{"stateless_http_requests_total", `code="4xx",route="POST /own"`, 1},
		{"stateless_http_requests_total", `code="2xx",route="POST /own"`, 1},
		{"stateless_http_request_duration_seconds_count", `code="2xx",route="POST /own"`, 1},
		{"stateless_http_request_duration_seconds_sum", `code="2xx",route="POST /own"`, 2},
		{"stateless_http_request_duration_seconds_bucket", `code="2xx",route="POST /own",le="1"`, 0},
		{"stateless_http_request_duration_seconds_bucket", `code="2xx",route="POST /own",le="2.5"`, 1},
		{"stateless_store_operations_total", `backend="memory",op="create",result="ok"`, 2}, // one by the session
		{"stateless_store_operations_total", `backend="memory",op="create",result="exists"`, 1},
		{"stateless_store_operations_total", `backend="memory",op="get",result="not_found"`, 1},
		{"stateless_store_adapter_entries", `backend="memory"`, 2},
		{"stateless_session_events_total", `event="create",result="ok"`, 1},
		{"stateless_session_events_total", `event="save",result="ok"`, 1},
		{"stateless_auth_verifications_total", `result="ok"`, 1},
		{"stateless_auth_verifications_total", `result="expired"`, 1},
		{"stateless_auth_cache_lookups_total", `result="hit"`, 1},
		{"stateless_auth_revocations_total", `result="ok"`, 1},
		{"stateless_idempotency_events_total", `event="replay"`, 1},
		{"stateless_idempotency_events_total", `event="in_flight"`, 1},
		{"stateless_idempotency_store_errors_total", ``, 1},
	} {
		got, err := value(m, c.name, c.labels)
		if err != nil || got != c.want {
			t.Errorf("%s{%s} = %v (%v); want %v", c.name, c.labels, got, err, c.want)
		}
	}
}

// value reads one sample from the registry's text exposition.
func value(m *prom.Metrics, name, labels string) (float64, error) {
	w := httptest.NewRecorder()
	m.MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	return prom.Sample(w.Body.String(), name, labels)
}

func TestStoreResult(t *testing.T) {
	for err, want := range map[error]string{nil: "ok", store.ErrNotFound: "not_found", store.ErrExists: "exists",
		store.ErrConflict: "conflict", errors.New("down"): "error", context.DeadlineExceeded: "error"} {
		if got := prom.StoreResult(err); got != want {
			t.Errorf("StoreResult(%v) = %q; want %q", err, got, want)
		}
	}
}

func TestSampleParsing(t *testing.T) {
	text := "# HELP x_total y\nx_total{a=\"1\",b=\"2\"} 3\nx_total{a=\"1\"} 4\nz 5\n"
	for _, c := range []struct {
		name, labels string
		want         float64
		ok           bool
	}{{"x_total", `a="1",b="2"`, 3, true}, {"x_total", `a="1"`, 4, true}, {"z", "", 5, true}, {"x_total", `a="2"`, 0, false}} {
		got, err := prom.Sample(text, c.name, c.labels)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Sample(%s{%s}) = %v, %v", c.name, c.labels, got, err)
		}
	}
	if !strings.Contains(text, "z 5") {
		t.Fatal("bad fixture")
	}
}

var sink func(error)

func BenchmarkHooks(b *testing.B) {
	ctx := context.Background()
	m := prom.New(nil)
	b.Run("store", func(b *testing.B) {
		h := m.StoreHook("memory")
		b.ReportAllocs()
		for b.Loop() {
			_, done := h(ctx, store.OpGet)
			done(nil)
		}
	})
	b.Run("session-load", func(b *testing.B) {
		o := m.SessionObserver()
		b.ReportAllocs()
		for b.Loop() {
			_, done := o(ctx, session.EventLoad)
			done(nil)
		}
	})
	b.Run("session-instant", func(b *testing.B) {
		o := m.SessionObserver()
		b.ReportAllocs()
		for b.Loop() {
			_, done := o(ctx, session.EventCreate)
			done(nil)
		}
	})
	b.Run("auth-verify", func(b *testing.B) {
		o := m.AuthObserver()
		b.ReportAllocs()
		for b.Loop() {
			_, done := o(ctx, auth.EventVerify)
			done(nil)
		}
	})
	b.Run("idempotency", func(b *testing.B) {
		o := m.IdempotencyObserver()
		b.ReportAllocs()
		for b.Loop() {
			_, done := o(ctx, idempotency.EventReplay)
			done(nil)
		}
	})
	b.Run("http", func(b *testing.B) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /greet", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
		for _, bc := range []struct {
			name string
			h    http.Handler
		}{{"bare", mux}, {"metrics", m.Handler(mux, nil)}} {
			b.Run(bc.name, func(b *testing.B) {
				r := httptest.NewRequest("GET", "/greet", nil)
				w := httptest.NewRecorder()
				b.ReportAllocs()
				for b.Loop() {
					bc.h.ServeHTTP(w, r)
				}
			})
		}
	})
}
