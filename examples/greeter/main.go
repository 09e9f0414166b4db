// Command greeter serves the Greeter over HTTP: GET /greet?name=Alice
// answers {"message":"Hello, Alice!"}; POST, GET and DELETE /session log
// in, count visits and log out; /healthz and /readyz are the probes.
// Sessions live in the store that -store (or STORE_URL) names, so any number
// of instances can serve the same clients.
//
//	go run ./examples/greeter -addr 127.0.0.1:5000
//	curl 'http://127.0.0.1:5000/greet?name=Alice'
//
// Flags (a flag overrides its environment variable):
//
//	-addr               listen address, default ":5000" (env GREETER_ADDR)
//	-store              store URL, default "memory://" (env STORE_URL)
//	-shutdown-timeout   drain time on SIGINT/SIGTERM, default 10s
//	-ready-timeout      store ping timeout behind /readyz, default 500ms
//	-session-idle       a session ends after this long unused, default 30m
//	-session-lifetime   a session ends this long after login, default 24h
//	-cookie-secure      mark the session cookie Secure (set it behind TLS)
//	-login-rate         logins a minute per client address, default 30
//	                    (env GREETER_LOGIN_RATE); 0 turns the limit off
//	-trust-proxy        take the client address from X-Forwarded-For
//	                    (env GREETER_TRUST_PROXY, true or false)
//	-log-format         text or json, default text
//	-log-level          debug, info, warn or error, default info; at warn
//	                    and above the per-request lines are dropped
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
// Exit codes: 0 after a clean shutdown, and for -h (which prints the usage
// on stdout); 2 for a bad flag, environment value or store URL, reported in
// one line on stderr; 1 when serving fails (the address is taken, say) or
// the shutdown could not drain every request in time.
//
// Logs go to stderr: a start-up line with the bound address and the store
// URL with its password redacted, then one line per request with its
// method, path (never the query string), status, bytes and duration. No
// headers, cookies or tokens are logged.
//
// A first SIGINT or SIGTERM starts the graceful shutdown; a second one kills
// the process at once.
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

// Server limits. The write timeout must leave room for the slowest handler,
// /readyz at its ready timeout; run raises it if -ready-timeout needs more.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default handling so that a
		// second one ends a shutdown that takes too long.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is the whole program: it serves until ctx is done, then shuts down
// gracefully, and returns the exit code. Usage goes to stdout, logs and
// errors to stderr.
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
	log := newLogger(cfg, stderr)
	routeRedisLogs(log, cfg.storeURL)

	st, err := store.Open(ctx, cfg.storeURL)
	if err != nil {
		// store.Open never puts the password in its errors; scrub anyway,
		// since a third-party adapter might.
		fmt.Fprintf(stderr, "greeter: store URL (-store or %s): %s\n", envStore, scrub(err.Error(), cfg.storeURL))
		return 2
	}
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
	sessions, err := session.New(st, sopts)
	if err != nil {
		fmt.Fprintf(stderr, "greeter: %v\n", err)
		closeStore()
		return 2
	}
	gopts := &greeter.Options{Logger: log, ReadyTimeout: cfg.readyTimeout, Sessions: sessions}
	toks, err := newTokens(ctx, st, cfg.tokenSecret, cfg.tokenLifetime, cfg.tokenCache, log)
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
	if hk.wrap != nil {
		h = hk.wrap(h)
	}
	srv := &http.Server{
		Handler:           accessLog(log, h),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      max(writeTimeout, cfg.readyTimeout+5*time.Second),
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		fmt.Fprintf(stderr, "greeter: %v\n", err)
		closeStore()
		return 1
	}
	log.Info("greeter listening", "addr", ln.Addr().String(), "store", store.RedactURL(cfg.storeURL),
		"login_rate", cfg.loginRate, "trust_proxy", cfg.trustProxy)
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

	log.Info("shutting down: draining in-flight requests", "timeout", cfg.shutdownTimeout)
	code := 0
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("requests still in flight at the shutdown timeout; closing their connections", "error", err)
		srv.Close()
		code = 1
	}
	<-served // http.ErrServerClosed
	if c := closeStore(); c != 0 {
		code = c
	}
	log.Info("greeter stopped", "exit_code", code)
	return code
}
