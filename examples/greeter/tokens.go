package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/stateless-go/stateless/auth"
	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/store"
)

// tokenIssuer and tokenAudience are the iss and aud of the Greeter's
// tokens: every instance signs and verifies with the same ones.
const (
	tokenIssuer   = "greeter"
	tokenAudience = "greeter"
)

// tokens is greeter.Tokens over package auth: a key ring in the shared
// store (so instances agree on keys with nothing but the secret
// configured), a Signer, a Verifier with revocation, and a Bearer
// middleware that lets requests without a token through.
type tokens struct {
	ring     *auth.KeyRing
	revs     *auth.Revocations
	signer   *auth.Signer
	verifier *auth.Verifier
	mw       func(http.Handler) http.Handler
}

var _ greeter.Tokens = (*tokens)(nil)

// errNoTokenSecret: a shared store without -token-secret gets no tokens.
var errNoTokenSecret = errors.New("no -token-secret")

// newTokens sets up tokens over st. secret encrypts the signing keys in
// the store; every instance must have the same. Empty, it is drawn at
// random when st is in-process (its keys die with it anyway) and is an
// error (errNoTokenSecret) otherwise.
func newTokens(ctx context.Context, st store.Store, secret string, lifetime time.Duration, cacheSize int, log *slog.Logger, obs auth.Observer) (*tokens, error) {
	key := []byte(secret)
	if secret == "" {
		if _, local := st.(store.NonBlocking); !local {
			return nil, errNoTokenSecret
		}
		key = make([]byte, 32)
		rand.Read(key)
	}
	ring, err := auth.NewKeyRing(ctx, st, &auth.KeyRingOptions{Secret: key, TokenLifetime: lifetime, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("token key ring: %w", err)
	}
	revs, err := auth.NewRevocations(ctx, st, &auth.RevocationOptions{MaxTokenLifetime: lifetime, Observer: obs})
	if err != nil {
		ring.Close()
		return nil, fmt.Errorf("token revocations: %w", err)
	}
	t := &tokens{ring: ring, revs: revs}
	if t.signer, err = auth.NewSigner(ring, &auth.SignerOptions{Issuer: tokenIssuer, Audience: []string{tokenAudience}, Lifetime: lifetime}); err == nil {
		t.verifier, err = auth.NewVerifier(ring, &auth.VerifierOptions{Issuer: tokenIssuer, Audience: tokenAudience, MaxTokenLifetime: lifetime, Revocation: revs, CacheSize: cacheSize, Observer: obs})
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	t.mw = t.verifier.Middleware(&auth.MiddlewareOptions{Realm: "greeter", Optional: true})
	return t, nil
}

// Close stops the key ring's and the revocations' background refreshes.
func (t *tokens) Close() {
	t.revs.Close()
	t.ring.Close()
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
