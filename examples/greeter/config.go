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
}

// Environment variables read when the matching flag is not given.
const (
	envAddr        = "GREETER_ADDR"
	envStore       = "STORE_URL"
	envLoginRate   = "GREETER_LOGIN_RATE"
	envTrustProxy  = "GREETER_TRUST_PROXY"
	envTokenSecret = "GREETER_TOKEN_SECRET"
)

const usageHead = `Usage: greeter [flags]

Serves the Greeter (GET /greet?name=…, POST/GET/DELETE /session, POST /token,
/.well-known/jwks.json, /healthz, /readyz) over HTTP, backed
by the shared store that -store names. A flag overrides its environment
variable, which overrides the default. SIGINT or SIGTERM drains in-flight
requests, closes the store and exits 0.

Logins (POST /session) are limited per client address: -login-rate at
once, then -login-rate a minute; more answer 429 with Retry-After. The
client address is the connection's, or with -trust-proxy the last one in
X-Forwarded-For (set it only behind a reverse proxy that appends it).

Flags:
`

// parseConfig reads args (without the program name) and the environment.
// For -h it writes the usage to usage and returns flag.ErrHelp. Any other
// error is one line, fit to print as is; it never holds a store URL, which
// may carry a password.
func parseConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	cfg := config{}
	fs := flag.NewFlagSet("greeter", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by the caller, in one line
	fs.StringVar(&cfg.addr, "addr", ":5000", "listen `address` (host:port; env "+envAddr+")")
	fs.StringVar(&cfg.storeURL, "store", "memory://", "session store `URL` (env "+envStore+"), e.g. memory://, redis://user:pass@host:6379/0")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGINT/SIGTERM, how long in-flight requests may take to finish")
	fs.DurationVar(&cfg.readyTimeout, "ready-timeout", 500*time.Millisecond, "how long /readyz waits for the store to answer a ping")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&cfg.sessionIdle, "session-idle", 30*time.Minute, "a session ends after this long unused")
	fs.DurationVar(&cfg.sessionLifetime, "session-lifetime", 24*time.Hour, "a session ends this long after login, however busy")
	fs.BoolVar(&cfg.cookieSecure, "cookie-secure", false, "mark the session cookie Secure (HTTPS only); set it behind TLS")
	fs.IntVar(&cfg.loginRate, "login-rate", 30, "allow `N` logins a minute per client address, in bursts of up to N (env "+envLoginRate+"); 0 turns the limit off")
	fs.BoolVar(&cfg.trustProxy, "trust-proxy", false, "take the client address from the last X-Forwarded-For entry, as a trusted reverse proxy appends it (env "+envTrustProxy+"); without it the header is ignored")
	fs.StringVar(&cfg.tokenSecret, "token-secret", "", "`secret` (at least 32 bytes) that encrypts the token signing keys in the store; every instance needs the same (env "+envTokenSecret+", the better place for it). Empty: POST /token works only over memory://")
	fs.DurationVar(&cfg.tokenLifetime, "token-lifetime", 10*time.Minute, "how long an access token from POST /token lives")
	fs.IntVar(&cfg.tokenCache, "token-cache", 0, "verified access tokens kept to skip verifying them again: 0 for the default (10000), -1 for none")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error (warn drops the per-request lines)")

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

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if v := getenv(envAddr); v != "" && !set["addr"] {
		cfg.addr = v
	}
	if v := getenv(envStore); v != "" && !set["store"] {
		cfg.storeURL = v
	}
	if v := getenv(envLoginRate); v != "" && !set["login-rate"] {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return cfg, fmt.Errorf("invalid %s %q: want a whole number of logins a minute, 0 for no limit", envLoginRate, v)
		}
		cfg.loginRate = n
	}
	if v := getenv(envTokenSecret); v != "" && !set["token-secret"] {
		cfg.tokenSecret = v
	}
	if v := getenv(envTrustProxy); v != "" && !set["trust-proxy"] {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return cfg, fmt.Errorf("invalid %s %q: want true or false", envTrustProxy, v)
		}
		cfg.trustProxy = b
	}

	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		return cfg, fmt.Errorf("invalid listen address %q (-addr or %s): want host:port, such as :5000 or 127.0.0.1:8080", cfg.addr, envAddr)
	}
	if cfg.shutdownTimeout <= 0 {
		return cfg, fmt.Errorf("invalid -shutdown-timeout %v: must be positive", cfg.shutdownTimeout)
	}
	if cfg.readyTimeout <= 0 {
		return cfg, fmt.Errorf("invalid -ready-timeout %v: must be positive", cfg.readyTimeout)
	}
	if cfg.sessionIdle <= 0 || cfg.sessionLifetime <= 0 {
		return cfg, fmt.Errorf("invalid -session-idle %v or -session-lifetime %v: both must be positive", cfg.sessionIdle, cfg.sessionLifetime)
	}
	if cfg.tokenSecret != "" && len(cfg.tokenSecret) < 32 {
		return cfg, fmt.Errorf("invalid token secret (-token-secret or %s): %d bytes, want at least 32", envTokenSecret, len(cfg.tokenSecret))
	}
	if cfg.tokenLifetime <= 0 || cfg.tokenLifetime > 24*time.Hour {
		return cfg, fmt.Errorf("invalid -token-lifetime %v: want more than 0 and at most 24h", cfg.tokenLifetime)
	}
	if cfg.loginRate < 0 {
		return cfg, fmt.Errorf("invalid login rate %d (-login-rate or %s): want logins a minute per client address, or 0 for no limit", cfg.loginRate, envLoginRate)
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, fmt.Errorf("invalid -log-format %q: want text or json", cfg.logFormat)
	}
	if strings.TrimSpace(cfg.storeURL) == "" {
		return cfg, fmt.Errorf("empty store URL (-store or %s); want e.g. memory://", envStore)
	}
	return cfg, nil
}

// newLogger writes cfg's format and level to w.
func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
