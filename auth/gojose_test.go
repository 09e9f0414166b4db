package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/stateless-go/stateless/auth"
	"github.com/stateless-go/stateless/store/memory"
)

// TestThirdPartyVerifier: go-jose, knowing nothing of this package, verifies
// our tokens with nothing but the JSON our JWKS endpoint serves.
func TestThirdPartyVerifier(t *testing.T) {
	for _, alg := range []auth.Algorithm{auth.EdDSA, auth.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			ctx := context.Background()
			ring, err := auth.NewKeyRing(ctx, memory.New(nil), &auth.KeyRingOptions{
				Secret:    []byte("a secret of at least thirty-two bytes, for tests"),
				Algorithm: alg,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer ring.Close()
			signer, err := auth.NewSigner(ring, &auth.SignerOptions{Issuer: "https://issuer.example", Audience: []string{"greeter"}})
			if err != nil {
				t.Fatal(err)
			}
			token, err := signer.Sign(ctx, auth.Claims{Subject: "alice", SessionID: "sess-1", Scope: "greet"})
			if err != nil {
				t.Fatal(err)
			}

			srv := httptest.NewServer(ring.JWKSHandler())
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			jwksJSON, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			// From here on, only go-jose and the JSON.
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(jwksJSON, &set); err != nil {
				t.Fatal(err)
			}
			tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if len(tok.Headers) != 1 || tok.Headers[0].ExtraHeaders["typ"] != "at+jwt" {
				t.Errorf("headers %+v", tok.Headers)
			}
			keys := set.Key(tok.Headers[0].KeyID)
			if len(keys) != 1 || !keys[0].IsPublic() || keys[0].Algorithm != string(alg) {
				t.Fatalf("go-jose found %d keys for kid %q", len(keys), tok.Headers[0].KeyID)
			}
			var std josejwt.Claims
			var ours struct {
				SID   string `json:"sid"`
				Scope string `json:"scope"`
			}
			if err := tok.Claims(keys[0].Key, &std, &ours); err != nil {
				t.Fatalf("go-jose does not verify our token: %v", err)
			}
			if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: "https://issuer.example", AnyAudience: []string{"greeter"}, Time: time.Now()}, 0); err != nil {
				t.Fatal(err)
			}
			if std.Subject != "alice" || ours.SID != "sess-1" || ours.Scope != "greet" || std.ID == "" {
				t.Errorf("claims %+v %+v", std, ours)
			}
			// A tampered token fails go-jose too (the check is real).
			i := len(token) - 10 // inside the signature, clear of its padding bits
			flipped := token[:i] + map[bool]string{true: "B", false: "A"}[token[i] == 'A'] + token[i+1:]
			bad, err := josejwt.ParseSigned(flipped, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if bad.Claims(keys[0].Key, &std) == nil {
				t.Error("go-jose accepted a tampered token")
			}
		})
	}
}
