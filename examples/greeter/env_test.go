package main

import (
	"bytes"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envCases holds, for every flag, a value other than its default and how
// to tell it was taken. TestEveryFlagFromEnv fails when a flag is missing
// here, so a new flag cannot go untested.
var envCases = map[string]struct {
	value string
	took  func(config) bool
}{
	"addr":                  {"127.0.0.1:7001", func(c config) bool { return c.addr == "127.0.0.1:7001" }},
	"store":                 {"memory://?max_entries=7", func(c config) bool { return c.storeURL == "memory://?max_entries=7" }},
	"drain":                 {"7s", func(c config) bool { return c.drain == 7*time.Second }},
	"shutdown-timeout":      {"31s", func(c config) bool { return c.shutdownTimeout == 31*time.Second }},
	"ready-timeout":         {"2s", func(c config) bool { return c.readyTimeout == 2*time.Second }},
	"log-format":            {"json", func(c config) bool { return c.logFormat == "json" }},
	"log-level":             {"warn", func(c config) bool { return c.logLevel == slog.LevelWarn }},
	"session-idle":          {"5m", func(c config) bool { return c.sessionIdle == 5*time.Minute }},
	"session-lifetime":      {"2h", func(c config) bool { return c.sessionLifetime == 2*time.Hour }},
	"cookie-secure":         {"true", func(c config) bool { return c.cookieSecure }},
	"login-rate":            {"7", func(c config) bool { return c.loginRate == 7 }},
	"trust-proxy":           {"1", func(c config) bool { return c.trustProxy }},
	"token-secret":          {strings.Repeat("k", 32), func(c config) bool { return c.tokenSecret == strings.Repeat("k", 32) }},
	"token-lifetime":        {"3m", func(c config) bool { return c.tokenLifetime == 3*time.Minute }},
	"token-cache":           {"-1", func(c config) bool { return c.tokenCache == -1 }},
	"instance":              {"web-2", func(c config) bool { return c.instance == "web-2" }},
	"metrics":               {"false", func(c config) bool { return !c.metrics }},
	"metrics-addr":          {"127.0.0.1:9100", func(c config) bool { return c.metricsAddr == "127.0.0.1:9100" }},
	"log-health":            {"true", func(c config) bool { return c.logHealth }},
	"log-sample-initial":    {"0", func(c config) bool { return c.logSampleInitial == 0 }},
	"log-sample-thereafter": {"7", func(c config) bool { return c.logSampleThereafter == 7 }},
}

// usageFlags returns the flag names the -h output lists.
func usageFlags(t *testing.T) []string {
	t.Helper()
	var out bytes.Buffer
	if code := run(t.Context(), []string{"-h"}, env(), &out, io.Discard); code != 0 {
		t.Fatalf("-h: exit code %d", code)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(out.String(), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatalf("no flags in the usage:\n%s", out.String())
	}
	return names
}

func TestEnvName(t *testing.T) {
	for flagName, want := range map[string]string{
		"addr": "GREETER_ADDR", "shutdown-timeout": "GREETER_SHUTDOWN_TIMEOUT", "login-rate": envLoginRate,
		"trust-proxy": envTrustProxy, "token-secret": envTokenSecret, "drain": envDrain, "store": envStoreNew,
	} {
		if got := envName(flagName); got != want {
			t.Errorf("envName(%q) = %q, want %q", flagName, got, want)
		}
	}
}

// TestEveryFlagFromEnv: each flag is taken from GREETER_<NAME>, and the
// same flag on the command line overrides it.
func TestEveryFlagFromEnv(t *testing.T) {
	flags := usageFlags(t)
	for _, name := range flags {
		if _, ok := envCases[name]; !ok {
			t.Errorf("flag -%s has no case in envCases", name)
		}
	}
	for name, tc := range envCases {
		if !slices.Contains(flags, name) {
			t.Errorf("envCases has -%s, which the usage does not list", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			cfg, err := parseConfig(nil, env(envName(name), tc.value), io.Discard)
			if err != nil {
				t.Fatalf("%s=%s: %v", envName(name), tc.value, err)
			}
			if !tc.took(cfg) {
				t.Errorf("%s=%s was not taken: %+v", envName(name), tc.value, cfg)
			}
			if cfg.from[name] != envName(name) {
				t.Errorf("from[%q] = %q, want %q", name, cfg.from[name], envName(name))
			}
			// The default, given as a flag, overrides the variable.
			def, err := parseConfig(nil, env(), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err = parseConfig([]string{"-" + name + "=" + flagValue(def, name)}, env(envName(name), tc.value), io.Discard)
			if err != nil {
				t.Fatalf("-%s=%s with %s set: %v", name, flagValue(def, name), envName(name), err)
			}
			if tc.took(cfg) {
				t.Errorf("%s=%s won over -%s on the command line", envName(name), tc.value, name)
			}
		})
	}
}

// flagValue renders cfg's value of flag name as the command line takes it.
func flagValue(c config, name string) string {
	switch name {
	case "addr":
		return c.addr
	case "store":
		return c.storeURL
	case "drain":
		return c.drain.String()
	case "shutdown-timeout":
		return c.shutdownTimeout.String()
	case "ready-timeout":
		return c.readyTimeout.String()
	case "log-format":
		return c.logFormat
	case "log-level":
		return c.logLevel.String()
	case "session-idle":
		return c.sessionIdle.String()
	case "session-lifetime":
		return c.sessionLifetime.String()
	case "cookie-secure":
		return strconv.FormatBool(c.cookieSecure)
	case "login-rate":
		return strconv.Itoa(c.loginRate)
	case "trust-proxy":
		return strconv.FormatBool(c.trustProxy)
	case "token-secret":
		return c.tokenSecret
	case "token-lifetime":
		return c.tokenLifetime.String()
	case "token-cache":
		return strconv.Itoa(c.tokenCache)
	case "instance":
		return c.instance
	case "metrics":
		return strconv.FormatBool(c.metrics)
	case "metrics-addr":
		return c.metricsAddr
	case "log-health":
		return strconv.FormatBool(c.logHealth)
	case "log-sample-initial":
		return strconv.Itoa(c.logSampleInitial)
	case "log-sample-thereafter":
		return strconv.Itoa(c.logSampleThereafter)
	}
	panic("flagValue: no case for -" + name)
}

// TestUsageNamesEveryVariable: -h names each flag's variable.
func TestUsageNamesEveryVariable(t *testing.T) {
	var out bytes.Buffer
	run(t.Context(), []string{"-h"}, env(), &out, io.Discard)
	for _, name := range usageFlags(t) {
		for _, v := range envNames(name) {
			if !strings.Contains(out.String(), "(env "+v) && !strings.Contains(out.String(), " or "+v+")") {
				t.Errorf("usage does not name %s for -%s", v, name)
			}
		}
	}
	for _, want := range []string{"GREETER_SHUTDOWN_TIMEOUT", "STORE_URL", "-drain", "draining", "empty variable"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not mention %q", want)
		}
	}
}

func TestEnvTrimsAllButStrings(t *testing.T) {
	cfg, err := parseConfig(nil, env(envLoginRate, " 8\n", "GREETER_DRAIN", " 2s ", "GREETER_COOKIE_SECURE", "true "), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.loginRate != 8 || cfg.drain != 2*time.Second || !cfg.cookieSecure {
		t.Errorf("got rate %d, drain %v, secure %v; want 8, 2s, true", cfg.loginRate, cfg.drain, cfg.cookieSecure)
	}
	secret := " " + strings.Repeat("s", 32) + " "
	if cfg, err := parseConfig(nil, env(envTokenSecret, secret), io.Discard); err != nil || cfg.tokenSecret != secret {
		t.Errorf("token secret %q, %v; want it as given, spaces and all", cfg.tokenSecret, err)
	}
}

func TestEnvStoreNames(t *testing.T) {
	for _, tt := range []struct {
		name   string
		getenv func(string) string
		want   string
		from   string
	}{
		{"GREETER_STORE", env(envStoreNew, "memory://?max_entries=2"), "memory://?max_entries=2", envStoreNew},
		{"STORE_URL", env(envStore, "memory://?max_entries=3"), "memory://?max_entries=3", envStore},
		{"both, the same", env(envStoreNew, "memory://?max_entries=4", envStore, "memory://?max_entries=4"), "memory://?max_entries=4", envStoreNew},
		{"GREETER_STORE set, STORE_URL empty", env(envStoreNew, "memory://?max_entries=5", envStore, ""), "memory://?max_entries=5", envStoreNew},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(nil, tt.getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.storeURL != tt.want || cfg.from["store"] != tt.from {
				t.Errorf("store %q from %q, want %q from %q", cfg.storeURL, cfg.from["store"], tt.want, tt.from)
			}
		})
	}

	// Both set, to different URLs: which one is meant? Refused, naming
	// both variables and neither value.
	line := checkOneLine(t, nil, env(envStoreNew, "redis://:pw-one@h1:6379/0", envStore, "redis://:pw-two@h2:6379/0"))
	for _, want := range []string{envStoreNew, envStore} {
		if !strings.Contains(line, want) {
			t.Errorf("%q does not name %s", line, want)
		}
	}
	for _, leak := range []string{"pw-one", "pw-two", "h1", "h2", "redis"} {
		if strings.Contains(line, leak) {
			t.Errorf("%q repeats %q from a store URL", line, leak)
		}
	}
	// A flag settles it.
	if cfg, err := parseConfig([]string{"-store", "memory://"}, env(envStoreNew, "redis://h1", envStore, "redis://h2"), io.Discard); err != nil || cfg.storeURL != "memory://" {
		t.Errorf("-store with both variables set: %q, %v", cfg.storeURL, err)
	}
}

// TestBadEnv: a bad value is one line naming the variable and its flag,
// with the value repeated unless the flag holds a secret.
func TestBadEnv(t *testing.T) {
	tests := []struct {
		name, value string
		mentions    []string
		never       []string
	}{
		{"GREETER_DRAIN", "soon", []string{"GREETER_DRAIN", "-drain", `"soon"`, "duration"}, nil},
		{"GREETER_DRAIN", "-1s", []string{"GREETER_DRAIN", "-1s"}, nil},
		{"GREETER_SHUTDOWN_TIMEOUT", "0s", []string{"GREETER_SHUTDOWN_TIMEOUT", "positive"}, nil},
		{"GREETER_READY_TIMEOUT", "5", []string{"GREETER_READY_TIMEOUT", "-ready-timeout", "duration"}, nil},
		{"GREETER_COOKIE_SECURE", "sure", []string{"GREETER_COOKIE_SECURE", "-cookie-secure", "true or false"}, nil},
		{"GREETER_TOKEN_CACHE", "lots", []string{"GREETER_TOKEN_CACHE", "whole number"}, nil},
		{"GREETER_LOG_LEVEL", "loud", []string{"GREETER_LOG_LEVEL", "-log-level", "loud"}, nil},
		{"GREETER_LOG_FORMAT", "xml", []string{"GREETER_LOG_FORMAT", "xml"}, nil},
		{"GREETER_SESSION_IDLE", "0s", []string{"GREETER_SESSION_IDLE"}, nil},
		{"GREETER_TOKEN_LIFETIME", "48h", []string{"GREETER_TOKEN_LIFETIME"}, nil},
		{"GREETER_ADDR", "5000", []string{"GREETER_ADDR", "host:port"}, nil},
		{"GREETER_TOKEN_SECRET", "short-s3cret", []string{"GREETER_TOKEN_SECRET", "12 bytes"}, []string{"s3cret"}},
		{"GREETER_STORE", "redis://u:s3cret@127.0.0.1:1/0?bogus=1", []string{"GREETER_STORE", "bogus"}, []string{"s3cret"}},
		{"GREETER_STORE", "  ", []string{"GREETER_STORE", "empty store URL"}, nil},
	}
	for _, tt := range tests {
		line := checkOneLine(t, nil, env(tt.name, tt.value))
		for _, m := range tt.mentions {
			if !strings.Contains(line, m) {
				t.Errorf("%s=%q: %q does not mention %q", tt.name, tt.value, line, m)
			}
		}
		for _, n := range tt.never {
			if strings.Contains(line, n) {
				t.Errorf("%s=%q: %q repeats the secret", tt.name, tt.value, line)
			}
		}
	}
}
