package auth

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// DefaultRealm is the realm of the WWW-Authenticate challenge when
// MiddlewareOptions.Realm is empty.
const DefaultRealm = "api"

// MiddlewareOptions configure Verifier.Middleware.
type MiddlewareOptions struct {
	// Realm names the protection space in challenges; "" means
	// DefaultRealm.
	Realm string
	// Optional lets requests without Bearer credentials through, without
	// claims in their context (FromContext then answers false), so one
	// handler can serve anonymous and authenticated requests. A request
	// that does carry a Bearer token is still refused if the token is bad:
	// a bad token never degrades to anonymous.
	Optional bool
}

// Middleware authenticates requests by the Bearer token of their
// Authorization header (RFC 6750 §2.1: never a query parameter or a cookie;
// the scheme name in any case) and puts the verified claims in the
// request's context (FromContext). It answers:
//
//   - 401 with WWW-Authenticate: Bearer realm="…" when there is no Bearer
//     token (unless Optional), and Bearer realm="…", error="invalid_token"
//     when the token is refused (malformed, bad signature, unknown key,
//     expired, wrong iss or aud, revoked), with no detail of why;
//   - 400 with error="invalid_request" for more than one Authorization
//     header;
//   - 503 with Retry-After when the token could not be checked (the
//     revocation store or the keys were unavailable), not 401: the client
//     should retry, not log in again.
//
// Error bodies are small application/problem+json objects with an "error"
// member. See RequireScope for 403.
func (v *Verifier) Middleware(opts *MiddlewareOptions) func(http.Handler) http.Handler {
	realm := DefaultRealm
	optional := false
	if opts != nil {
		if opts.Realm != "" {
			realm = opts.Realm
		}
		optional = opts.Optional
	}
	qrealm := quote(realm)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, err := bearerToken(r)
			switch {
			case errors.Is(err, ErrTokenMissing):
				if optional {
					next.ServeHTTP(w, r.WithContext(&authInfo{Context: r.Context(), realm: qrealm}))
					return
				}
				challenge(w, http.StatusUnauthorized, `Bearer realm=`+qrealm, "missing bearer token")
				return
			case errors.Is(err, errMultipleAuth):
				challenge(w, http.StatusBadRequest, `Bearer realm=`+qrealm+`, error="invalid_request"`, "invalid request")
				return
			case err != nil:
				challenge(w, http.StatusUnauthorized, `Bearer realm=`+qrealm+`, error="invalid_token"`, "invalid token")
				return
			}
			c, err := v.verify(r.Context(), token) // shared: copied below
			if err != nil {
				if unavailable(err) {
					w.Header().Set("Retry-After", "1")
					problem(w, http.StatusServiceUnavailable, "authorization temporarily unavailable")
					return
				}
				challenge(w, http.StatusUnauthorized, `Bearer realm=`+qrealm+`, error="invalid_token"`, "invalid token")
				return
			}
			// One allocation holds the context, the request's own copy of
			// the claims (the cache's are shared) and the realm.
			info := &authInfo{Context: r.Context(), realm: qrealm}
			c.copyTo(&info.copy)
			info.claims = &info.copy
			next.ServeHTTP(w, r.WithContext(info))
		})
	}
}

// unavailable reports whether err means "could not check" rather than "bad
// token": revocation or keys unavailable, or the request's context ended.
func unavailable(err error) bool {
	if errors.Is(err, ErrTokenInvalid) {
		return false
	}
	return errors.Is(err, ErrRevocationUnavailable) || errors.Is(err, ErrKeysUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// RequireScope lets a request through only if the middleware put claims in
// its context that hold every one of scopes. Without claims (an anonymous
// request let through by an Optional middleware) it answers 401 with the
// realm; with claims lacking a scope, 403 with WWW-Authenticate: Bearer
// realm="…", error="insufficient_scope", scope="<the scopes required>"
// (RFC 6750 §3.1).
func RequireScope(scopes ...string) func(http.Handler) http.Handler {
	need := strings.Join(scopes, " ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info, _ := r.Context().Value(ctxKey{}).(*authInfo)
			realm := quote(DefaultRealm)
			if info != nil {
				realm = info.realm
			}
			if info == nil || info.claims == nil {
				challenge(w, http.StatusUnauthorized, `Bearer realm=`+realm, "missing bearer token")
				return
			}
			for _, s := range scopes {
				if !info.claims.HasScope(s) {
					challenge(w, http.StatusForbidden, `Bearer realm=`+realm+`, error="insufficient_scope", scope=`+quote(need), "insufficient scope")
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

type ctxKey struct{}

// authInfo is the context the middleware gives a request: its parent,
// with the claims (or none) and the realm as the value of ctxKey. It is a
// context itself, rather than the value of a context.WithValue, to save
// an allocation per request.
type authInfo struct {
	context.Context
	claims *Claims // nil: an anonymous request (Optional); else often &copy
	copy   Claims
	realm  string // quoted
}

func (i *authInfo) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return i
	}
	return i.Context.Value(key)
}

// NewContext returns ctx carrying c, as the middleware does (for tests and
// for code that verifies tokens by other means).
func NewContext(ctx context.Context, c *Claims) context.Context {
	return &authInfo{Context: ctx, claims: c, realm: quote(DefaultRealm)}
}

// FromContext returns the verified claims the middleware put in ctx, and
// false if there are none (no middleware, or an anonymous request let
// through by an Optional one).
func FromContext(ctx context.Context) (*Claims, bool) {
	info, _ := ctx.Value(ctxKey{}).(*authInfo)
	if info == nil || info.claims == nil {
		return nil, false
	}
	return info.claims, true
}

// FromContextWith is FromContext that also decodes the token's custom
// claims into a T (see Extra). It answers false, with nil and T's zero
// value, if there are no claims or they do not decode into T.
func FromContextWith[T any](ctx context.Context) (*Claims, T, bool) {
	var zero T
	c, ok := FromContext(ctx)
	if !ok {
		return nil, zero, false
	}
	t, err := Extra[T](c)
	if err != nil {
		return nil, zero, false
	}
	return c, t, true
}

// b64tokenChar holds the characters of RFC 6750's b64token but "=".
var b64tokenChar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()

var errMultipleAuth = errors.New("auth: more than one Authorization header")

// bearerToken reads the token of an "Authorization: Bearer <token>" header:
// ErrTokenMissing if there is no such header or its scheme is another,
// ErrTokenMalformed if the token is empty or not RFC 6750's b64token.
func bearerToken(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", ErrTokenMissing
	case 1:
	default:
		return "", errMultipleAuth
	}
	v := strings.TrimLeft(vals[0], " \t")
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrTokenMissing
	}
	token := strings.Trim(rest, " \t")
	if token == "" || len(token) > MaxTokenSize {
		return "", ErrTokenMalformed
	}
	// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
	i := 0
	for i < len(token) && b64tokenChar[token[i]] {
		i++
	}
	if i == 0 {
		return "", ErrTokenMalformed
	}
	for ; i < len(token); i++ {
		if token[i] != '=' {
			return "", ErrTokenMalformed
		}
	}
	return token, nil
}

// challenge writes a WWW-Authenticate challenge with a problem body.
func challenge(w http.ResponseWriter, status int, auth, msg string) {
	w.Header().Set("WWW-Authenticate", auth)
	problem(w, status, msg)
}

// problem writes a small application/problem+json body (RFC 9457) with an
// "error" member as the rest of this module's errors have. msg is one of
// this file's constant phrases: nothing from the request.
func problem(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write([]byte(`{"type":"about:blank","title":` + strconv.Quote(http.StatusText(status)) +
		`,"status":` + strconv.Itoa(status) + `,"error":` + strconv.Quote(msg) + "}\n"))
}

// quote makes s an HTTP quoted-string (RFC 9110 §5.6.4), dropping control
// characters, which a header may not carry.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 && c != '\t' || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
