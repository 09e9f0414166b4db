package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store/memory"

	"github.com/stateless-go/stateless/instrument/prom"
	"github.com/stateless-go/stateless/store"
)

// meddler is a store that, on request, plays another instance writing
// first (the next Replace is written, then answered as a conflict) or a
// store failure (the next Get fails).
type meddler struct {
	store.Store
	conflictNext, failNext atomic.Bool
}

func (m *meddler) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	if m.conflictNext.CompareAndSwap(true, false) {
		if _, err := m.Store.Replace(ctx, key, value, ttl, version); err != nil {
			return 0, err
		}
		return 0, store.ErrConflict
	}
	return m.Store.Replace(ctx, key, value, ttl, version)
}

func (m *meddler) Get(ctx context.Context, key string) (store.Record, error) {
	if m.failNext.CompareAndSwap(true, false) {
		return store.Record{}, errors.New("injected store failure")
	}
	return m.Store.Get(ctx, key)
}

func send(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Session-Token", token)
	}
	resp, b := fetch(t, http.DefaultClient, req)
	if tok := resp.Header.Get("X-Session-Token"); tok != "" && method == "POST" && strings.HasSuffix(url, "/session") {
		return resp.StatusCode, tok
	}
	return resp.StatusCode, b
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	code, body := get(t, url)
	if code != 200 {
		t.Fatalf("GET %s: %d", url, code)
	}
	return body
}

func TestMetricsAfterKnownSequence(t *testing.T) {
	md := &meddler{}
	s := start(t, hooks{wrapStore: func(st store.Store) store.Store { md.Store = st; return md }})

	code, alice := send(t, "POST", s.url+"/session", "", `{"name":"Alice"}`)
	if code != 201 {
		t.Fatalf("login: %d", code)
	}
	if code, _ := send(t, "POST", s.url+"/session", "", `{"name":"Bob"}`); code != 201 {
		t.Fatalf("login: %d", code)
	}
	for range 3 {
		if code, _ := send(t, "GET", s.url+"/session", alice, ""); code != 200 {
			t.Fatalf("read: %d", code)
		}
	}
	md.conflictNext.Store(true) // another instance adds a visit first: a conflict, then a retry
	if code, body := send(t, "POST", s.url+"/session/visits", alice, ""); code != 200 || !strings.Contains(body, `"visits":2`) {
		t.Fatalf("visit: %d %s", code, body)
	}
	md.failNext.Store(true)
	if code, _ := send(t, "GET", s.url+"/session", alice, ""); code != 503 {
		t.Fatalf("read on a failing store: %d, want 503", code)
	}
	get(t, s.url+"/no/such/page")

	text := scrape(t, s.url+"/metrics")
	wantSamples(t, "", text, []sample{
		{"stateless_http_requests_total", `code="2xx",route="/session"`, 5},
		{"stateless_http_requests_total", `code="5xx",route="/session"`, 1},
		{"stateless_http_requests_total", `code="2xx",route="/session/visits"`, 1},
		{"stateless_http_requests_total", `code="4xx",route="unmatched"`, 1},
		{"stateless_session_events_total", `event="create",result="ok"`, 2},
		{"stateless_session_events_total", `event="load",result="ok"`, 4},
		{"stateless_session_events_total", `event="load",result="error"`, 1},
		{"stateless_session_events_total", `event="save",result="ok"`, 3},
		{"stateless_session_events_total", `event="save",result="conflict"`, 1},
		{"stateless_session_events_total", `event="conflict",result="ok"`, 1},
		{"stateless_session_events_total", `event="retry",result="ok"`, 1},
		{"stateless_session_events_total", `event="store_error",result="ok"`, 1},
		{"stateless_store_operations_total", `backend="memory",op="replace",result="conflict"`, 1},
		{"stateless_store_operations_total", `backend="memory",op="replace",result="ok"`, 1},
		{"stateless_store_operations_total", `backend="memory",op="get",result="error"`, 1},
	})
	if strings.Contains(text, alice) {
		t.Error("a session token is in /metrics")
	}
	// The scrape above is not a request the metrics count; each request
	// counted is timed too.
	text = scrape(t, s.url+"/metrics")
	wantSamples(t, "after a scrape: ", text, []sample{
		{"stateless_http_requests_total", `code="4xx",route="unmatched"`, 1},
		{"stateless_http_requests_total", `code="2xx",route="unmatched"`, 0},
		{"stateless_http_request_duration_seconds_count", `code="2xx",route="/session"`, 5},
		{"stateless_http_request_duration_seconds_count", `code="5xx",route="/session"`, 1},
	})
	if problems, err := testutil.GatherAndLint(newMetrics(true).m.Registry()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// sample is one series' value expected in a scrape.
type sample struct {
	name, labels string
	want         float64
}

// wantSamples checks each sample's value in the exposition text.
func wantSamples(t *testing.T, prefix, text string, samples []sample) {
	t.Helper()
	for _, c := range samples {
		got, err := prom.Sample(text, c.name, c.labels)
		if err != nil || got != c.want {
			t.Errorf("%s%s{%s} = %v (%v); want %v", prefix, c.name, c.labels, got, err, c.want)
		}
	}
}

func TestMetricsAddr(t *testing.T) {
	addrc := make(chan net.Addr, 1)
	s := start(t, hooks{metricsListening: func(a net.Addr) { addrc <- a }}, "-metrics-addr", "127.0.0.1:0")
	a := <-addrc
	get(t, s.url+"/greet?name=Alice")
	text := scrape(t, "http://"+a.String()+"/metrics")
	if v, err := prom.Sample(text, "stateless_http_requests_total", `code="2xx",route="/greet"`); err != nil || v != 1 {
		t.Errorf("greet count on -metrics-addr: %v %v", v, err)
	}
	if code, _ := get(t, s.url+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on -addr with -metrics-addr set: %d, want 404", code)
	}
}

func TestMetricsOff(t *testing.T) {
	s := start(t, hooks{}, "-metrics=false")
	if code, _ := get(t, s.url+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics with -metrics=false: %d, want 404", code)
	}
}

func TestHealthChecksNotLogged(t *testing.T) {
	s := start(t, hooks{})
	get(t, s.url+"/healthz")
	get(t, s.url+"/readyz")
	get(t, s.url+"/greet")
	s.stop()
	n := 0
	for _, l := range s.logLines(t) {
		if l["msg"] == "request" {
			n++
			if p := l["path"]; p != "/greet" {
				t.Errorf("logged %v", p)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d request lines, want 1 (for /greet)", n)
	}
}

// BenchmarkStack measures, in process, what the access log and the
// metrics add to a request through the server's handler stack: the
// Greeter over memory://, under accessLog (Info or Warn, the lines into a
// lineBuffer over io.Discard) and metrics (on or off).
func BenchmarkStack(b *testing.B) {
	for _, bc := range []struct {
		name         string
		logged, metr bool
	}{{"log-off/metrics-off", false, false}, {"log-off/metrics-on", false, true}, {"log-on/metrics-off", true, false}, {"log-on/metrics-on", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			lb := newLineBuffer(io.Discard)
			defer lb.Close()
			level := slog.LevelWarn
			if bc.logged {
				level = slog.LevelInfo
			}
			log := slog.New(flushOnWarn{slog.NewTextHandler(lb, &slog.HandlerOptions{Level: level}), lb})
			met := newMetrics(bc.metr)
			st := met.store(memory.New(nil), "memory://")
			sopts := greeter.SessionOptions()
			sopts.Observer = met.sessionObserver(nil)
			sessions, _ := session.New(st, sopts)
			var direct *lineWriter
			if bc.logged {
				direct = &lineWriter{w: lb}
			}
			h := accessLog(log, met.handler(greeter.New(st, &greeter.Options{Sessions: sessions}), true), accessLogOptions{direct: direct, count: met.requests(true)})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/session", strings.NewReader(`{"name":"Alice"}`)))
			token := w.Header().Get("X-Session-Token")
			for _, path := range []string{"/greet?name=Alice", "/greet"} {
				b.Run(map[string]string{"/greet": "session-read", "/greet?name=Alice": "greet"}[path], func(b *testing.B) {
					r := httptest.NewRequest("GET", path, nil)
					if path == "/greet" {
						r.Header.Set("X-Session-Token", token)
					}
					b.ReportAllocs()
					cpu0 := cpuTime()
					for b.Loop() {
						w := httptest.NewRecorder()
						h.ServeHTTP(w, r)
						if w.Code != 200 || path == "/greet" && !strings.Contains(w.Body.String(), "Alice") {
							b.Fatalf("%d %s", w.Code, w.Body)
						}
					}
					// CPU time (the process's, GC included) varies less than
					// wall time on a machine shared with other work.
					b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
				})
			}
		})
	}
}

// BenchmarkAccessLogLine measures what one access-log line costs: the log
// at Info (text and JSON) against Warn, over a handler that does nothing.
func BenchmarkAccessLogLine(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	for _, bc := range []struct {
		name   string
		level  slog.Level
		json   bool
		direct bool
	}{{"warn", slog.LevelWarn, false, false}, {"text", slog.LevelInfo, false, false}, {"json", slog.LevelInfo, true, false},
		{"text-direct", slog.LevelInfo, false, true}, {"json-direct", slog.LevelInfo, true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			lb := newLineBuffer(io.Discard)
			defer lb.Close()
			opts := &slog.HandlerOptions{Level: bc.level}
			var hd slog.Handler = slog.NewTextHandler(lb, opts)
			if bc.json {
				hd = slog.NewJSONHandler(lb, opts)
			}
			var direct *lineWriter
			if bc.direct {
				direct = &lineWriter{w: lb, json: bc.json}
			}
			h := accessLog(slog.New(flushOnWarn{hd, lb}), ok, accessLogOptions{direct: direct})
			r := httptest.NewRequest("GET", "/greet?name=Alice", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
