// Package greeter is the seed's Greeter service as an http.Handler: the same
// answer from any instance for the same request, because everything a
// response needs is in the request itself or in the shared Store.
//
// Routes:
//
//	GET /greet?name=Alice   200 {"message":"Hello, Alice!"}
//	GET /greet              200 {"message":"Hello, World!"}, or the name of a
//	                        valid Bearer token's subject or of the live session
//	                        the request carries (in that order); 401 for a
//	                        Bearer token that is not valid
//	POST /session           {"name":"Alice"}: log in; 201 {"name":"Alice","visits":0},
//	                        a new session (nothing of an earlier one carried over),
//	                        the token in cookie "session" and header X-Session-Token;
//	                        429 with Retry-After when Options.AllowLogin refuses
//	GET /session            200 {"name":"Alice","visits":N}: reads only;
//	                        401 without a live session
//	POST /session/visits    200 {"name":"Alice","visits":N}: one visit more;
//	                        with an Idempotency-Key header, once per key
//	                        however often the request is retried (see below)
//	DELETE /session         204: log out; the token dies on every instance at once,
//	                        and so do the access tokens issued for the session
//	POST /token             with a live session: 200 {"access_token":"…",
//	                        "token_type":"Bearer","expires_in":600}; 401 without
//	GET /.well-known/jwks.json  the public keys that verify the access tokens
//	GET /healthz            200 {"status":"ok"} while the process runs
//	GET /readyz             200 {"status":"ok"} when the store answers a ping,
//	                        else 503 {"error":"store not ready"}
//
// The token routes (POST /token, the JWKS, Bearer tokens) exist only with
// Options.Tokens.
//
// GET and HEAD change nothing: a prefetch or a cross-site link cannot count
// a visit. POST /session/visits and POST /token honour an Idempotency-Key
// header (package idempotency, scoped by session token, records kept in the
// store for a day): a retry with the same key gets the first answer
// replayed with Idempotent-Replayed: true, whichever instance it reaches; the
// same key on a different request is a 422, one still running a 409. POST
// /session accepts the header and ignores it: every login starts a new
// session, and a retried one leaves the first to expire unused.
//
// The name is the first "name" query parameter, read as url.ParseQuery
// reads it (percent-decoded, "+" is a space); "?name=" greets "Hello, !",
// as the Python seed does. It must be valid UTF-8 of at most MaxNameLen
// bytes. A query ParseQuery finds malformed (a bad %-escape, a ";"
// separator) is a 400, not a set of silently dropped parameters. The JSON
// escapes <, > and & as \u003c, \u003e and \u0026, encoding/json's default,
// so a body pasted into HTML cannot open a tag.
//
// HEAD is answered wherever GET is, with the same headers and no body. Every
// response, errors included, is JSON with Content-Type application/json and
// X-Content-Type-Options: nosniff; errors are {"error":"…"} with a 4xx or 5xx
// status: 400 for a bad query or a body that cannot be read (413 for one
// too large; routes that take no body never read one), 404 for an unknown path, 405 with an Allow
// header for a method the path does not serve, 503 for a store that does not
// answer. A bad request never gets a 5xx.
//
// Sessions are package session's: the token comes from the cookie or the
// X-Session-Token header, the session from the shared store, so any
// instance answers any request. Cross-origin browser requests that would
// change state (POST, DELETE from another site) are refused with 403 by
// http.CrossOriginProtection, since the session rides on a cookie.
//
// The package imports only the standard library and this module's store,
// session and idempotency.
package greeter

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
)

// DefaultReadyTimeout is how long /readyz waits for the store's Ping when
// Options.ReadyTimeout is zero. It is short so that a dead store turns
// /readyz to 503 within a second, well inside a load balancer's probe
// timeout, and the instance is taken out of rotation.
const DefaultReadyTimeout = 500 * time.Millisecond

// Options configure the handler New returns. A nil *Options, or a zero
// field, means the default.
type Options struct {
	// Logger receives what the responses leave out, such as the store's
	// error when /readyz fails. Nil discards. The handler does not log
	// requests: wrap it in access-logging middleware for that.
	Logger *slog.Logger

	// ReadyTimeout bounds the store ping behind /readyz; zero or negative
	// means DefaultReadyTimeout.
	ReadyTimeout time.Duration

	// Sessions is the session manager behind /session and /greet. Nil means
	// one with SessionOptions over the store given to New (and no sessions
	// at all if that is nil: /session then answers 503). A manager of your
	// own should take the token from the header too, and echo it, for the
	// API clients the routes promise X-Session-Token to: start from
	// SessionOptions.
	Sessions *session.Manager

	// AllowLogin, if set, is asked before each POST /session; when it
	// reports false the login is refused with 429, a JSON error body and
	// Retry-After: retryAfter rounded up to whole seconds (at least 1).
	// The example server plugs a per-address rate limiter in here; the
	// package itself keeps no per-client state.
	AllowLogin func(r *http.Request) (ok bool, retryAfter time.Duration)

	// Idempotency guards POST /session/visits and POST /token. Nil means
	// one over the store given to New with idempotency's defaults but a
	// lease of IdempotencyLease and a wait of IdempotencyWait, scoped by
	// the request's session token (IdempotencyScope); none without a
	// store.
	Idempotency *idempotency.Middleware

	// Tokens, if set, adds access tokens: POST /token, GET
	// /.well-known/jwks.json, Bearer tokens on GET /greet, and logout
	// revoking the session's tokens (see Tokens).
	Tokens Tokens
}

// New returns the Greeter as an http.Handler, safe for concurrent use.
//
// s is the shared store the service depends on; /readyz pings it. s may be
// nil for a Greeter without a store, whose /readyz then always answers 200.
// The handler never closes s: its caller owns it.
func New(s store.Store, opts *Options) http.Handler {
	if opts == nil {
		opts = &Options{}
	}
	h := &handler{
		mux:          http.NewServeMux(),
		store:        s,
		log:          opts.Logger,
		readyTimeout: opts.ReadyTimeout,
		allowLogin:   opts.AllowLogin,
		tokens:       opts.Tokens,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.readyTimeout <= 0 {
		h.readyTimeout = DefaultReadyTimeout
	}
	h.sessions = opts.Sessions
	if h.sessions == nil && s != nil {
		// session.New fails only on bad options, and these are defaults.
		h.sessions, _ = session.New(s, SessionOptions())
	}
	h.idem = opts.Idempotency
	if h.idem == nil && s != nil {
		// idempotency.New fails only on bad options; these are valid.
		o := IdempotencyOptions()
		o.Logger = h.log
		h.idem, _ = idempotency.New(s, o)
	}
	h.routes()
	var top http.Handler = h.mux
	if h.sessions != nil {
		top = h.sessions.Handler(top)
	}
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusForbidden, bodyCrossOrigin)
	}))
	h.top = csrf.Handler(top)
	if h.tokens != nil {
		// A token the middleware accepted greets (by the query's name, or
		// by its subject) without the session; any other request (an
		// Authorization header of another scheme, which the middleware
		// passes on as no token) takes the long way.
		h.bearerGreet = h.tokens.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := h.tokenSubject(r); ok {
				h.greet(w, r)
				return
			}
			h.top.ServeHTTP(w, r)
		}))
	}
	return h
}

// SessionOptions returns the session options the Greeter's routes expect:
// the token in the "session" cookie and in the X-Session-Token header, and
// echoed in that header for API clients. Change the rest (timeouts, Secure
// cookies) before passing them to session.New.
func SessionOptions() *session.Options {
	return &session.Options{Transport: session.CookieAndHeaderTransport, EchoToken: true}
}

// handler is the Greeter. It keeps its own ServeMux, so that it can be
// mounted anywhere and more routes (the session routes) can join it.
type handler struct {
	mux          *http.ServeMux
	store        store.Store // may be nil
	log          *slog.Logger
	readyTimeout time.Duration
	sessions     *session.Manager // may be nil
	allowLogin   func(*http.Request) (bool, time.Duration)
	tokens       Tokens                  // may be nil
	idem         *idempotency.Middleware // may be nil
	top          http.Handler            // mux under sessions and CSRF protection
	bearerGreet  http.Handler            // GET /greet with Authorization, see ServeHTTP; nil without tokens
}

// routes registers every route. The mux matches paths only; each path's
// methods are dispatched by methods, so that a wrong method gets a JSON 405
// with an Allow header (ServeMux's own 404 and 405 answers are text/plain).
func (h *handler) routes() {
	greet := h.greet
	if h.tokens != nil {
		greet = h.tokens.Authenticate(http.HandlerFunc(h.greet)).ServeHTTP
		h.route("/token", methods{http.MethodPost: h.once(h.token)})
		if jwks := h.tokens.JWKS(); jwks != nil {
			h.route("/.well-known/jwks.json", methods{http.MethodGet: jwks.ServeHTTP})
		}
	}
	h.route("/greet", methods{http.MethodGet: greet})
	h.route("/healthz", methods{http.MethodGet: h.healthz})
	h.route("/readyz", methods{http.MethodGet: h.readyz})

	visit := http.HandlerFunc(h.visit)
	if h.sessions != nil {
		visit = h.sessions.Retry(visit).ServeHTTP
	}
	h.route("/session", methods{
		http.MethodPost:   h.login,
		http.MethodGet:    h.show,
		http.MethodDelete: h.logout,
	})
	h.route("/session/visits", methods{http.MethodPost: h.once(visit)})

	h.mux.Handle("/", http.HandlerFunc(notFound))
}

// once runs f under the idempotency middleware, when there is one.
func (h *handler) once(f http.HandlerFunc) http.HandlerFunc {
	if h.idem == nil {
		return f
	}
	return h.idem.Handler(f).ServeHTTP
}

// IdempotencyLease is the lease of the Greeter's idempotency keys: how
// long a key whose owner died, or whose outcome could not be recorded,
// answers 409 before a retry may run it again. The Greeter's handlers take
// milliseconds, so it is shorter than idempotency.DefaultLease (30 s),
// which suits handlers that call other services: a store failover that
// fails a key's completion (say a Redis master lost, with writes waiting
// for a replica) holds the key for 5 s rather than 30.
const IdempotencyLease = 5 * time.Second

// IdempotencyWait is how long a request that finds its key in flight waits
// for the first to finish (and replays it, or takes the key over once the
// lease of an owner that died lapses) before it answers 409: a client
// retrying through a load balancer after an instance died gets its answer
// rather than a 409. A waiting request polls the store at most about 4
// times a second; it stays well under the example server's 15 s write
// timeout.
const IdempotencyWait = IdempotencyLease + time.Second

// IdempotencyOptions returns the idempotency options the Greeter's routes
// expect: scoped by IdempotencyScope, with IdempotencyLease and
// IdempotencyWait. Set the rest (a Logger, an Observer) before passing
// them to idempotency.New for Options.Idempotency.
func IdempotencyOptions() *idempotency.Options {
	return &idempotency.Options{Scope: IdempotencyScope, Lease: IdempotencyLease, Wait: IdempotencyWait}
}

// IdempotencyScope is the Greeter's idempotency scope: a hash of the
// session token the request carries (session.Session.TokenHash), so that
// one session's keys never meet another's ("" for a request without a
// token, whose keyed POSTs answer 401 anyway). It needs the session
// middleware in front of it, and it reads nothing from the store: a replay
// costs the one read of the idempotency record. The scope is the holder of
// a token rather than the session's ID, which would take a session read
// on every keyed request; the two differ only across Session.Renew, which
// the Greeter never calls (a login starts a new session, and so a new
// scope, either way).
func IdempotencyScope(r *http.Request) (string, error) {
	s := session.From(r.Context())
	if s == nil {
		return "", nil
	}
	return s.TokenHash(), nil
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// GET /greet?name=X, the seed's request, reads neither the session nor
	// a token: it skips the layers that would only pass it through (the
	// cross-origin protection, which lets GET and HEAD by; the session
	// middleware, whose session it would never load; the mux) and gets
	// the answer they would have let through. With an Authorization header
	// it goes through the token middleware first (bearerGreet), so that a
	// bad token is refused whatever the query says; a good one greets
	// without the session either.
	if r.URL.Path == "/greet" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if r.Header["Authorization"] != nil {
			if h.bearerGreet != nil {
				h.bearerGreet.ServeHTTP(w, r)
				return
			}
		} else if name, found, bad := nameParam(r.URL.RawQuery); found && bad == nil {
			writeJSON(w, r, http.StatusOK, greeting(make([]byte, 0, len(name)+32), name))
			return
		}
	}
	h.top.ServeHTTP(w, r)
}

// methods maps an HTTP method to the handler serving it on one path.
type methods map[string]http.HandlerFunc

// route registers m for path (a ServeMux pattern without a method). A GET
// handler also serves HEAD; handlers leave the body out for HEAD through
// writeJSON.
func (h *handler) route(path string, m methods) {
	if get, ok := m[http.MethodGet]; ok {
		if _, ok := m[http.MethodHead]; !ok {
			m[http.MethodHead] = get
		}
	}
	allow := make([]string, 0, len(m))
	for method := range m {
		allow = append(allow, method)
	}
	slices.Sort(allow)
	d := &dispatch{byMethod: m, allow: []string{strings.Join(allow, ", ")}}
	h.mux.Handle(path, d)
}

// dispatch serves one path: the handler for the request's method, or a 405
// naming the methods that are allowed.
type dispatch struct {
	byMethod methods
	allow    []string // the Allow header's value, computed once
}

func (d *dispatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f, ok := d.byMethod[r.Method]; ok {
		f(w, r)
		return
	}
	w.Header()["Allow"] = d.allow
	writeError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.Pattern+"; allowed: "+d.allow[0])
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusNotFound, bodyNotFound)
}
