package prom

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stateless-go/stateless/internal/statuswriter"
)

// Unmatched is the route label of a request no route pattern matched.
const Unmatched = "unmatched"

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// routeSeries are one route's series, one per status class, made on the
// route's first request so that serving never looks a label up.
type routeSeries struct {
	count [len(classes)]prometheus.Counter
	dur   [len(classes)]prometheus.Observer
}

func (m *Metrics) series(route string) *routeSeries {
	if rs, ok := m.routes.Load(route); ok {
		return rs.(*routeSeries)
	}
	rs := &routeSeries{}
	for i, c := range classes {
		rs.count[i] = m.httpCount.WithLabelValues(route, c)
		rs.dur[i] = m.httpDuration.WithLabelValues(route, c)
	}
	got, _ := m.routes.LoadOrStore(route, rs)
	return got.(*routeSeries)
}

// observe counts and times one request answered with status (0: nothing
// written, which net/http answers 200).
func (rs *routeSeries) observe(status int, seconds float64) {
	c := status/100 - 1
	if c < 0 || c >= len(classes) {
		c = 1
	}
	rs.count[c].Inc()
	rs.dur[c].Observe(seconds)
}

// Handler counts and times the requests next serves, by route and status
// class. route names a request's route: it must return a route pattern
// or a fixed name, never anything taken from the request as it is (a raw
// path would let clients create series without end), and "" for a request
// no route matched (labelled Unmatched). It is called after next returns.
// nil means the request's Pattern, which http.ServeMux sets: right when
// the mux gets the very *http.Request that Handler passes on (no
// middleware in between calls r.WithContext); otherwise give route.
//
// A server that already times its requests and notes their status (an
// access log) can record the same series itself with Route, and spare
// each request a second timing.
func (m *Metrics) Handler(next http.Handler, route func(*http.Request) string) http.Handler {
	if route == nil {
		route = func(r *http.Request) string { return r.Pattern }
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statuswriter.Writer{ResponseWriter: w}
		next.ServeHTTP(sw, r) // a panic goes on uncounted, as net/http answers nothing
		name := route(r)
		if name == "" {
			name = Unmatched
		}
		m.series(name).observe(sw.Status, since(start))
	})
}

// Route is one route's request series, those Handler records: for a
// server that times its requests itself. Get a route's once, with
// Metrics.Route, and keep it: Observe then looks no label up.
type Route struct {
	m    *Metrics
	name string
	rs   atomic.Pointer[routeSeries] // made on the first Observe
}

// Route returns the request series of the named route: a route pattern
// or a fixed name, never anything taken from the request as it is (see
// Handler); "" is Unmatched. Its series appear on its first request.
func (m *Metrics) Route(name string) *Route {
	if name == "" {
		name = Unmatched
	}
	return &Route{m: m, name: name}
}

// Observe counts one request of the route, answered with status (0 means
// nothing was written: net/http answers 200), that took d.
func (r *Route) Observe(status int, d time.Duration) {
	rs := r.rs.Load()
	if rs == nil {
		rs = r.m.series(r.name)
		r.rs.Store(rs)
	}
	rs.observe(status, d.Seconds())
}
