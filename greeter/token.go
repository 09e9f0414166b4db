package greeter

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/stateless-go/stateless/session"
)

// Tokens is what the Greeter's access-token routes need: POST /token,
// GET /.well-known/jwks.json, a Bearer token on GET /greet, and logout
// revoking the session's tokens. The Greeter verifies and signs nothing
// itself; the example server plugs in an implementation over package auth
// (signed JWTs with keys shared through the store), and with none the
// routes do not exist.
type Tokens interface {
	// Issue returns an access token for subject bound to the session
	// whose stable ID is sid, and how long it lives.
	Issue(ctx context.Context, subject, sid string) (token string, lifetime time.Duration, err error)
	// RevokeSession makes every token bound to sid refused, by every
	// instance.
	RevokeSession(ctx context.Context, sid string) error
	// Authenticate wraps GET /greet: a request with a Bearer token must
	// carry a valid one (Authenticate answers a bad one itself, with 401),
	// a request without one passes as it is.
	Authenticate(next http.Handler) http.Handler
	// Subject returns the subject of the token Authenticate verified for
	// the request whose context this is.
	Subject(ctx context.Context) (string, bool)
	// JWKS serves the public keys that verify the tokens, or is nil.
	JWKS() http.Handler
}

var (
	bodyTokensDown   = errorBody("cannot sign tokens now; try again later")
	bodyRevokeFailed = errorBody("could not revoke the session's tokens; the session is kept, try again")
)

// token answers POST /token: with a live session, 200
// {"access_token":"…","token_type":"Bearer","expires_in":600}, a token whose
// subject is the session's name and whose sid is the session's ID; 401
// without one.
func (h *handler) token(w http.ResponseWriter, r *http.Request) {
	s, name, ok := h.loggedIn(w, r)
	if !ok {
		return
	}
	tok, life, err := h.tokens.Issue(r.Context(), name, s.ID())
	if err != nil {
		h.log.Error("issuing an access token", "error", err)
		w.Header()["Retry-After"] = []string{"1"}
		writeJSON(w, r, http.StatusServiceUnavailable, bodyTokensDown)
		return
	}
	b := append(make([]byte, 0, len(tok)+80), `{"access_token":"`...)
	b = appendJSONString(b, tok)
	b = append(b, `","token_type":"Bearer","expires_in":`...)
	b = strconv.AppendInt(b, int64(life/time.Second), 10)
	b = append(b, "}\n"...)
	// RFC 6749 §5.1: a response holding a token is not to be cached.
	w.Header()["Cache-Control"] = headerNoStore
	w.Header()["Pragma"] = []string{"no-cache"}
	writeJSON(w, r, http.StatusOK, b)
}

// revokeTokens revokes the tokens of the request's session, if it has one,
// before logout destroys it. It reports whether logout may go on.
func (h *handler) revokeTokens(w http.ResponseWriter, r *http.Request) bool {
	if h.tokens == nil {
		return true
	}
	s := session.From(r.Context())
	live, err := s.Live()
	if err != nil && !errors.Is(err, context.Canceled) {
		writeJSON(w, r, http.StatusServiceUnavailable, bodyStoreDown)
		return false
	}
	if !live {
		return true
	}
	if err := h.tokens.RevokeSession(r.Context(), s.ID()); err != nil {
		h.log.Error("revoking a session's tokens at logout", "error", err)
		w.Header()["Retry-After"] = []string{"1"}
		writeJSON(w, r, http.StatusServiceUnavailable, bodyRevokeFailed)
		return false
	}
	return true
}

// tokenSubject is the subject of the request's verified Bearer token.
func (h *handler) tokenSubject(r *http.Request) (string, bool) {
	if h.tokens == nil {
		return "", false
	}
	return h.tokens.Subject(r.Context())
}
