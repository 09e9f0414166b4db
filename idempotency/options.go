package idempotency

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// The defaults Options fall back on when a field is left at its zero value.
const (
	// DefaultRetention is how long a completed response stays replayable,
	// counted from its last write: the draft's suggestion and Stripe's
	// practice.
	DefaultRetention = 24 * time.Hour
	// DefaultLease is how long an owner holds a key without renewing it. A
	// handler longer than DefaultLease/3 renews it (one store write per
	// 10 s); an owner that dies blocks its key for at most this long before
	// a retry takes over.
	DefaultLease = 30 * time.Second
	// DefaultStoreTimeout bounds each store operation.
	DefaultStoreTimeout = time.Second
	// DefaultMaxRequestBody caps the request body buffered for the
	// fingerprint and handed to the handler again.
	DefaultMaxRequestBody = 1 << 20
	// DefaultMaxResponseBody caps the response body captured for replay.
	DefaultMaxResponseBody = 1 << 20
)

// MaxHeaderBytes caps the replayable response headers a record holds (names
// and values, encoded); a response whose allow-listed headers come to more
// completes as not replayable.
const MaxHeaderBytes = 16 << 10

// Options configure a Middleware. A nil *Options, like every field left at
// its zero value, means the defaults.
type Options struct {
	// Methods are the request methods the middleware covers; requests of
	// any other method pass through untouched (their Idempotency-Key
	// header is not even parsed). Default: POST and PATCH.
	Methods []string

	// Required answers 400 to a covered request that has no
	// Idempotency-Key. By default such a request passes through unprotected.
	Required bool

	// Scope names the principal a key belongs to (a session ID, a token's
	// subject, an API client); keys of different scopes never meet. It is
	// called once per keyed request, before the body is read. An error
	// refuses the request with 403 (ProblemScope) and runs nothing: a key
	// that cannot be bound to its principal could replay another
	// principal's response. Default: no scope, every client shares one
	// key space, which is safe only when keys are unguessable.
	Scope func(*http.Request) (string, error)

	// FingerprintHeaders are request headers that, besides the method, the
	// path, the query and the body, make up the request's fingerprint: the
	// same key with a different fingerprint answers 422. Default: none
	// (a header a client library changes between retries, such as a
	// rotated Authorization, would turn every retry into a 422; bind the
	// principal with Scope instead).
	FingerprintHeaders []string

	// ReplayHeaders extends the allow-list of response headers a replay
	// carries (Content-* except Content-Length, Location, ETag,
	// Last-Modified, Link). New refuses Set-Cookie, Date, Content-Length
	// and the hop-by-hop headers.
	ReplayHeaders []string

	// Retention is how long a key's record lives after its last write: a
	// completed response replays for this long, after which the key runs
	// again as new. (An in-flight record lives at least a Lease.) Default
	// DefaultRetention.
	Retention time.Duration

	// Lease is how long an owner holds a key without renewing it. The
	// owner renews every Lease/3 by compare-and-swap; a retry finding a
	// lease older than Lease takes the key over (or, under
	// StrictAtMostOnce, refuses). Choose it well above StoreTimeout and
	// the clock skew between instances. Default DefaultLease.
	Lease time.Duration

	// Wait, when positive, makes a request that finds its key in flight
	// wait up to this long for the first to finish and replay its outcome
	// (or run itself, if the first released the key) instead of answering
	// 409 at once. It polls the store with a backoff from 10 ms to 250 ms,
	// so one waiting request costs at most about 4 reads a second.
	// Default 0: no wait.
	Wait time.Duration

	// StrictAtMostOnce refuses to take over a key whose owner stopped
	// renewing its lease (it died, or lost the store): a retry answers 409
	// (ProblemAbandoned) until Retention ends the record, since the first
	// execution may have taken effect. By default the retry takes over and
	// runs the handler again, recording attempt 2 (at least once, at most
	// once per lease).
	StrictAtMostOnce bool

	// MaxRequestBody caps the request body, in bytes: a longer one answers
	// 413 before any store write, chunked bodies included. Default
	// DefaultMaxRequestBody.
	MaxRequestBody int64

	// MaxResponseBody caps the response body captured for replay, in
	// bytes; a longer response still reaches the client in full but
	// completes as not replayable. Default DefaultMaxResponseBody.
	MaxResponseBody int64

	// ReplayServerErrors records 5xx responses for replay instead of
	// releasing the key. A panic always releases the key.
	ReplayServerErrors bool

	// StoreTimeout bounds each store operation (a store that says it
	// never waits, store.NonBlocking, gets no deadline). Default
	// DefaultStoreTimeout.
	StoreTimeout time.Duration

	// FailOpen runs the handler unprotected when the store cannot be
	// reached, instead of answering 503: availability over at-most-once.
	FailOpen bool

	// Now is the clock that dates leases; default time.Now. Leases are
	// compared across instances, so their clocks must agree to well within
	// Lease/3.
	Now func() time.Time

	// Logger receives operational messages (store errors, lost leases,
	// outcomes that could not be recorded), never a key, a scope or a
	// body. Default slog.Default().
	Logger *slog.Logger
	// Observer, if set, is told of claims, executions, replays, refusals
	// and store errors, for metrics and tracing (see Observer).
	Observer Observer
}

// hopByHop are the headers that never cross a proxy, let alone a replay.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// config is Options checked, with the defaults filled in.
type config struct {
	methods            []string
	required           bool
	scope              func(*http.Request) (string, error)
	fpHeaders          []string
	replayHeaders      map[string]bool // extra names, canonical
	retention          time.Duration
	lease              time.Duration
	wait               time.Duration
	strict             bool
	maxRequestBody     int64
	maxResponseBody    int64
	replayServerErrors bool
	storeTimeout       time.Duration
	failOpen           bool
	now                func() time.Time
	log                *slog.Logger
	observe            Observer
}

func (o *Options) config() (config, error) {
	if o == nil {
		o = &Options{}
	}
	c := config{
		required: o.Required, scope: o.Scope, retention: o.Retention, lease: o.Lease,
		wait: o.Wait, strict: o.StrictAtMostOnce, maxRequestBody: o.MaxRequestBody,
		maxResponseBody: o.MaxResponseBody, replayServerErrors: o.ReplayServerErrors,
		storeTimeout: o.StoreTimeout, failOpen: o.FailOpen, now: o.Now, log: o.Logger,
		observe: o.Observer,
	}
	var errs []error
	for _, d := range []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"Retention", &c.retention, DefaultRetention},
		{"Lease", &c.lease, DefaultLease},
		{"StoreTimeout", &c.storeTimeout, DefaultStoreTimeout},
		{"Wait", &c.wait, 0},
	} {
		if *d.p < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", d.name))
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if c.lease > 0 && c.lease < 3*time.Millisecond {
		errs = append(errs, errors.New("Lease must be at least 3ms (it is renewed every Lease/3)"))
	}
	for _, n := range []struct {
		name string
		p    *int64
		def  int64
	}{
		{"MaxRequestBody", &c.maxRequestBody, DefaultMaxRequestBody},
		{"MaxResponseBody", &c.maxResponseBody, DefaultMaxResponseBody},
	} {
		if *n.p < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", n.name))
		}
		if *n.p == 0 {
			*n.p = n.def
		}
	}
	if len(o.Methods) == 0 {
		c.methods = []string{http.MethodPost, http.MethodPatch}
	}
	for _, m := range o.Methods {
		if m == "" || strings.ContainsAny(m, " \t\r\n") {
			errs = append(errs, fmt.Errorf("Methods: %q is not a method", m))
			continue
		}
		c.methods = append(c.methods, strings.ToUpper(m))
	}
	for _, h := range o.FingerprintHeaders {
		if h == "" {
			errs = append(errs, errors.New("FingerprintHeaders: an empty name"))
			continue
		}
		c.fpHeaders = append(c.fpHeaders, http.CanonicalHeaderKey(h))
	}
	for _, h := range o.ReplayHeaders {
		k := http.CanonicalHeaderKey(h)
		if h == "" || k == "Set-Cookie" || k == "Date" || k == "Content-Length" || hopByHop[k] {
			errs = append(errs, fmt.Errorf("ReplayHeaders: %q is never replayed", h))
			continue
		}
		if c.replayHeaders == nil {
			c.replayHeaders = map[string]bool{}
		}
		c.replayHeaders[k] = true
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if len(errs) > 0 {
		return config{}, fmt.Errorf("idempotency: invalid Options: %w", errors.Join(errs...))
	}
	return c, nil
}

// inFlightTTL is the life of an in-flight record: Retention, but never
// less than a lease, so that a short Retention cannot expire a record
// whose owner is still renewing it.
func (c *config) inFlightTTL() time.Duration { return max(c.retention, c.lease) }

// replayable reports whether a response header named name (canonical) is
// kept for replay.
func (c *config) replayable(name string) bool {
	switch name {
	case "Content-Length", "Set-Cookie", "Date":
		return false
	case "Location", "Etag", "Last-Modified", "Link":
		return true
	}
	if hopByHop[name] {
		return false
	}
	if strings.HasPrefix(name, "Content-") {
		return true
	}
	return c.replayHeaders[name]
}

// covers reports whether requests of method m are handled.
func (c *config) covers(m string) bool {
	for _, x := range c.methods {
		if x == m {
			return true
		}
	}
	return false
}
