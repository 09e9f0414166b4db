package session

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stateless-go/stateless/store"
)

// Options configure a Manager. Nil, or any zero field, means the default
// given beside it.
type Options struct {
	// IdleTimeout ends a session this long after it was last used. Default
	// 30 minutes.
	IdleTimeout time.Duration
	// Lifetime ends a session this long after it began, however busy.
	// Default 24 hours.
	Lifetime time.Duration
	// TouchInterval is how often, at most, a session that is only read has
	// its idle expiry pushed back. Default IdleTimeout/10. A session may
	// therefore end up to TouchInterval sooner than IdleTimeout after its
	// last use; in exchange, reading a session costs one store operation.
	TouchInterval time.Duration

	// Transport says where tokens travel: the cookie (the default), a
	// header, or both.
	Transport Transport
	// Cookie sets the session cookie's attributes.
	Cookie Cookie
	// Header is the header that carries the token under HeaderTransport
	// and CookieAndHeaderTransport. Default "X-Session-Token".
	Header string
	// EchoToken, under CookieAndHeaderTransport, also sends the token in
	// Header whenever it changes, for API clients that do not read
	// cookies. Off by default: a token in a header is readable by page
	// scripts, which undoes HttpOnly. (HeaderTransport always sends it.)
	EchoToken bool

	// Codec encodes the values of Put and decodes them for Get and Pop.
	// Default JSONCodec.
	Codec Codec

	// KeyPrefix is put before every store key. Default "session:".
	KeyPrefix string
	// MaxSize caps a session's stored size in bytes; a save over it fails
	// with ErrTooLarge. Default 64 KiB.
	MaxSize int

	// MaxAttempts bounds how often a conflicting save is merged and tried
	// again, and how often Retry runs a handler. Default 25.
	MaxAttempts int
	// DisableSpeculation turns off the first, speculative run of Retry
	// handlers on the version of the session this instance last saw (see
	// Manager.Retry); every run then starts with a store read.
	DisableSpeculation bool
	// MaxRetryBody is the largest request body Retry keeps so that it can
	// run a handler again; a request with a larger body is run once and a
	// conflict fails it. Default 1 MiB.
	MaxRetryBody int64

	// StoreTimeout bounds each store operation the session layer makes
	// (a load, a save, a touch, a delete), so that a store that hangs
	// rather than refusing connections cannot hang requests: the operation
	// fails with context.DeadlineExceeded, a read counts as no session and
	// a save answers 503. Default DefaultStoreTimeout (1 s). The request's
	// own context still applies when it ends sooner. A store that never
	// waits (store.NonBlocking, such as store/memory) gets no deadline.
	StoreTimeout time.Duration

	// Logger receives operational messages (store errors, undecodable
	// sessions). Never a token. Default: slog.Default().
	Logger *slog.Logger
	// Observer, if set, is told of loads, saves, creations, renewals,
	// destructions, conflicts, retries, touches and store errors, for
	// metrics and tracing (see Observer). Default none.
	Observer Observer
	// ErrorHandler writes the response when a session cannot be loaded or
	// saved. Default: a JSON body {"error":"…"} with 409 for a conflict
	// that could not be resolved, 500 for a session over MaxSize, and 503
	// when the store fails.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// Cookie holds the session cookie's attributes.
type Cookie struct {
	Name   string // default "session"
	Path   string // default "/"
	Domain string // default none: the cookie goes back to this host only
	Secure bool   // send over HTTPS only; set it in production
	// SameSite defaults to http.SameSiteLaxMode.
	SameSite http.SameSite
	// Partitioned (CHIPS) keys the cookie to the top-level site as well.
	Partitioned bool
	// ScriptReadable drops HttpOnly, letting page scripts read the token.
	// Leave it false unless you must: HttpOnly keeps an XSS from stealing
	// sessions.
	ScriptReadable bool
	// Persistent makes new sessions outlive the browser session: the cookie
	// gets Max-Age of the session's remaining Lifetime. Session.RememberMe
	// overrides it per session.
	Persistent bool
}

type config struct {
	idle, lifetime, touchEvery time.Duration
	storeTimeout               time.Duration
	transport                  Transport
	cookie                     Cookie
	header                     string
	echo                       bool
	codec                      Codec
	vary                       []string
	prefix                     string
	maxSize                    int
	maxAttempts                int
	maxRetryBody               int64
	noSpeculation              bool
	log                        *slog.Logger
	onError                    func(http.ResponseWriter, *http.Request, error)
	observe                    Observer
}

func (o *Options) config() (config, error) {
	if o == nil {
		o = &Options{}
	}
	c := config{
		idle: o.IdleTimeout, lifetime: o.Lifetime, touchEvery: o.TouchInterval,
		transport: o.Transport, cookie: o.Cookie, header: o.Header, echo: o.EchoToken, codec: o.Codec, prefix: o.KeyPrefix, maxSize: o.MaxSize,
		maxAttempts: o.MaxAttempts, maxRetryBody: o.MaxRetryBody, log: o.Logger, onError: o.ErrorHandler,
		noSpeculation: o.DisableSpeculation, storeTimeout: o.StoreTimeout, observe: o.Observer,
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.idle, 30*time.Minute)
	def(&c.lifetime, 24*time.Hour)
	def(&c.touchEvery, c.idle/10)
	def(&c.storeTimeout, DefaultStoreTimeout)
	var errs []error
	if c.idle < 0 || c.lifetime < 0 || c.touchEvery < 0 || c.storeTimeout < 0 {
		errs = append(errs, errors.New("IdleTimeout, Lifetime, TouchInterval and StoreTimeout must not be negative"))
	}
	if c.touchEvery >= c.idle {
		errs = append(errs, fmt.Errorf("TouchInterval %v must be shorter than IdleTimeout %v", c.touchEvery, c.idle))
	}
	if c.cookie.Name == "" {
		c.cookie.Name = "session"
	}
	if !isToken(c.cookie.Name) {
		errs = append(errs, fmt.Errorf("cookie name %q is not a valid HTTP token", c.cookie.Name))
	}
	if c.cookie.Path == "" {
		c.cookie.Path = "/"
	}
	if strings.ContainsAny(c.cookie.Path+c.cookie.Domain, ";\r\n\x00") {
		errs = append(errs, errors.New("cookie Path and Domain must not contain ';' or control characters"))
	}
	if c.cookie.SameSite == 0 {
		c.cookie.SameSite = http.SameSiteLaxMode
	}
	if c.cookie.SameSite == http.SameSiteNoneMode && !c.cookie.Secure {
		errs = append(errs, errors.New("SameSite=None needs Secure: browsers drop such cookies otherwise"))
	}
	if c.header == "" {
		c.header = "X-Session-Token"
	}
	if !isToken(c.header) {
		errs = append(errs, fmt.Errorf("header name %q is not a valid HTTP token", c.header))
	}
	c.header = http.CanonicalHeaderKey(c.header)
	switch c.transport {
	case CookieTransport:
		c.vary = []string{"Cookie"}
		if c.echo {
			errs = append(errs, errors.New("EchoToken needs CookieAndHeaderTransport: CookieTransport sends no header"))
		}
	case HeaderTransport:
		c.vary, c.echo = []string{c.header}, true
	case CookieAndHeaderTransport:
		c.vary = []string{"Cookie, " + c.header}
	default:
		errs = append(errs, fmt.Errorf("unknown Transport %d", c.transport))
	}
	if c.codec == nil {
		c.codec = JSONCodec{}
	}
	if o.KeyPrefix == "" {
		c.prefix = "session:"
	}
	if max := store.MaxKeyLen - 43; len(c.prefix) > max {
		errs = append(errs, fmt.Errorf("KeyPrefix of %d bytes is longer than %d", len(c.prefix), max))
	}
	if c.maxSize == 0 {
		c.maxSize = 64 << 10
	}
	if c.maxAttempts == 0 {
		c.maxAttempts = 25
	}
	if c.maxRetryBody == 0 {
		c.maxRetryBody = 1 << 20
	}
	if c.maxSize < 0 || c.maxAttempts < 0 || c.maxRetryBody < 0 {
		errs = append(errs, errors.New("MaxSize, MaxAttempts and MaxRetryBody must not be negative"))
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("session: bad options: %w", err)
	}
	return c, nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
