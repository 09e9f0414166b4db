package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
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
}

// Environment variables read when the matching flag is not given.
const (
	envAddr  = "GREETER_ADDR"
	envStore = "STORE_URL"
)

const usageHead = `Usage: greeter [flags]

Serves the Greeter (GET /greet?name=…, POST/GET/DELETE /session, /healthz,
/readyz) over HTTP, backed
by the shared store that -store names. A flag overrides its environment
variable, which overrides the default. SIGINT or SIGTERM drains in-flight
requests, closes the store and exits 0.

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
