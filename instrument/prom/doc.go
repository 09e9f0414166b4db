// Package prom exports Prometheus metrics (prometheus/client_golang) for
// the packages of this module, fed by the hook points their cores expose:
// store.WithHook, session.Options.Observer, auth's VerifierOptions and
// RevocationOptions Observer, idempotency.Options.Observer, plus an HTTP
// middleware and a collector of the adapters' Stats.
//
//	m := prom.New(nil)                                   // its own registry
//	st = store.WithHook(st, m.StoreHook("redis"))        // operations, latency, errors
//	m.WatchStore("redis", st)                            // Stats() at scrape time
//	sopts.Observer = m.SessionObserver()
//	handler = m.Handler(handler, nil)                    // requests by route and status class
//	mux.Handle("GET /metrics", m.MetricsHandler())
//
// A server whose own middleware already times each request and notes its
// status (an access log) can feed the request series itself, and time
// each request once: greet := m.Route("GET /greet"), then
// greet.Observe(status, duration) per request.
//
// # Metrics
//
// Names follow the Prometheus conventions (base units, _seconds, _total)
// and are checked by testutil's linter in this package's tests. Label
// values are bounded: routes come from route patterns (never raw paths;
// a request no pattern matched is "unmatched"), status codes are classes
// (2xx…5xx), and the rest are the fixed names of the hooks' operations,
// events and results. Nothing a client sends becomes a label, so the
// number of series is fixed by the code, not by traffic.
//
//	stateless_http_requests_total{route,code}                        counter
//	stateless_http_request_duration_seconds{route,code}              histogram
//	stateless_store_operations_total{backend,op,result}              counter; result: ok, not_found, exists, conflict, error
//	stateless_store_operation_duration_seconds{backend,op}           histogram
//	stateless_store_adapter_*{backend}                               the adapter's Stats(), read at scrape time
//	stateless_session_events_total{event,result}                     counter; load, save, create, renew, destroy, conflict, retry, touch, store_error
//	stateless_auth_verifications_total{result}                       counter; result as auth.Result
//	stateless_auth_cache_lookups_total{result}                       counter; hit, miss
//	stateless_auth_revocations_total{result}                         counter; ok, error
//	stateless_idempotency_events_total{event}                        counter; execute, replay, in_flight, mismatch, too_large, …
//	stateless_idempotency_store_errors_total                         counter
//
// # One module
//
// The package lives in the root module rather than a module of its own.
// Go's module graph is pruned (go ≥ 1.17): a program compiles only the
// packages it imports, so a user of store, session or greeter never
// builds client_golang, and never downloads it unless it imports this
// package (go.sum only lists it). A separate module would buy nothing for
// builds and cost a second version line and a replace directive for every
// change that touches a hook and its instrumentation together. The core
// packages keep importing only the standard library; this package is the
// only one that imports client_golang.
package prom
