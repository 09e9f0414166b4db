package peer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/jwtauth/v5"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// The claims the Greeter's tokens carry and its verifier demands.
const (
	TokenIssuer   = "greeter"
	TokenAudience = "greeter"
	// TokenLeeway is the clock skew allowed on exp, nbf and iat: package
	// auth's default.
	TokenLeeway = 5 * time.Second
)

// NewJWTAuth returns a go-chi/jwtauth verifier for the Greeter's EdDSA
// access tokens, given only the public key: the algorithm is fixed to
// EdDSA (jwtauth binds it to the key), and jwx's validation checks exp,
// iat and nbf (with TokenLeeway of skew), iss "greeter" and aud
// "greeter", and requires exp, iat and sub, as package auth's Verifier
// does. It checks no typ header, no maximum lifetime and no revocation:
// jwtauth has none of those, and this is the work a jwtauth user has
// their server do.
func NewJWTAuth(pub ed25519.PublicKey) *jwtauth.JWTAuth {
	return jwtauth.New(jwa.EdDSA.String(), nil, pub,
		jwt.WithIssuer(TokenIssuer),
		jwt.WithAudience(TokenAudience),
		jwt.WithAcceptableSkew(TokenLeeway),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.IssuedAtKey),
		jwt.WithRequiredClaim(jwt.SubjectKey),
	)
}

// NewJWT returns GET /greet on go-chi/jwtauth, answering as package
// greeter's GET /greet does when it has access tokens:
//
//	GET /greet?name=X                  {"message":"Hello, X!"}
//	GET /greet + Authorization: Bearer {"message":"Hello, <sub>!"}
//	GET /greet                         {"message":"Hello, World!"}
//
// A request with a Bearer token that does not verify is a 401 with
// WWW-Authenticate: Bearer realm="greeter", error="invalid_token" and the
// same problem+json body as ours, name or not; a request without one goes
// through anonymous (package auth's MiddlewareOptions.Optional). Also
// /healthz, and a JSON 404 elsewhere, all behind
// http.CrossOriginProtection as the other servers are.
//
// The token is verified by jwtauth.Verify, reading the Authorization
// header only (jwtauth.Verifier would also read a "jwt" cookie; ours reads
// the header only). jwtauth.Authenticator is not used, since it refuses
// anonymous requests and GET /greet?name=X must serve them; its check (the
// error Verify left in the context) is done by the handler, without the
// claims map Authenticator builds.
func NewJWT(ja *jwtauth.JWTAuth) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /greet", jwtauth.Verify(ja, jwtauth.TokenFromHeader)(http.HandlerFunc(greetJWT)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusOK, bodyOK)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusNotFound, bodyNotFound)
	})
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusForbidden, errorBody("cross-origin request refused"))
	}))
	return csrf.Handler(mux)
}

var (
	headerChallenge = []string{`Bearer realm="greeter", error="invalid_token"`}
	headerProblem   = []string{"application/problem+json"}
	headerNoStore   = []string{"no-store"}
	bodyBadToken    = []byte(`{"type":"about:blank","title":"Unauthorized","status":401,"error":"invalid token"}` + "\n")
)

func greetJWT(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err, _ := ctx.Value(jwtauth.ErrorCtxKey).(error); err != nil && !errors.Is(err, jwtauth.ErrNoTokenFound) {
		unauthorized(w)
		return
	}
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
	if tok, _ := ctx.Value(jwtauth.TokenCtxKey).(jwt.Token); tok != nil {
		sub := tok.Subject()
		if sub == "" {
			unauthorized(w)
			return
		}
		writeJSON(w, r, http.StatusOK, greeting(make([]byte, 0, len(sub)+32), sub))
		return
	}
	writeJSON(w, r, http.StatusOK, bodyWorld)
}

func unauthorized(w http.ResponseWriter) {
	h := w.Header()
	h["Www-Authenticate"] = headerChallenge
	h["Content-Type"] = headerProblem
	h["Cache-Control"] = headerNoStore
	h["X-Content-Type-Options"] = headerNosniff
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write(bodyBadToken)
}

// maxJWKSSize bounds the JWK set LoadKey reads.
const maxJWKSSize = 1 << 20

// LoadKey returns the Ed25519 public key with ID kid (any, if kid is
// empty and the set holds exactly one) from the JWK set at src: an
// http(s) URL such as our server's /.well-known/jwks.json, or a file. It
// refuses a key that is not an EdDSA Ed25519 public key.
func LoadKey(ctx context.Context, src, kid string) (ed25519.PublicKey, error) {
	var raw []byte
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetching the JWK set: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetching the JWK set: status %d", resp.StatusCode)
		}
		if raw, err = io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1)); err != nil {
			return nil, fmt.Errorf("fetching the JWK set: %w", err)
		}
	} else {
		var err error
		if raw, err = os.ReadFile(src); err != nil {
			return nil, err
		}
	}
	if len(raw) > maxJWKSSize {
		return nil, fmt.Errorf("the JWK set is over %d bytes", maxJWKSSize)
	}
	set, err := jwk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing the JWK set: %w", err)
	}
	var key jwk.Key
	switch {
	case kid != "":
		k, ok := set.LookupKeyID(kid)
		if !ok {
			return nil, fmt.Errorf("the JWK set has no key %q", kid)
		}
		key = k
	case set.Len() == 1:
		key, _ = set.Key(0)
	default:
		return nil, fmt.Errorf("the JWK set has %d keys: name one with its kid", set.Len())
	}
	if alg := key.Algorithm().String(); key.KeyType() != jwa.OKP || (alg != "" && alg != jwa.EdDSA.String()) {
		return nil, fmt.Errorf("key %q is not an EdDSA key", key.KeyID())
	}
	var pub ed25519.PublicKey
	if err := key.Raw(&pub); err != nil {
		return nil, fmt.Errorf("key %q is not an Ed25519 public key: %w", key.KeyID(), err)
	}
	return pub, nil
}
