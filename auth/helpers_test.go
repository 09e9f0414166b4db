package auth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store"
)

// fakeClock is a clock tests move by hand; safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

const (
	testIssuer   = "https://issuer.example"
	testAudience = "https://api.example"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

func mustKey(t testing.TB, alg Algorithm) *Key {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKeySet(t testing.TB, keys ...*Key) *KeySet {
	t.Helper()
	s, err := NewKeySet(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSigner(t testing.TB, keys SigningKeys, clock *fakeClock) *Signer {
	t.Helper()
	s, err := NewSigner(keys, &SignerOptions{Issuer: testIssuer, Audience: []string{testAudience}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustVerifier(t testing.TB, keys VerificationKeys, clock *fakeClock, opts *VerifierOptions) *Verifier {
	t.Helper()
	o := VerifierOptions{}
	if opts != nil {
		o = *opts
	}
	o.Issuer, o.Audience, o.Now = testIssuer, testAudience, clock.Now
	if opts != nil && opts.Issuer != "" {
		o.Issuer = opts.Issuer
	}
	v, err := NewVerifier(keys, &o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustSign(t testing.TB, s *Signer, c Claims) string {
	t.Helper()
	tok, err := s.Sign(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// ringOpts are short, valid ring options for tests: R = 1h, L = 10m,
// M = 5m, F = 30s, so P = 6m.
func ringOpts(clock *fakeClock) *KeyRingOptions {
	return &KeyRingOptions{
		Secret:        testSecret,
		RotateEvery:   time.Hour,
		TokenLifetime: 10 * time.Minute,
		JWKSMaxAge:    5 * time.Minute,
		RefreshEvery:  30 * time.Second,
		Now:           clock.Now,
	}
}

func mustRing(t testing.TB, st store.Store, opts *KeyRingOptions) *KeyRing {
	t.Helper()
	r, err := NewKeyRing(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// craft signs an arbitrary header and payload with k, bypassing the Signer's
// rules, to build the tokens an attacker or a broken issuer would send.
func craft(t testing.TB, k *Key, header, payload map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	signing := b64(h) + "." + b64(p)
	sig, err := k.method.Sign(signing, k.private)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(sig)
}

// goodPayload is a payload that passes every check at clock's time.
func goodPayload(clock *fakeClock) map[string]any {
	now := clock.Now().Unix()
	return map[string]any{
		"iss": testIssuer, "sub": "alice", "aud": []string{testAudience},
		"iat": now, "exp": now + 300, "jti": "abc", "sid": "sess-1",
	}
}

func goodHeader(k *Key) map[string]any {
	return map[string]any{"alg": string(k.alg), "kid": k.id, "typ": "at+jwt"}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// tamperSig changes one character in the middle of token's signature
// (never a padding bit, never to the same character).
func tamperSig(token string) string {
	i := len(token) - 10
	c := byte('A')
	if token[i] == 'A' {
		c = 'B'
	}
	return token[:i] + string(c) + token[i+1:]
}

// assertNoLeak fails if err's text contains any of the secrets.
func assertNoLeak(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains secret material %q", err, s)
		}
	}
}
