package prom

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure Metrics. Nil, or a zero field, means the default.
type Options struct {
	// Registry receives every metric. Default: a new registry holding
	// also the Go runtime and process collectors.
	Registry *prometheus.Registry
	// Namespace is the first part of every name. Default "stateless".
	Namespace string
	// Buckets are the latency histograms' bucket bounds, in seconds.
	// Default: 0.25 ms to 2.5 s, DefaultBuckets.
	Buckets []float64
}

// DefaultBuckets suit a service whose requests take from a few hundred
// microseconds (an in-memory session read) to a second (a store timeout).
var DefaultBuckets = []float64{.00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Metrics holds the collectors. Make one per process with New; its
// methods return the hooks to install. It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	ns  string

	httpCount    *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	routes       sync.Map // route → *routeSeries

	storeOps      *prometheus.CounterVec
	storeDuration *prometheus.HistogramVec
	stats         *statsCollector

	sessEvents *prometheus.CounterVec

	authVerify *prometheus.CounterVec
	authCache  *prometheus.CounterVec
	authRevoke *prometheus.CounterVec

	idemEvents    *prometheus.CounterVec
	idemStoreErrs prometheus.Counter
}

// New makes the collectors and registers them. It panics only if
// opts.Registry already holds metrics of the same names (as
// prometheus.MustRegister does): a wiring mistake.
func New(opts *Options) *Metrics {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if o.Namespace == "" {
		o.Namespace = "stateless"
	}
	if o.Buckets == nil {
		o.Buckets = DefaultBuckets
	}
	ns, b := o.Namespace, o.Buckets
	m := &Metrics{reg: o.Registry, ns: ns}
	counter := func(sub, name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	histogram := func(sub, name, help string, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help, Buckets: b}, labels)
	}
	m.httpCount = counter("http", "requests_total", "HTTP requests served, by route pattern and status class.", "route", "code")
	m.httpDuration = histogram("http", "request_duration_seconds", "Time to serve an HTTP request, by route pattern and status class.", "route", "code")
	m.storeOps = counter("store", "operations_total", "Store operations, by backend, operation and result (ok, not_found, exists, conflict, error).", "backend", "op", "result")
	m.storeDuration = histogram("store", "operation_duration_seconds", "Time a store operation took, by backend and operation.", "backend", "op")
	m.stats = newStatsCollector(ns)
	m.sessEvents = counter("session", "events_total", "Session events (load, save, create, renew, destroy, conflict, retry, touch, store_error) by result.", "event", "result")
	m.authVerify = counter("auth", "verifications_total", "Access-token verifications, by result.", "result")
	m.authCache = counter("auth", "cache_lookups_total", "Verified-token cache lookups, by result (hit, miss).", "result")
	m.authRevoke = counter("auth", "revocations_total", "Revocations issued, by result (ok, error).", "result")
	m.idemEvents = counter("idempotency", "events_total", "Idempotency-Key requests by what happened: execute, replay, in_flight (409), mismatch (422), too_large (413), …", "event")
	m.idemStoreErrs = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "idempotency", Name: "store_errors_total", Help: "Idempotency store operations that failed."})
	m.reg.MustRegister(m.httpCount, m.httpDuration, m.storeOps, m.storeDuration, m.stats,
		m.sessEvents, m.authVerify, m.authCache, m.authRevoke, m.idemEvents, m.idemStoreErrs)
	return m
}

// Registry returns the registry the metrics are in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// MetricsHandler serves the registry in the Prometheus exposition format.
// A scrape costs work proportional to the number of series, which the
// code bounds (see the package documentation); one scrape runs at a time
// (a concurrent one answers 503 at once) and a scrape that takes over 10 s
// answers 503.
func (m *Metrics) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 1, Timeout: 10 * time.Second})
}

// since is the seconds since start.
func since(start time.Time) float64 { return time.Since(start).Seconds() }
