package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stateless-go/stateless/auth"
	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/instrument/prom"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
)

// metrics is the server's Prometheus instrumentation; nil when -metrics
// is off, and every method of a nil *metrics gives back what it was given.
type metrics struct {
	m *prom.Metrics
}

func newMetrics(on bool) *metrics {
	if !on {
		return nil
	}
	return &metrics{m: prom.New(nil)}
}

// backendOf is the backend label of a store URL: its scheme, from a fixed
// list (never the URL, which may hold a password).
func backendOf(storeURL string) string {
	u, err := url.Parse(storeURL)
	if err != nil {
		return "other"
	}
	switch s := strings.ToLower(u.Scheme); s {
	case "memory", "memcache", "postgres":
		return s
	case "postgresql":
		return "postgres"
	case "redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster":
		return "redis"
	}
	return "other"
}

// store counts and times every operation on st and reports its Stats.
func (m *metrics) store(st store.Store, storeURL string) store.Store {
	if m == nil {
		return st
	}
	b := backendOf(storeURL)
	st = store.WithHook(st, m.m.StoreHook(b))
	m.m.WatchStore(b, st)
	return st
}

func (m *metrics) sessionObserver(prev session.Observer) session.Observer {
	if m == nil {
		return prev
	}
	return chain(prev, m.m.SessionObserver())
}

func (m *metrics) authObserver() auth.Observer {
	if m == nil {
		return nil
	}
	return m.m.AuthObserver()
}

// idempotency returns the Greeter's idempotency middleware with the
// metrics' observer and the tracer's (nil when tracing is off), or prev
// with metrics off.
func (m *metrics) idempotency(st store.Store, log *slog.Logger, trc *tracer, prev *idempotency.Middleware) *idempotency.Middleware {
	if m == nil {
		return prev
	}
	var traced idempotency.Observer
	if trc != nil {
		traced = trc.t.IdempotencyObserver()
	}
	// New fails only on bad options; these are the Greeter's defaults.
	o := greeter.IdempotencyOptions()
	o.Logger, o.Observer = log, chain(traced, m.m.IdempotencyObserver())
	mw, _ := idempotency.New(st, o)
	return mw
}

// handler serves GET /metrics ahead of next when serveMetrics (no
// -metrics-addr). The requests themselves are counted by the access log's
// middleware, which times them already: see requests.
func (m *metrics) handler(next http.Handler, serveMetrics bool) http.Handler {
	if m == nil || !serveMetrics {
		return next
	}
	scrape := m.m.MetricsHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isScrape(r) {
			scrape.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isScrape(r *http.Request) bool {
	return r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead)
}

// requests counts and times requests by route, as prom's Handler would,
// for accessLog to call with each request's status and duration (so a
// request is timed once for both); nil with metrics off. A scrape that
// handler serves is not counted.
func (m *metrics) requests(serveMetrics bool) requestCounter {
	if m == nil {
		return nil
	}
	byPath := make(map[string]*prom.Route, len(routes))
	for path, name := range routes {
		byPath[path] = m.m.Route(name)
	}
	assets, unmatched := m.m.Route("/assets/"), m.m.Route(prom.Unmatched)
	return func(r *http.Request, status int, d time.Duration) {
		rt, ok := byPath[r.URL.Path]
		switch {
		case ok:
		case serveMetrics && isScrape(r):
			return
		case strings.HasPrefix(r.URL.Path, "/assets/"):
			rt = assets
		default:
			rt = unmatched
		}
		rt.Observe(status, d)
	}
}

// server is the -metrics-addr listener's server: /metrics only.
func (m *metrics) server() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.m.MetricsHandler())
	return &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: 15 * time.Second, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
}

// routes are the server's routes, as the Greeter and the page register
// them: the route label of a request whose path is one of them. Every
// other path is prom.Unmatched (a 404) or, under /assets/, "/assets/", so
// a client cannot make series. The Greeter's mux sits under the session
// middleware, which passes it a copy of the request, so the Pattern it
// sets does not reach the access log; the route table is small and exact,
// so a map lookup on the path names the route.
var routes = map[string]string{
	"/greet": "/greet", "/session": "/session", "/session/visits": "/session/visits", "/token": "/token",
	"/.well-known/jwks.json": "/.well-known/jwks.json", "/healthz": "/healthz", "/readyz": "/readyz", "/": "/",
}

// chain returns one hook that calls a and then b (either may be nil): b
// runs under the context a returned, and its done runs before a's.
func chain[F ~func(context.Context, E) (context.Context, func(error)), E any](a, b F) F {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(ctx context.Context, ev E) (context.Context, func(error)) {
		c, da := a(ctx, ev)
		if c != nil {
			ctx = c
		}
		c, db := b(ctx, ev)
		if c != nil {
			ctx = c
		}
		switch {
		case da == nil:
			return ctx, db
		case db == nil:
			return ctx, da
		}
		return ctx, func(err error) { db(err); da(err) }
	}
}

// listen serves /metrics on addr until stop is called; with addr "" (or
// metrics off) it does nothing.
func (m *metrics) listen(addr string, log *slog.Logger, listening func(net.Addr)) (stop func(), err error) {
	if m == nil || addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics-addr: %w", err)
	}
	log.Info("metrics listening", "addr", ln.Addr().String())
	if listening != nil {
		listening(ln.Addr())
	}
	srv := m.server()
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}
