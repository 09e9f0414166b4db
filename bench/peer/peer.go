// Package peer is the Greeter's routes built on alexedwards/scs/v2, the Go
// session library we measure ourselves against. It answers the benchmarked
// routes with the same statuses, headers that matter (the "session" cookie,
// X-Session-Token) and JSON bodies as package greeter, so that a load test
// can point the same script at either server.
//
// It is written the way the scs documentation recommends (LoadAndSave
// around a ServeMux, RenewToken on login, Destroy on logout), configured as
// the comparison asks: IdleTimeout 30 minutes, Lifetime 24 hours. Nothing
// here works around scs's behaviour: with an idle timeout set, scs rewrites
// the session on every request that loads one, and concurrent updates of
// one session are last-write-wins. Those are what we measure.
package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/alexedwards/scs/v2"
)

// The session settings of the comparison.
const (
	IdleTimeout = 30 * time.Minute
	Lifetime    = 24 * time.Hour
)

// MaxNameLen is the longest name accepted, as in package greeter.
const MaxNameLen = 256

const (
	tokenHeader  = "X-Session-Token"
	maxLoginBody = 4 << 10
)

// NewManager returns an scs session manager over st with the comparison's
// settings and package greeter's cookie attributes (HttpOnly, SameSite=Lax,
// Path=/). The cookie is a browser-session cookie, as ours is by default.
func NewManager(st scs.Store) *scs.SessionManager {
	sm := scs.New()
	sm.Store = st
	sm.IdleTimeout = IdleTimeout
	sm.Lifetime = Lifetime
	sm.Cookie.Name = "session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Path = "/"
	sm.Cookie.Persist = false
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		writeJSON(w, r, http.StatusServiceUnavailable, errorBody("session store unavailable"))
	}
	return sm
}

// Options configure New.
type Options struct {
	// Ping, if set, backs /readyz: nil error means ready.
	Ping func(context.Context) error
}

// New returns the Greeter's routes over sm as an http.Handler:
//
//	GET /greet[?name=X]  POST /session  GET /session  POST /session/visits  DELETE /session
//	GET /healthz         GET /readyz
//
// wrapped in sm.LoadAndSave and http.CrossOriginProtection, as package
// greeter wraps its routes in its session middleware and the same CSRF
// protection. A token in the X-Session-Token request header is accepted
// when the request has no session cookie (scs itself reads only cookies).
func New(sm *scs.SessionManager, opts *Options) http.Handler {
	if opts == nil {
		opts = &Options{}
	}
	h := &handler{sm: sm, ping: opts.Ping}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /greet", h.greet)
	mux.HandleFunc("POST /session", h.login)
	mux.HandleFunc("GET /session", h.show)
	mux.HandleFunc("POST /session/visits", h.visit)
	mux.HandleFunc("DELETE /session", h.logout)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusOK, bodyOK)
	})
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusNotFound, bodyNotFound)
	})
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusForbidden, errorBody("cross-origin request refused"))
	}))
	return csrf.Handler(headerToken(sm.Cookie.Name, sm.LoadAndSave(mux)))
}

// headerToken lets a client without cookies send its token in
// X-Session-Token, as package session allows, by presenting it to scs as
// the session cookie.
func headerToken(cookieName string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := r.Header.Get(tokenHeader); t != "" {
			if _, err := r.Cookie(cookieName); err != nil {
				r.Header.Add("Cookie", cookieName+"="+t)
			}
		}
		next.ServeHTTP(w, r)
	})
}

type handler struct {
	sm   *scs.SessionManager
	ping func(context.Context) error
}

var (
	headerJSON    = []string{"application/json"}
	headerNosniff = []string{"nosniff"}
	bodyWorld     = greeting(nil, "World")
	bodyOK        = []byte(`{"status":"ok"}` + "\n")
	bodyNotFound  = errorBody("not found")
	bodyNoSession = errorBody("no live session; log in with POST /session")
	bodyBadName   = errorBody(`body must be a JSON object with a non-empty "name" string, as in {"name":"Alice"}`)
	bodyBadQuery  = errorBody("malformed query string")
	bodyTooLong   = errorBody("name is longer than " + strconv.Itoa(MaxNameLen) + " bytes")
)

// greet answers GET /greet: the name parameter, else the session's name,
// else World.
func (h *handler) greet(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			writeJSON(w, r, http.StatusBadRequest, bodyBadQuery)
			return
		}
		if vs, ok := q["name"]; ok {
			name := vs[0]
			if len(name) > MaxNameLen || !utf8.ValidString(name) {
				writeJSON(w, r, http.StatusBadRequest, bodyTooLong)
				return
			}
			writeJSON(w, r, http.StatusOK, greeting(make([]byte, 0, len(name)+32), name))
			return
		}
	}
	if name := h.sm.GetString(r.Context(), "name"); name != "" {
		writeJSON(w, r, http.StatusOK, greeting(make([]byte, 0, len(name)+32), name))
		return
	}
	writeJSON(w, r, http.StatusOK, bodyWorld)
}

// login answers POST /session {"name":"Alice"}: a new token (RenewToken,
// scs's session-fixation defence), the name stored, visits 0.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLoginBody))
	if err != nil {
		writeJSON(w, r, http.StatusBadRequest, errorBody("could not read the request body"))
		return
	}
	var in struct {
		Name *string `json:"name"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() || in.Name == nil || *in.Name == "" || !utf8.ValidString(*in.Name) {
		writeJSON(w, r, http.StatusBadRequest, bodyBadName)
		return
	}
	if len(*in.Name) > MaxNameLen {
		writeJSON(w, r, http.StatusBadRequest, bodyTooLong)
		return
	}
	ctx := r.Context()
	if err := h.sm.RenewToken(ctx); err != nil {
		writeJSON(w, r, http.StatusServiceUnavailable, errorBody("session store unavailable"))
		return
	}
	h.sm.Put(ctx, "name", *in.Name)
	h.sm.Put(ctx, "visits", int64(0))
	// RenewToken has chosen the token; scs commits it when the status is
	// written below.
	w.Header().Set(tokenHeader, h.sm.Token(ctx))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, r, http.StatusCreated, sessionBody(*in.Name, 0))
}

// visit answers POST /session/visits: the name and the visit count, one more than
// before. With scs this is a plain read-modify-write: two concurrent
// requests can both read N and both store N+1.
func (h *handler) visit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := h.sm.GetString(ctx, "name")
	if name == "" {
		w.Header().Set("Www-Authenticate", `Session realm="greeter"`)
		writeJSON(w, r, http.StatusUnauthorized, bodyNoSession)
		return
	}
	visits := h.sm.GetInt64(ctx, "visits") + 1
	h.sm.Put(ctx, "visits", visits)
	writeJSON(w, r, http.StatusOK, sessionBody(name, visits))
}

// show answers GET /session: the name and the visit count, unchanged.
func (h *handler) show(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := h.sm.GetString(ctx, "name")
	if name == "" {
		w.Header().Set("Www-Authenticate", `Session realm="greeter"`)
		writeJSON(w, r, http.StatusUnauthorized, bodyNoSession)
		return
	}
	writeJSON(w, r, http.StatusOK, sessionBody(name, h.sm.GetInt64(ctx, "visits")))
}

// logout answers DELETE /session: 204 and the session deleted.
func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	if err := h.sm.Destroy(r.Context()); err != nil {
		writeJSON(w, r, http.StatusServiceUnavailable, errorBody("session store unavailable"))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.ping != nil {
		if err := h.ping(r.Context()); err != nil {
			writeJSON(w, r, http.StatusServiceUnavailable, errorBody("store not ready"))
			return
		}
	}
	writeJSON(w, r, http.StatusOK, bodyOK)
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["X-Content-Type-Options"] = headerNosniff
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func errorBody(msg string) []byte {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return append(b, '\n')
}

func greeting(dst []byte, name string) []byte {
	dst = append(dst, `{"message":"Hello, `...)
	dst = appendJSONString(dst, name)
	return append(dst, "!\"}\n"...)
}

func sessionBody(name string, visits int64) []byte {
	b := append(make([]byte, 0, len(name)+40), `{"name":"`...)
	b = appendJSONString(b, name)
	b = append(b, `","visits":`...)
	b = strconv.AppendInt(b, visits, 10)
	return append(b, "}\n"...)
}

// appendJSONString appends s as the inside of a JSON string, escaped as
// encoding/json escapes it (HTML-safe), as package greeter does.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b[1:len(b)-1]...)
		}
	}
	return append(dst, s...)
}
