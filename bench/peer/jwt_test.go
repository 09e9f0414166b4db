package peer_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stateless-go/stateless/auth"
	"github.com/stateless-go/stateless/bench/peer"
	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/store/memory"
)

// tokens is greeter.Tokens over package auth, set up as
// examples/greeter's (iss and aud "greeter", key ring in the store,
// revocations, an Optional middleware).
type tokens struct {
	ring     *auth.KeyRing
	revs     *auth.Revocations
	signer   *auth.Signer
	verifier *auth.Verifier
	mw       func(http.Handler) http.Handler
}

func newTokens(t *testing.T, cacheSize int) *tokens {
	t.Helper()
	ctx := context.Background()
	st := memory.New(nil)
	t.Cleanup(func() { st.Close() })
	secret := make([]byte, 32)
	rand.Read(secret)
	ring, err := auth.NewKeyRing(ctx, st, &auth.KeyRingOptions{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ring.Close() })
	revs, err := auth.NewRevocations(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { revs.Close() })
	tk := &tokens{ring: ring, revs: revs}
	if tk.signer, err = auth.NewSigner(ring, &auth.SignerOptions{Issuer: peer.TokenIssuer, Audience: []string{peer.TokenAudience}}); err != nil {
		t.Fatal(err)
	}
	if tk.verifier, err = auth.NewVerifier(ring, &auth.VerifierOptions{Issuer: peer.TokenIssuer, Audience: peer.TokenAudience, Revocation: revs, CacheSize: cacheSize}); err != nil {
		t.Fatal(err)
	}
	tk.mw = tk.verifier.Middleware(&auth.MiddlewareOptions{Realm: "greeter", Optional: true})
	return tk
}

func (t *tokens) Issue(ctx context.Context, subject, sid string) (string, time.Duration, error) {
	tok, err := t.signer.Sign(ctx, auth.Claims{Subject: subject, SessionID: sid})
	return tok, t.signer.Lifetime(), err
}
func (t *tokens) RevokeSession(ctx context.Context, sid string) error {
	return t.revs.RevokeSession(ctx, sid)
}
func (t *tokens) Authenticate(next http.Handler) http.Handler { return t.mw(next) }
func (t *tokens) Subject(ctx context.Context) (string, bool) {
	c, ok := auth.FromContext(ctx)
	if !ok {
		return "", false
	}
	return c.Subject, true
}
func (t *tokens) JWKS() http.Handler { return t.ring.JWKSHandler() }

// signWith signs a token over tk's keys with other claims or another clock.
func signWith(t *testing.T, tk *tokens, o auth.SignerOptions, c auth.Claims) string {
	t.Helper()
	s, err := auth.NewSigner(tk.ring, &o)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestJWTSameBehaviour checks that the jwtauth peer, given only our
// public key from our JWKS, answers GET /greet as our Greeter does: the
// same statuses and bodies for anonymous requests, for our tokens, and for
// tokens either must refuse.
func TestJWTSameBehaviour(t *testing.T) {
	for _, cache := range []int{0, -1} {
		tk := newTokens(t, cache)
		st := memory.New(nil)
		t.Cleanup(func() { st.Close() })
		ours := greeter.New(st, &greeter.Options{Tokens: tk})

		jwks := httptest.NewServer(ours)
		t.Cleanup(jwks.Close)
		pub, err := peer.LoadKey(context.Background(), jwks.URL+"/.well-known/jwks.json", "")
		if err != nil {
			t.Fatal(err)
		}
		theirs := peer.NewJWT(peer.NewJWTAuth(pub))

		// A token from our POST /token, for a session named Alice.
		w := do(ours, exchange{method: "POST", target: "/session", body: `{"name":"Alice"}`})
		sess := sessionCookie(t, w).Value
		r := httptest.NewRequest("POST", "/token", nil)
		r.AddCookie(&http.Cookie{Name: "session", Value: sess})
		rec := httptest.NewRecorder()
		ours.ServeHTTP(rec, r)
		var out struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int    `json:"expires_in"`
		}
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.TokenType != "Bearer" || out.AccessToken == "" {
			t.Fatalf("POST /token: %d %s", rec.Code, rec.Body)
		}
		good := out.AccessToken

		now := time.Now()
		other := newTokens(t, cache) // another key ring: a key the peer does not have
		cases := []struct {
			name, target, authz string
			status              int
			body                string
		}{
			{"name", "/greet?name=Alice", "", 200, `{"message":"Hello, Alice!"}`},
			{"anonymous", "/greet", "", 200, `{"message":"Hello, World!"}`},
			{"other scheme", "/greet", "Basic YTpi", 200, `{"message":"Hello, World!"}`},
			{"bearer", "/greet", "Bearer " + good, 200, `{"message":"Hello, Alice!"}`},
			{"bearer, lower-case scheme", "/greet", "bearer " + good, 200, `{"message":"Hello, Alice!"}`},
			{"bearer and name", "/greet?name=Bob", "Bearer " + good, 200, `{"message":"Hello, Bob!"}`},
			{"tampered signature", "/greet", "Bearer " + good[:len(good)-2] + flip(good[len(good)-2:]), 401, ""},
			{"tampered payload", "/greet", "Bearer " + tamperPayload(t, good), 401, ""},
			{"tampered and name", "/greet?name=Bob", "Bearer " + good + "x", 401, ""},
			{"garbage", "/greet", "Bearer abc", 401, ""},
			{"wrong aud", "/greet", "Bearer " + signWith(t, tk, auth.SignerOptions{Issuer: peer.TokenIssuer, Audience: []string{"other"}}, auth.Claims{Subject: "Eve"}), 401, ""},
			{"wrong iss", "/greet", "Bearer " + signWith(t, tk, auth.SignerOptions{Issuer: "other", Audience: []string{peer.TokenAudience}}, auth.Claims{Subject: "Eve"}), 401, ""},
			{"expired", "/greet", "Bearer " + signWith(t, tk, auth.SignerOptions{Issuer: peer.TokenIssuer, Audience: []string{peer.TokenAudience}, Now: func() time.Time { return now.Add(-time.Hour) }}, auth.Claims{Subject: "Eve"}), 401, ""},
			{"not yet valid", "/greet", "Bearer " + signWith(t, tk, auth.SignerOptions{Issuer: peer.TokenIssuer, Audience: []string{peer.TokenAudience}, Now: func() time.Time { return now.Add(time.Hour) }}, auth.Claims{Subject: "Eve"}), 401, ""},
			{"other key", "/greet", "Bearer " + signWith(t, other, auth.SignerOptions{Issuer: peer.TokenIssuer, Audience: []string{peer.TokenAudience}}, auth.Claims{Subject: "Eve"}), 401, ""},
		}
		for name, h := range map[string]http.Handler{"ours": ours, "jwtauth": theirs} {
			for _, c := range cases {
				r := httptest.NewRequest("GET", c.target, nil)
				if c.authz != "" {
					r.Header.Set("Authorization", c.authz)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != c.status {
					t.Errorf("cache %d, %s, %s: status %d, want %d; body %s", cache, name, c.name, w.Code, c.status, w.Body)
					continue
				}
				switch c.status {
				case 200:
					if w.Body.String() != c.body+"\n" || w.Header().Get("Content-Type") != "application/json" {
						t.Errorf("cache %d, %s, %s: %s %q, want %q", cache, name, c.name, w.Header().Get("Content-Type"), w.Body, c.body)
					}
				case 401:
					const want = `{"type":"about:blank","title":"Unauthorized","status":401,"error":"invalid token"}` + "\n"
					if w.Body.String() != want || w.Header().Get("WWW-Authenticate") != `Bearer realm="greeter", error="invalid_token"` ||
						w.Header().Get("Content-Type") != "application/problem+json" || w.Header().Get("Cache-Control") != "no-store" {
						t.Errorf("cache %d, %s, %s: 401 with %v %q", cache, name, c.name, w.Header(), w.Body)
					}
				}
			}
		}
	}
}

var base64URL = base64.RawURLEncoding

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

// tamperPayload changes the token's sub from Alice to Alicf, keeping its
// signature.
func tamperPayload(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	p, err := base64URL.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(p), `"sub":"Alice"`, `"sub":"Alicf"`, 1)
	if s == string(p) {
		t.Fatalf("no sub Alice in %s", p)
	}
	parts[1] = base64URL.EncodeToString([]byte(s))
	return strings.Join(parts, ".")
}

func TestLoadKeyRefusesWhatItCannotUse(t *testing.T) {
	tk := newTokens(t, 0)
	srv := httptest.NewServer(tk.JWKS())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if _, err := peer.LoadKey(ctx, srv.URL, "no-such-kid"); err == nil {
		t.Error("LoadKey accepted an unknown kid")
	}
	if _, err := peer.LoadKey(ctx, srv.URL, ""); err != nil {
		t.Errorf("LoadKey of our JWKS: %v", err)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/oct":
			w.Write([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"h"}]}`))
		case "/two":
			w.Write([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"rWynmlNMotF2XROFpnKSDWWZUSgtJCRkj4Q6906Scg8","kid":"a"},{"kty":"OKP","crv":"Ed25519","x":"rWynmlNMotF2XROFpnKSDWWZUSgtJCRkj4Q6906Scg8","kid":"b"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(bad.Close)
	if _, err := peer.LoadKey(ctx, bad.URL+"/oct", "h"); err == nil {
		t.Error("LoadKey accepted a symmetric key")
	}
	if _, err := peer.LoadKey(ctx, bad.URL+"/two", ""); err == nil {
		t.Error("LoadKey picked one of two keys without a kid")
	}
	if _, err := peer.LoadKey(ctx, bad.URL+"/two", "b"); err != nil {
		t.Errorf("LoadKey of kid b: %v", err)
	}
	if _, err := peer.LoadKey(ctx, bad.URL+"/missing", ""); err == nil {
		t.Error("LoadKey accepted a 404")
	}
}
