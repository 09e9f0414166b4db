package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/stateless-go/stateless/auth"
	"github.com/stateless-go/stateless/store/memory"
)

// Sign a token on one instance and verify it on another: both share the
// key ring through the store (here an in-memory one; in production, the
// store every instance uses for sessions) and a secret.
func Example() {
	ctx := context.Background()
	st := memory.New(nil)
	secret := []byte("32+ bytes from your secret manager, same everywhere")

	// Instance A signs.
	ringA, err := auth.NewKeyRing(ctx, st, &auth.KeyRingOptions{Secret: secret})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ringA.Close()
	signer, err := auth.NewSigner(ringA, &auth.SignerOptions{
		Issuer:   "https://greeter.example",
		Audience: []string{"greeter"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	token, err := signer.Sign(ctx, auth.Claims{Subject: "alice", SessionID: "sess-42", Scope: "greet"})
	if err != nil {
		fmt.Println(err)
		return
	}

	// Instance B verifies, with the keys it reads from the same store.
	ringB, err := auth.NewKeyRing(ctx, st, &auth.KeyRingOptions{Secret: secret})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ringB.Close()
	verifier, err := auth.NewVerifier(ringB, &auth.VerifierOptions{
		Issuer:   "https://greeter.example",
		Audience: "greeter",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	claims, err := verifier.Verify(ctx, token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(claims.Subject, claims.SessionID, claims.HasScope("greet"))

	_, err = verifier.Verify(ctx, "not-a-token")
	fmt.Println(errors.Is(err, auth.ErrTokenInvalid), err)
	// Output:
	// alice sess-42 true
	// true auth: invalid token: malformed: not a compact JWS
}

// The middleware puts the verified claims in the request's context; with
// Optional, requests without a token pass through as anonymous.
func ExampleVerifier_Middleware() {
	ctx := context.Background()
	key, _ := auth.GenerateKey(auth.EdDSA)
	keys, _ := auth.NewKeySet(key)
	signer, _ := auth.NewSigner(keys, &auth.SignerOptions{Issuer: "https://greeter.example", Audience: []string{"greeter"}})
	verifier, _ := auth.NewVerifier(keys, &auth.VerifierOptions{Issuer: "https://greeter.example", Audience: "greeter"})

	greet := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "World"
		if c, ok := auth.FromContext(r.Context()); ok {
			name = c.Subject
		}
		fmt.Fprintf(w, "Hello, %s!", name)
	})
	h := verifier.Middleware(&auth.MiddlewareOptions{Optional: true})(greet)

	token, _ := signer.Sign(ctx, auth.Claims{Subject: "Alice"})
	for _, authz := range []string{"", "Bearer " + token, "Bearer not-a-token"} {
		r := httptest.NewRequest("GET", "/greet", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
			continue
		}
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 200 Hello, World!
	// 200 Hello, Alice!
	// 401 Bearer realm="api", error="invalid_token"
}
