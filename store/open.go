package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/stateless-go/stateless/internal/urlsecret"
)

// OpenFunc opens a store from a URL whose scheme it was registered for. It
// owns what it opens: the store's Close releases it. Errors must not contain
// the URL's password; use RedactURL when naming the URL.
type OpenFunc func(ctx context.Context, rawURL string) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]OpenFunc{}
)

// adapterHint names this module's adapter packages for an unknown
// scheme's error. It lists packages, not schemes: which schemes exist is
// what the adapters register, and nothing else says it.
const adapterHint = "import the package of the adapter you want: this module's are github.com/stateless-go/stateless/store/memory, …/store/redis, …/store/memcache and …/store/postgres"

// Register makes an adapter available to Open under a URL scheme (lower
// case, as in "redis"). Adapter packages call it from init, the way
// database/sql drivers do, so a program picks its stores by importing them.
// It panics if open is nil or the scheme is taken: both are programming
// errors found at start-up.
func Register(scheme string, open OpenFunc) {
	if open == nil {
		panic("store: Register of a nil OpenFunc for scheme " + scheme)
	}
	if scheme == "" || scheme != strings.ToLower(scheme) {
		panic(fmt.Sprintf("store: Register of scheme %q: it must be non-empty lower case", scheme))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[scheme]; dup {
		panic("store: Register called twice for scheme " + scheme)
	}
	registry[scheme] = open
}

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s := make([]string, 0, len(registry))
	for k := range registry {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// Open opens the store a URL names, through the adapter registered for its
// scheme: "memory://", "redis://user:pass@host:6379/0",
// "memcache://h1:11211,h2:11211", "postgres://user:pass@host/db", ...
// The caller owns the store and must Close it.
//
// An empty, malformed or unknown URL is an error that names the registered
// schemes. No error from Open contains the URL's password.
func Open(ctx context.Context, rawURL string) (Store, error) {
	scheme, err := schemeOf(rawURL)
	if err != nil {
		return nil, err
	}
	registryMu.RLock()
	open := registry[scheme]
	registryMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("store: no adapter registered for scheme %q; registered: %s (%s)", scheme, schemeList(), adapterHint)
	}
	s, err := open(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", RedactURL(rawURL), err)
	}
	return s, nil
}

// schemeOf finds the scheme without echoing anything else of the URL, since
// the rest may hold a password.
func schemeOf(rawURL string) (string, error) {
	if strings.TrimSpace(rawURL) == "" {
		return "", fmt.Errorf("store: empty store URL; want scheme://…, registered schemes: %s", schemeList())
	}
	i := strings.Index(rawURL, "://")
	if i <= 0 {
		return "", fmt.Errorf("store: malformed store URL: no scheme:// prefix; registered schemes: %s", schemeList())
	}
	scheme := strings.ToLower(rawURL[:i])
	for j, c := range scheme {
		letter := 'a' <= c && c <= 'z'
		if !letter && (j == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", fmt.Errorf("store: malformed store URL: invalid scheme; registered schemes: %s", schemeList())
		}
	}
	return scheme, nil
}

func schemeList() string {
	s := Schemes()
	if len(s) == 0 {
		return "none (import an adapter package such as github.com/stateless-go/stateless/store/memory)"
	}
	return strings.Join(s, ", ")
}

// RedactURL returns rawURL with its secrets replaced by "xxxxx", for logs
// and errors: the userinfo password, and query parameters whose names speak
// of a password, secret, token or key (postgres' ?password=, for one). A URL
// that does not parse is reduced to its scheme, since the unparsed text
// might hold a password. Adapters scrub their errors by the same rule
// (store/driver's Scrub).
func RedactURL(rawURL string) string {
	return urlsecret.Redact(rawURL, func(s string) string {
		scheme, err := schemeOf(s)
		if err != nil {
			return ""
		}
		return scheme
	})
}
