package auth

import (
	"context"
	"testing"

	"github.com/stateless-go/stateless/store/memory"
)

// benchSetup is an EdDSA key ring over the memory store, a Signer and a
// Verifier (cacheSize as VerifierOptions.CacheSize).
func benchSetup(b *testing.B, cacheSize int) (*Signer, *Verifier) {
	b.Helper()
	st := memory.New(nil)
	ring, err := NewKeyRing(context.Background(), st, &KeyRingOptions{Secret: testSecret})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ring.Close() })
	s, err := NewSigner(ring, &SignerOptions{Issuer: testIssuer, Audience: []string{testAudience}})
	if err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(ring, &VerifierOptions{Issuer: testIssuer, Audience: testAudience, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	return s, v
}

var benchClaims = Claims{Subject: "user-1234", SessionID: "3f9a6c1e2b7d4a58", Scope: "greet read"}

func BenchmarkSign(b *testing.B) {
	s, _ := benchSetup(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(ctx, benchClaims); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCacheHit verifies one token again and again: a cache hit
// (hash, map lookup, key check, copy of the claims).
func BenchmarkVerifyCacheHit(b *testing.B) {
	s, v := benchSetup(b, 0)
	ctx := context.Background()
	tok, err := s.Sign(ctx, benchClaims)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCacheMiss verifies with the cache off: every call parses
// the token and checks its Ed25519 signature.
func BenchmarkVerifyCacheMiss(b *testing.B) {
	s, v := benchSetup(b, -1)
	ctx := context.Background()
	tok, err := s.Sign(ctx, benchClaims)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
