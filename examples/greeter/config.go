package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/stateless-go/stateless/store"
)

// config is what the flags and the environment decide.
type config struct {
	addr            string
	storeURL        string
	drain           time.Duration // on SIGINT/SIGTERM, how long /readyz fails before the shutdown
	shutdownTimeout time.Duration
	readyTimeout    time.Duration
	logFormat       string
	logLevel        slog.Level
	sessionIdle     time.Duration
	sessionLifetime time.Duration
	cookieSecure    bool
	loginRate       int  // logins a minute per client address; 0: no limit
	trustProxy      bool // read the client address from X-Forwarded-For
	tokenSecret     string
	tokenLifetime   time.Duration
	tokenCache      int // verified-token cache entries; negative: none

	instance string // X-Served-By on every response; default the hostname

	metrics     bool   // Prometheus metrics on
	metricsAddr string // serve /metrics there instead of on addr
	logHealth   bool   // access-log /healthz and /readyz too

	// Access-log sampling (logsample.go): lines of successful requests
	// written in full each second, then one in logSampleThereafter; 0
	// for no sampling.
	logSampleInitial    int
	logSampleThereafter int

	// from names where each flag's value came from: "-name" for the
	// command line, the variable's name for the environment; absent for
	// a default. Errors name it, so the operator knows what to fix.
	from map[string]string
}

// Every flag is also read from an environment variable: GREETER_ and the
// flag's name in capitals with "-" as "_" (envName). -store also reads the
// older STORE_URL.
const envPrefix = "GREETER_"

// Environment variables read when the matching flag is not given.
const (
	envAddr        = "GREETER_ADDR"
	envStore       = "STORE_URL" // -store's older name, still read
	envStoreNew    = "GREETER_STORE"
	envLoginRate   = "GREETER_LOGIN_RATE"
	envTrustProxy  = "GREETER_TRUST_PROXY"
	envTokenSecret = "GREETER_TOKEN_SECRET"
	envDrain       = "GREETER_DRAIN"
)

// envName returns the environment variable of the flag name:
// shutdown-timeout → GREETER_SHUTDOWN_TIMEOUT.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envNames returns the variables a flag is read from, the first one found
// set winning: -store reads GREETER_STORE, then STORE_URL.
func envNames(flagName string) []string {
	if flagName == "store" {
		return []string{envStoreNew, envStore}
	}
	return []string{envName(flagName)}
}

// secretFlags hold values that errors and logs never repeat: a store URL
// may carry a password.
var secretFlags = map[string]bool{"store": true, "token-secret": true}

const usageHead = `Usage: greeter [flags]

Serves the Greeter (GET /greet?name=…, POST/GET/DELETE /session, POST /token,
/.well-known/jwks.json, /healthz, /readyz) over HTTP, backed
by the shared store that -store names.

Every flag can also be set by an environment variable: GREETER_ and the
flag's name in capitals with - as _ (-shutdown-timeout: GREETER_SHUTDOWN_TIMEOUT,
-cookie-secure: GREETER_COOKIE_SECURE=true); -store also reads STORE_URL. A
flag overrides its variable, which overrides the default; an empty variable
counts as unset.

On SIGINT or SIGTERM the server drains: for -drain, /readyz answers 503
{"error":"draining"} while every other route is still served (with
Connection: close), so that load balancers take the instance out first;
then it stops listening, lets in-flight requests finish for up to
-shutdown-timeout, closes the store and exits 0. A second signal kills it
at once. A signal while it is still starting (opening the store, say) ends
it at once, with exit code 0.

Logins (POST /session) are limited per client address: -login-rate at
once, then -login-rate a minute; more answer 429 with Retry-After. The
client address is the connection's, or with -trust-proxy the last one in
X-Forwarded-For (set it only behind a reverse proxy that appends it).

Unless GOGC is set, the collector's minimum heap target is 8 MiB, not
Go's 4 MiB, while the heap is small; GOGC=100 restores Go's defaults.

Flags:
`

// parseConfig reads args (without the program name) and the environment.
// For -h it writes the usage to usage and returns flag.ErrHelp. Any other
// error is one line, fit to print as is; it never holds a store URL, which
// may carry a password, nor the token secret.
func parseConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	cfg := config{from: map[string]string{}}
	fs := flag.NewFlagSet("greeter", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by the caller, in one line
	fs.StringVar(&cfg.addr, "addr", ":5000", "listen `address` (host:port)")
	fs.StringVar(&cfg.storeURL, "store", "memory://", "session store `URL`, e.g. memory://, redis://user:pass@host:6379/0")
	fs.DurationVar(&cfg.drain, "drain", 5*time.Second, "on SIGINT/SIGTERM, how long /readyz answers 503 while the server still serves everything else, before it stops listening; 0 skips it")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 20*time.Second, "after the drain, how long in-flight requests may take to finish; keep it above the read timeout ("+readTimeout.String()+") so that a slow upload is not cut off")
	fs.DurationVar(&cfg.readyTimeout, "ready-timeout", 500*time.Millisecond, "how long /readyz waits for the store to answer a ping")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&cfg.sessionIdle, "session-idle", 30*time.Minute, "a session ends after this long unused")
	fs.DurationVar(&cfg.sessionLifetime, "session-lifetime", 24*time.Hour, "a session ends this long after login, however busy")
	fs.BoolVar(&cfg.cookieSecure, "cookie-secure", false, "mark the session cookie Secure (HTTPS only); set it behind TLS")
	fs.IntVar(&cfg.loginRate, "login-rate", 30, "allow `N` logins a minute per client address, in bursts of up to N; 0 turns the limit off")
	fs.BoolVar(&cfg.trustProxy, "trust-proxy", false, "take the client address from the last X-Forwarded-For entry, as a trusted reverse proxy appends it; without it the header is ignored")
	fs.StringVar(&cfg.tokenSecret, "token-secret", "", "`secret` (at least 32 bytes) that encrypts the token signing keys in the store; every instance needs the same (the environment is the better place for it). Empty: POST /token works only over memory://")
	fs.DurationVar(&cfg.tokenLifetime, "token-lifetime", 10*time.Minute, "how long an access token from POST /token lives")
	fs.IntVar(&cfg.tokenCache, "token-cache", 0, "verified access tokens kept to skip verifying them again: 0 for the default (10000), -1 for none")
	fs.StringVar(&cfg.instance, "instance", "", "`name` of this instance, sent in X-Served-By on every response and shown on the page at /: up to "+strconv.Itoa(maxInstanceLen)+" letters, digits and . _ - : (default the hostname)")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error (warn drops the per-request lines)")
	fs.BoolVar(&cfg.metrics, "metrics", true, "Prometheus metrics, served at /metrics (or on -metrics-addr)")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve /metrics on this `address` (host:port) instead of on -addr")
	fs.BoolVar(&cfg.logHealth, "log-health", false, "access-log /healthz and /readyz requests too (a balancer's probes, every second or so)")
	fs.IntVar(&cfg.logSampleInitial, "log-sample-initial", 1000, "access-log lines of successful requests (status below 400) written in full each second; beyond `N`, one in -log-sample-thereafter is, and a line says how many were left out. Errors and status 400 and above are always logged. 0 logs every request")
	fs.IntVar(&cfg.logSampleThereafter, "log-sample-thereafter", 100, "beyond -log-sample-initial lines in a second, write one successful request's line in `M` (1 or more)")
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += " (env " + strings.Join(envNames(f.Name), " or ") + ")"
	})

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(usage, usageHead)
			fs.SetOutput(usage)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		arg := fs.Arg(0)
		if strings.Contains(arg, "://") {
			arg = store.RedactURL(arg) // a store URL given without -store
		}
		return cfg, fmt.Errorf("unexpected argument %q: greeter takes flags only (see -h)", arg)
	}
	fs.Visit(func(f *flag.Flag) { cfg.from[f.Name] = "-" + f.Name })
	if err := setFromEnv(fs, getenv, cfg.from); err != nil {
		return cfg, err
	}

	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		return cfg, fmt.Errorf("invalid listen address %q (%s): want host:port, such as :5000 or 127.0.0.1:8080", cfg.addr, cfg.source("addr"))
	}
	if cfg.drain < 0 {
		return cfg, fmt.Errorf("invalid %s %v: want 0 (no drain) or more", cfg.source("drain"), cfg.drain)
	}
	if cfg.shutdownTimeout <= 0 {
		return cfg, fmt.Errorf("invalid %s %v: must be positive", cfg.source("shutdown-timeout"), cfg.shutdownTimeout)
	}
	if cfg.readyTimeout <= 0 {
		return cfg, fmt.Errorf("invalid %s %v: must be positive", cfg.source("ready-timeout"), cfg.readyTimeout)
	}
	if cfg.sessionIdle <= 0 || cfg.sessionLifetime <= 0 {
		return cfg, fmt.Errorf("invalid %s %v or %s %v: both must be positive", cfg.source("session-idle"), cfg.sessionIdle, cfg.source("session-lifetime"), cfg.sessionLifetime)
	}
	if cfg.tokenSecret != "" && len(cfg.tokenSecret) < 32 {
		return cfg, fmt.Errorf("invalid token secret (%s): %d bytes, want at least 32", cfg.source("token-secret"), len(cfg.tokenSecret))
	}
	if cfg.tokenLifetime <= 0 || cfg.tokenLifetime > 24*time.Hour {
		return cfg, fmt.Errorf("invalid %s %v: want more than 0 and at most 24h", cfg.source("token-lifetime"), cfg.tokenLifetime)
	}
	if cfg.loginRate < 0 {
		return cfg, fmt.Errorf("invalid login rate %d (%s): want logins a minute per client address, or 0 for no limit", cfg.loginRate, cfg.source("login-rate"))
	}
	if cfg.logSampleInitial < 0 {
		return cfg, fmt.Errorf("invalid %s %d: want lines a second, or 0 to log every request", cfg.source("log-sample-initial"), cfg.logSampleInitial)
	}
	if cfg.logSampleThereafter < 1 {
		return cfg, fmt.Errorf("invalid %s %d: want 1 or more (one line in M is written)", cfg.source("log-sample-thereafter"), cfg.logSampleThereafter)
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, fmt.Errorf("invalid %s %q: want text or json", cfg.source("log-format"), cfg.logFormat)
	}
	if cfg.instance == "" {
		cfg.instance = defaultInstance()
	}
	if err := checkInstance(cfg.instance); err != nil {
		return cfg, fmt.Errorf("invalid %s %q: %v", cfg.source("instance"), cfg.instance, err)
	}
	if cfg.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(cfg.metricsAddr); err != nil || !cfg.metrics {
			return cfg, fmt.Errorf("invalid %s %q: want host:port, and -metrics on", cfg.source("metrics-addr"), cfg.metricsAddr)
		}
	}
	if strings.TrimSpace(cfg.storeURL) == "" {
		return cfg, fmt.Errorf("empty store URL (%s); want e.g. memory://", cfg.source("store"))
	}
	return cfg, nil
}

// source names where flag name's value came from, for an error: "-name"
// or the environment variable; for a default, the flag and its variables.
func (c config) source(name string) string {
	if s := c.from[name]; s != "" {
		return s
	}
	return "-" + name + " or " + strings.Join(envNames(name), " or ")
}

// setFromEnv sets every flag of fs not given on the command line (those
// in from) from its environment variable, if that is set and not empty,
// and records the variable in from. A bad value is an error naming the
// variable and its flag; it repeats the value only for a flag that holds
// no secret.
func setFromEnv(fs *flag.FlagSet, getenv func(string) string, from map[string]string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || from[f.Name] != "" {
			return
		}
		var name, v string
		for _, n := range envNames(f.Name) {
			if v = getenv(n); v != "" {
				name = n
				break
			}
		}
		if name == "" {
			return
		}
		if f.Name == "store" {
			if other := getenv(envStore); name != envStore && other != "" && other != v {
				err = fmt.Errorf("%s and %s are both set, to different store URLs: set only one", name, envStore)
				return
			}
		}
		if !isString(f) {
			v = strings.TrimSpace(v) // "8 " from a YAML file is 8; a string keeps its spaces
		}
		if e := fs.Set(f.Name, v); e != nil {
			shown := ""
			if !secretFlags[f.Name] {
				shown = fmt.Sprintf(" %q", v)
			}
			err = fmt.Errorf("invalid %s%s (environment variable of -%s): %s", name, shown, f.Name, want(f, e))
			return
		}
		from[f.Name] = name
	})
	return err
}

// isString reports whether f holds a plain string.
func isString(f *flag.Flag) bool {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	_, ok = g.Get().(string)
	return ok
}

// want says what value f takes, for the error of a value it refused with
// err.
func want(f *flag.Flag, err error) string {
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool:
			return "want true or false"
		case int:
			return "want a whole number"
		case time.Duration:
			return "want a duration such as 5s, 1m30s or 0s"
		}
	}
	return err.Error()
}

// newLogger writes cfg's format and level to w.
func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
