// Command greeter serves the Greeter over HTTP: GET /greet?name=Alice
// answers {"message":"Hello, Alice!"}; POST, GET and DELETE /session log
// in, count visits and log out; /healthz and /readyz are the probes.
// Sessions live in the store that -store (or STORE_URL) names, so any number
// of instances can serve the same clients. GET / is a small page for a
// browser: the greet form (working without JavaScript), log in and out, the
// visit counter, and the instance that served each answer (page.go).
//
//	go run ./examples/greeter -addr 127.0.0.1:5000
//	curl 'http://127.0.0.1:5000/greet?name=Alice'
//
// Flags (each also read from an environment variable, GREETER_ and the
// flag's name in capitals with "-" as "_"; a flag overrides its variable):
//
//	-addr               listen address, default ":5000" (env GREETER_ADDR)
//	-store              store URL, default "memory://" (env GREETER_STORE,
//	                    or the older STORE_URL)
//	-drain              on SIGINT/SIGTERM, how long /readyz answers 503
//	                    before the shutdown, default 5s; 0 skips it
//	-shutdown-timeout   then how long in-flight requests may take, default
//	                    20s (above the 10s read timeout)
//	-ready-timeout      store ping timeout behind /readyz, default 500ms
//	-session-idle       a session ends after this long unused, default 30m
//	-session-lifetime   a session ends this long after login, default 24h
//	-cookie-secure      mark the session cookie Secure (set it behind TLS)
//	-login-rate         logins a minute per client address, default 30
//	                    (env GREETER_LOGIN_RATE); 0 turns the limit off
//	-trust-proxy        take the client address from X-Forwarded-For
//	                    (env GREETER_TRUST_PROXY, true or false)
//	-token-secret       encrypts the token signing keys in a shared store
//	                    (env GREETER_TOKEN_SECRET, the better place for it)
//	-token-lifetime     how long an access token lives, default 10m
//	-token-cache        verified access tokens kept, 0 default, -1 none
//	-log-format         text or json, default text
//	-log-level          debug, info, warn or error, default info; at warn
//	                    and above the per-request lines are dropped
//	-instance           this instance's name, in X-Served-By on every
//	                    response and on the page; default the hostname
//	-metrics            Prometheus metrics at /metrics, default true
//	-metrics-addr       serve /metrics on this host:port instead of -addr
//	-log-health         access-log successful /healthz and /readyz too,
//	                    default false (failing probes are always logged)
//	-log-sample-initial access-log lines of successful requests written in
//	                    full each second, default 1000; beyond, one in
//	                    -log-sample-thereafter is, and a line says how many
//	                    were left out; 0 logs every request (lines of
//	                    errors and of status 400 and above are never
//	                    sampled: logsample.go)
//	-log-sample-thereafter  beyond -log-sample-initial, one line in this
//	                    many is written, default 100 (1 or more)
//
// A bad environment value is reported like a bad flag, naming the
// variable; the values of -store and -token-secret are never repeated.
//
// Shutdown: on the first SIGINT or SIGTERM the server drains. For -drain,
// GET /readyz answers 503 {"error":"draining"} while every other route is
// still served, each response asking its client to close the connection,
// so that load balancers polling /readyz (and Kubernetes, which stops
// routing to a terminating pod only after a while) take the instance out
// before it stops listening. Then it stops accepting connections, lets
// the requests in flight finish for up to -shutdown-timeout, closes the
// store and exits 0. A second signal kills the process at once. A signal
// that arrives while the server is still starting (opening the store or
// setting up the token keys, against a store that may not answer) ends it
// at once with exit code 0, and no error about the store.
//
// Connections are bounded: request headers must arrive within 5 s and a
// whole request within 10 s; an idle connection is closed after 60 s
// (each to within 0.1 s: readdeadline.go); a write a client leaves
// blocked (it stops reading) fails after 14–15 s and closes the
// connection (writebound.go); headers are at most 64 KiB.
//
// Logins are limited per client address: POST /session may succeed
// -login-rate times at once, then -login-rate times a minute (a token
// bucket with that burst); beyond that it answers 429 with a JSON error and
// a Retry-After header giving the seconds until the next login is allowed.
// Other routes are not limited. IPv6 clients are counted per /64 prefix,
// since one subscriber can usually pick any address in its /64. The
// limiter remembers at most 100,000 addresses (about 25 MB), forgetting
// the least recently seen first; a forgotten address only starts again
// with a full allowance.
//
// The client address is the connection's remote address, and
// X-Forwarded-For is ignored, unless -trust-proxy is set. Set it only when
// every request comes through a reverse proxy that appends the address it
// was connected from to X-Forwarded-For (as nginx's
// $proxy_add_x_forwarded_for does): the LAST entry is then used, since the
// ones before it are whatever the client sent. Without a valid last entry
// the remote address is used. Behind such a proxy without -trust-proxy,
// all clients share the proxy's allowance.
//
// Exit codes: 0 after a clean shutdown or a start-up cut short by a
// signal, and for -h (which prints the usage on stdout); 2 for a bad flag,
// environment value or store URL, reported in one line on stderr; 1 when
// serving fails (the address is taken, say) or the shutdown could not
// drain every request in time.
//
// Memory: unless GOGC is set, the garbage collector's minimum heap target
// is 8 MiB instead of Go's 4 MiB while the heap is small (under about
// 4 MB live; beyond, Go's defaults hold as they are): collections under
// load come less than half as often, for at most 4 MiB more heap
// (gcfloor.go). GOGC=100 restores Go's defaults; GOMEMLIMIT holds either
// way.
//
// Logs go to stderr: a start-up line with the bound address and the store
// URL with its password redacted, then one line per request with its
// method, path (never the query string), status, bytes and duration. No
// headers, cookies or tokens are logged.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
)

// Server limits. The write timeout bounds how long a write to a client may
// stay blocked (the client not reading), not how long a handler may take:
// see writebound.go. The read timeouts are net/http's, which the
// connections apply lazily: see readdeadline.go.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
)

func main() {
	if os.Getenv("GOGC") == "" {
		keepHeapFloor(heapFloor) // gcfloor.go
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		// After the first signal, restore the default handling so that a
		// second one ends a drain or a shutdown that takes too long.
		signal.Stop(sigs)
		cancel(stopSignal{sig})
	}()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// stopSignal is the cause main gives ctx when a signal stops the server.
// Only then does run drain first: an orchestrator's SIGTERM means load
// balancers may still send requests, while a context cancelled otherwise
// (a test's) stops at once.
type stopSignal struct{ sig os.Signal }

func (s stopSignal) Error() string { return s.sig.String() + " signal received" }

// stoppedBySignal reports whether ctx ended because of a stopSignal.
func stoppedBySignal(ctx context.Context) bool {
	var s stopSignal
	return errors.As(context.Cause(ctx), &s)
}

// run is the whole program: it serves until ctx is done, then shuts down
// gracefully (draining first when a signal ended ctx), and returns the exit
// code. Usage goes to stdout, logs and errors to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, getenv, stdout, stderr, hooks{})
}

// hooks let tests see inside run; main leaves them zero.
type hooks struct {
	// listening is called with the bound address once the server listens,
	// so that a test given -addr 127.0.0.1:0 learns its port.
	listening func(net.Addr)
	// wrap, if set, wraps the Greeter handler (a test adds a slow route).
	wrap func(http.Handler) http.Handler
	// drainEnd, if set, ends the drain when it is closed, before -drain
	// has passed (a test's drain lasts exactly as long as it needs).
	drainEnd <-chan struct{}
	// wrapStore, if set, wraps the store (a test injects failures).
	wrapStore func(store.Store) store.Store
	// metricsListening is called with -metrics-addr's bound address.
	metricsListening func(net.Addr)
	// spanExporter, if set, turns tracing on with every span sent to it.
	spanExporter spanExporter
}

func runWith(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, hk hooks) int {
	cfg, err := parseConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "greeter: %v\n", err)
		return 2
	}
	logBuf := newLineBuffer(stderr) // lines go out together (logbuf.go)
	defer logBuf.Close()
	log := newLogger(cfg, logBuf)
	log = slog.New(flushOnWarn{log.Handler(), logBuf})
	defer routeRedisLogs(log, cfg.storeURL)()                           // before logBuf.Close: no go-redis line after it
	trc, err := startTracing(ctx, getenv, stdout, log, hk.spanExporter) // off unless OTEL_* asks (tracing.go)
	if err != nil {
		fmt.Fprintf(stderr, "greeter: %v\n", err)
		return 2
	}
	defer trc.shutdown(log)
	log = trc.logger(log)
	if cfg.shutdownTimeout <= readTimeout {
		log.Warn("-shutdown-timeout is not above the read timeout: a slow upload in flight at the shutdown may be cut off",
			"shutdown_timeout", cfg.shutdownTimeout, "read_timeout", readTimeout)
	}
	// Start-up waits on the store; a signal meanwhile ends it at once, not
	// as a failure of the store.
	interrupted := func(during string) int {
		log.Info("start-up interrupted; exiting", "during", during, "cause", context.Cause(ctx).Error())
		return 0
	}

	log.Debug("opening the store", "store", store.RedactURL(cfg.storeURL))
	st, err := unlessStopped(ctx, func() (store.Store, error) { return store.Open(ctx, cfg.storeURL) },
		func(st store.Store, err error) {
			if err == nil {
				st.Close()
			}
		})
	if ctx.Err() != nil {
		if err == nil {
			st.Close()
		}
		return interrupted("opening the store") // errLeftRunning: the step closes what it opens
	}
	if err != nil {
		// store.Open never puts the password in its errors; scrub anyway,
		// since a third-party adapter might.
		fmt.Fprintf(stderr, "greeter: store URL (%s): %s\n", cfg.source("store"), scrub(err.Error(), cfg.storeURL))
		return 2
	}
	if hk.wrapStore != nil {
		st = hk.wrapStore(st)
	}
	st = trc.store(st, cfg.storeURL)
	met := newMetrics(cfg.metrics) // nil with -metrics=false (metrics.go)
	st = met.store(st, cfg.storeURL)
	closeStore := func() int {
		if err := st.Close(); err != nil {
			log.Error("closing the store", "error", scrub(err.Error(), cfg.storeURL))
			return 1
		}
		return 0
	}

	sopts := greeter.SessionOptions() // cookie and X-Session-Token, as the routes promise
	sopts.IdleTimeout = cfg.sessionIdle
	sopts.Lifetime = cfg.sessionLifetime
	sopts.Cookie.Secure = cfg.cookieSecure
	sopts.Logger = log
	sopts.Observer = trc.sessionObserver(met.sessionObserver(sopts.Observer))
	sessions, err := session.New(st, sopts)
	if err != nil {
		fmt.Fprintf(stderr, "greeter: %v\n", err)
		closeStore()
		return 2
	}
	gopts := &greeter.Options{Logger: log, ReadyTimeout: cfg.readyTimeout, Sessions: sessions}
	gopts.Idempotency = trc.idempotency(st, log) // nil (the default) with tracing off
	gopts.Idempotency = met.idempotency(st, log, trc, gopts.Idempotency)
	log.Debug("setting up access tokens")
	toks, err := unlessStopped(ctx, func() (*tokens, error) {
		return newTokens(ctx, st, cfg.tokenSecret, cfg.tokenLifetime, cfg.tokenCache, log, met.authObserver())
	}, func(toks *tokens, err error) {
		if err == nil {
			toks.Close() // before the store: their refreshes use it
		}
		closeStore()
	})
	if ctx.Err() != nil {
		if !errors.Is(err, errLeftRunning) { // else the step closes the store when it ends
			if err == nil {
				toks.Close()
			}
			closeStore()
		}
		return interrupted("setting up access tokens")
	}
	switch {
	case errors.Is(err, errNoTokenSecret):
		log.Warn("access tokens are off: a shared store needs -token-secret (or " + envTokenSecret + ") set alike on every instance")
	case err != nil:
		fmt.Fprintf(stderr, "greeter: %s\n", scrub(err.Error(), cfg.storeURL))
		closeStore()
		return 1
	default:
		gopts.Tokens = toks
		storeOnly := closeStore
		closeStore = func() int { // their refreshes use the store: stop them first
			toks.Close()
			return storeOnly()
		}
	}
	if cfg.loginRate > 0 {
		gopts.AllowLogin = newLoginLimiter(cfg.loginRate, cfg.trustProxy).allow
	}
	var h http.Handler = greeter.New(st, gopts)
	h = withPage(h, cfg.instance) // GET / and its assets
	if hk.wrap != nil {
		h = hk.wrap(h)
	}
	dr := &drainer{next: h}
	var sample *sampler // nil: every line written (logsample.go)
	if cfg.logLevel <= slog.LevelInfo {
		sample = newSampler(cfg.logSampleInitial, cfg.logSampleThereafter, log) // nil with -log-sample-initial 0
	}
	defer sample.Close() // after the last access-log lines; before logBuf.Close
	logged := accessLog(log, met.handler(dr, cfg.metricsAddr == ""), accessLogOptions{
		logHealth: cfg.logHealth,
		direct:    newLineWriter(logBuf, cfg.logFormat, trc != nil),
		count:     met.requests(cfg.metricsAddr == ""),
		sample:    sample,
	})
	srv := &http.Server{
		Handler:           servedBy(cfg.instance, logged),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	srv.Handler = trc.handler(srv.Handler) // outermost: the access log sees the span
	if ctx.Err() != nil {
		closeStore()
		return interrupted("starting")
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		fmt.Fprintf(stderr, "greeter: %v\n", err)
		closeStore()
		return 1
	}
	ln, lines := logConns(srv, ln, writeTimeout)                              // access-log lines wait for their responses to be sent (accesslog.go); writes are bounded (writebound.go)
	stopMetrics, err := met.listen(cfg.metricsAddr, log, hk.metricsListening) // -metrics-addr (metrics.go)
	if err != nil {
		fmt.Fprintf(stderr, "greeter: %v\n", err)
		ln.Close()
		closeStore()
		return 1
	}
	defer stopMetrics()
	log.Info("greeter listening", "addr", ln.Addr().String(), "store", store.RedactURL(cfg.storeURL),
		"login_rate", cfg.loginRate, "trust_proxy", cfg.trustProxy, "drain", cfg.drain, "shutdown_timeout", cfg.shutdownTimeout)
	if hk.listening != nil {
		hk.listening(ln.Addr())
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		// Serve returns only on failure before Shutdown is called.
		log.Error("serving failed", "error", err)
		closeStore()
		return 1
	case <-ctx.Done():
	}

	if cfg.drain > 0 && stoppedBySignal(ctx) {
		dr.start()
		log.Info("draining: /readyz answers 503, every other route is still served; a second signal stops at once",
			"drain", cfg.drain, "cause", context.Cause(ctx).Error())
		t := time.NewTimer(cfg.drain)
		select {
		case <-t.C:
		case <-hk.drainEnd:
			t.Stop()
		case err := <-served:
			t.Stop()
			log.Error("serving failed", "error", err)
			closeStore()
			return 1
		}
	}

	log.Info("shutting down: no new connections, finishing the requests in flight", "timeout", cfg.shutdownTimeout)
	code := 0
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("requests still in flight at the shutdown timeout; closing their connections", "error", err)
		srv.Close()
		code = 1
	}
	<-served                // http.ErrServerClosed
	lines.wait(time.Second) // the last access-log lines, from connections that just went idle
	sample.Close()          // the last second's count of lines left out
	if c := closeStore(); c != 0 {
		code = c
	}
	log.Info("greeter stopped", "exit_code", code)
	return code
}
