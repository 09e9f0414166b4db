package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type verifyFixture struct {
	clock  *fakeClock
	key    *Key
	keys   *KeySet
	signer *Signer
	v      *Verifier
}

func newVerifyFixture(t *testing.T, alg Algorithm, opts *VerifierOptions) *verifyFixture {
	t.Helper()
	f := &verifyFixture{clock: newFakeClock(), key: mustKey(t, alg)}
	f.keys = mustKeySet(t, f.key)
	f.signer = mustSigner(t, f.keys, f.clock)
	f.v = mustVerifier(t, f.keys, f.clock, opts)
	return f
}

func TestVerifyGoodToken(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, ES256, HS256} {
		t.Run(string(alg), func(t *testing.T) {
			f := newVerifyFixture(t, alg, nil)
			tok := mustSign(t, f.signer, Claims{Subject: "alice", SessionID: "sess-1", Scope: "read  write"})
			c, err := f.v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != "alice" || c.SessionID != "sess-1" || c.Issuer != testIssuer ||
				len(c.Audience) != 1 || c.Audience[0] != testAudience {
				t.Errorf("claims = %+v", c)
			}
			if c.Scope != "read write" || !c.HasScope("write") || c.HasScope("admin") {
				t.Errorf("scope = %q", c.Scope)
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt); got != DefaultLifetime {
				t.Errorf("lifetime = %v, want %v", got, DefaultLifetime)
			}
			jti, err := base64.RawURLEncoding.Strict().DecodeString(c.ID)
			if err != nil || len(jti) != 16 {
				t.Errorf("jti %q is not 128 bits of base64url", c.ID)
			}
			hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			var h map[string]string
			json.Unmarshal(hdr, &h)
			if h["typ"] != "at+jwt" || h["alg"] != string(alg) || h["kid"] != f.key.ID() {
				t.Errorf("header = %v", h)
			}
			// Two tokens never share a jti.
			c2, _ := f.v.Verify(context.Background(), mustSign(t, f.signer, Claims{Subject: "alice"}))
			if c2.ID == c.ID {
				t.Error("two tokens got the same jti")
			}
		})
	}
}

// refused checks that token is refused with want, returns no claims, and
// quotes nothing of the token in the error.
func refused(t *testing.T, v *Verifier, token string, want error) {
	t.Helper()
	c, err := v.Verify(context.Background(), token)
	if !errors.Is(err, want) {
		t.Fatalf("Verify: err = %v, want %v", err, want)
	}
	if c != nil {
		t.Errorf("claims returned with an error: %+v", c)
	}
	for _, seg := range strings.Split(token, ".") {
		if len(seg) >= 8 {
			assertNoLeak(t, err, seg)
		}
	}
}

func TestVerifyTampered(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	tok := mustSign(t, f.signer, Claims{Subject: "alice", Scope: "read"})
	parts := strings.Split(tok, ".")

	t.Run("payload", func(t *testing.T) {
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := strings.Replace(string(raw), `"scope":"read"`, `"scope":"admin"`, 1)
		if forged == string(raw) {
			t.Fatal("test did not change the payload")
		}
		refused(t, f.v, parts[0]+"."+b64([]byte(forged))+"."+parts[2], ErrTokenSignature)
	})
	t.Run("signature", func(t *testing.T) {
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[10] ^= 1
		refused(t, f.v, parts[0]+"."+parts[1]+"."+b64(sig), ErrTokenSignature)
	})
	t.Run("signature removed", func(t *testing.T) {
		refused(t, f.v, parts[0]+"."+parts[1]+".", ErrTokenSignature)
	})
	t.Run("non-canonical base64", func(t *testing.T) {
		// Padding or a changed trailing bit must not make a second valid
		// form of one token.
		refused(t, f.v, tok+"=", ErrTokenMalformed)
	})
	t.Run("segments", func(t *testing.T) {
		refused(t, f.v, parts[0]+"."+parts[1], ErrTokenMalformed)
		refused(t, f.v, tok+".x", ErrTokenMalformed)
		refused(t, f.v, "not a token", ErrTokenMalformed)
	})
}

func TestVerifyAlgNone(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	for _, alg := range []string{"none", "None", "NONE", ""} {
		h, _ := json.Marshal(map[string]any{"alg": alg, "kid": f.key.ID(), "typ": "at+jwt"})
		p, _ := json.Marshal(goodPayload(f.clock))
		refused(t, f.v, b64(h)+"."+b64(p)+".", ErrTokenInvalid)
	}
}

// TestVerifyHS256KeyConfusion: an attacker takes the public key (from the
// JWKS) and uses it as an HMAC secret under the real kid. The Verifier
// checks with the key's own algorithm, EdDSA, and refuses.
func TestVerifyHS256KeyConfusion(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			f := newVerifyFixture(t, alg, nil)
			jwkJSON, _ := f.key.PublicJWK()
			secrets := [][]byte{jwkJSON}
			if pub, ok := f.key.public.(ed25519.PublicKey); ok {
				secrets = append(secrets, []byte(pub))
			}
			for _, secret := range secrets {
				h, _ := json.Marshal(map[string]any{"alg": "HS256", "kid": f.key.ID(), "typ": "at+jwt"})
				p, _ := json.Marshal(goodPayload(f.clock))
				signing := b64(h) + "." + b64(p)
				mac := hmac.New(sha256.New, secret)
				mac.Write([]byte(signing))
				refused(t, f.v, signing+"."+b64(mac.Sum(nil)), ErrTokenSignature)
			}
		})
	}
}

// TestVerifyAlgMismatch: a token signed correctly by the key, but claiming
// another algorithm in its header, is refused.
func TestVerifyAlgMismatch(t *testing.T) {
	f := newVerifyFixture(t, ES256, nil)
	h := goodHeader(f.key)
	h["alg"] = "ES384"
	refused(t, f.v, craft(t, f.key, h, goodPayload(f.clock)), ErrTokenSignature)
}

func TestVerifyWrongIssuerAudience(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	other, err := NewSigner(f.keys, &SignerOptions{Issuer: "https://evil.example", Audience: []string{testAudience}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	refused(t, f.v, mustSign(t, other, Claims{Subject: "alice"}), ErrTokenClaims)
	refused(t, f.v, mustSign(t, f.signer, Claims{Subject: "alice", Audience: []string{"https://other.example"}}), ErrTokenClaims)
	// One of several audiences is enough.
	if _, err := f.v.Verify(context.Background(), mustSign(t, f.signer, Claims{Subject: "alice", Audience: []string{"x", testAudience}})); err != nil {
		t.Errorf("token with the audience among others: %v", err)
	}
}

func TestVerifyExpiry(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, &VerifierOptions{Leeway: 10 * time.Second, CacheSize: -1})
	tok := mustSign(t, f.signer, Claims{Subject: "alice"})
	f.clock.Advance(DefaultLifetime + 9*time.Second) // past exp, within leeway
	if _, err := f.v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	f.clock.Advance(2 * time.Second)
	refused(t, f.v, tok, ErrTokenExpired)
}

// TestVerifyCacheHonoursExpiry: a cached token is not served past its exp.
func TestVerifyCacheHonoursExpiry(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, &VerifierOptions{Leeway: time.Second})
	tok := mustSign(t, f.signer, Claims{Subject: "alice"})
	if _, err := f.v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if f.v.cache.len() != 1 {
		t.Fatalf("cache holds %d entries, want 1", f.v.cache.len())
	}
	f.clock.Advance(DefaultLifetime + 2*time.Second)
	refused(t, f.v, tok, ErrTokenExpired)
}

func TestVerifyNotYetValid(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, &VerifierOptions{Leeway: 10 * time.Second})
	ahead := newFakeClock()
	ahead.Advance(time.Minute)
	early := mustSigner(t, f.keys, ahead) // a signer whose clock runs a minute ahead
	refused(t, f.v, mustSign(t, early, Claims{Subject: "alice"}), ErrTokenNotYetValid)

	ahead.Advance(-55 * time.Second) // 5 s ahead: within leeway
	if _, err := f.v.Verify(context.Background(), mustSign(t, early, Claims{Subject: "alice"})); err != nil {
		t.Errorf("iat within leeway: %v", err)
	}

	nbf := mustSign(t, f.signer, Claims{Subject: "alice", NotBefore: f.clock.Now().Add(time.Minute)})
	refused(t, f.v, nbf, ErrTokenNotYetValid)
}

func TestVerifyOversized(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	p := goodPayload(f.clock)
	p["pad"] = strings.Repeat("x", MaxTokenSize)
	tok := craft(t, f.key, goodHeader(f.key), p)
	refused(t, f.v, tok, ErrTokenTooLarge)
	if !errors.Is(ErrTokenTooLarge, ErrTokenMalformed) {
		t.Error("ErrTokenTooLarge does not wrap ErrTokenMalformed")
	}
	// Just under the limit is parsed (and here refused only for its kid).
	refused(t, f.v, "eyJ"+strings.Repeat("A", MaxTokenSize-3), ErrTokenMalformed)
	if errors.Is(func() error {
		_, err := f.v.Verify(context.Background(), "eyJ"+strings.Repeat("A", MaxTokenSize-3))
		return err
	}(), ErrTokenTooLarge) {
		t.Error("a token of exactly MaxTokenSize was refused as too large")
	}
	// The Signer refuses to make what Verifiers refuse.
	if _, err := SignWith(context.Background(), f.signer, Claims{Subject: "alice"}, map[string]string{"pad": strings.Repeat("x", MaxTokenSize)}); err == nil {
		t.Error("Signer made a token over MaxTokenSize")
	}
}

func TestVerifyTyp(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	for name, typ := range map[string]any{"missing": nil, "JWT": "JWT", "empty": "", "number": 1} {
		t.Run(name, func(t *testing.T) {
			h := goodHeader(f.key)
			if typ == nil {
				delete(h, "typ")
			} else {
				h["typ"] = typ
			}
			refused(t, f.v, craft(t, f.key, h, goodPayload(f.clock)), ErrTokenMalformed)
		})
	}
	for _, typ := range []string{"AT+JWT", "application/at+jwt"} {
		h := goodHeader(f.key)
		h["typ"] = typ
		if _, err := f.v.Verify(context.Background(), craft(t, f.key, h, goodPayload(f.clock))); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
	h := goodHeader(f.key)
	h["crit"] = []string{"exp"}
	refused(t, f.v, craft(t, f.key, h, goodPayload(f.clock)), ErrTokenMalformed)
	h = goodHeader(f.key)
	delete(h, "kid")
	refused(t, f.v, craft(t, f.key, h, goodPayload(f.clock)), ErrTokenMalformed)
}

func TestVerifyRequiredClaims(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	if _, err := f.v.Verify(context.Background(), craft(t, f.key, goodHeader(f.key), goodPayload(f.clock))); err != nil {
		t.Fatalf("the good payload is refused: %v", err)
	}
	for _, claim := range []string{"exp", "iat", "iss", "aud", "sub"} {
		t.Run(claim, func(t *testing.T) {
			p := goodPayload(f.clock)
			delete(p, claim)
			refused(t, f.v, craft(t, f.key, goodHeader(f.key), p), ErrTokenClaims)
		})
	}
	t.Run("sub empty", func(t *testing.T) {
		p := goodPayload(f.clock)
		p["sub"] = ""
		refused(t, f.v, craft(t, f.key, goodHeader(f.key), p), ErrTokenClaims)
	})
	t.Run("exp not a number", func(t *testing.T) {
		p := goodPayload(f.clock)
		p["exp"] = "tomorrow"
		refused(t, f.v, craft(t, f.key, goodHeader(f.key), p), ErrTokenInvalid)
	})
	t.Run("lifetime over the maximum", func(t *testing.T) {
		p := goodPayload(f.clock)
		p["exp"] = f.clock.Now().Add(DefaultMaxTokenLifetime + time.Minute).Unix()
		refused(t, f.v, craft(t, f.key, goodHeader(f.key), p), ErrTokenClaims)
	})
}

func TestVerifyUnknownKey(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	stranger := mustKey(t, EdDSA)
	tok := mustSign(t, mustSigner(t, mustKeySet(t, stranger), f.clock), Claims{Subject: "alice"})
	refused(t, f.v, tok, ErrUnknownKey)
	// The same kid as ours, but signed by another key.
	h := goodHeader(stranger)
	h["kid"] = f.key.ID()
	refused(t, f.v, craft(t, stranger, h, goodPayload(f.clock)), ErrTokenSignature)
}

func TestVerifyMissing(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	refused(t, f.v, "", ErrTokenMissing)
}

func TestVerifierOptions(t *testing.T) {
	keys := mustKeySet(t, mustKey(t, EdDSA))
	for name, o := range map[string]*VerifierOptions{
		"nil":            nil,
		"no issuer":      {Audience: "a"},
		"no audience":    {Issuer: "i"},
		"leeway too big": {Issuer: "i", Audience: "a", Leeway: 31 * time.Second},
		"leeway < 0":     {Issuer: "i", Audience: "a", Leeway: -time.Second},
	} {
		if _, err := NewVerifier(keys, o); err == nil {
			t.Errorf("%s: NewVerifier accepted it", name)
		}
	}
	if _, err := NewVerifier(keys, &VerifierOptions{Issuer: "i", Audience: "a", Leeway: MaxLeeway}); err != nil {
		t.Errorf("leeway of MaxLeeway: %v", err)
	}
}

func TestSignerRules(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	ctx := context.Background()
	for name, c := range map[string]Claims{
		"no subject":       {},
		"other issuer":     {Subject: "a", Issuer: "https://evil.example"},
		"exp past":         {Subject: "a", ExpiresAt: f.clock.Now().Add(-time.Second)},
		"exp too late":     {Subject: "a", ExpiresAt: f.clock.Now().Add(DefaultLifetime + time.Minute)},
		"bad scope":        {Subject: "a", Scope: `read "write"`},
		"nbf after exp":    {Subject: "a", NotBefore: f.clock.Now().Add(time.Hour)},
		"control in scope": {Subject: "a", Scope: "read\x01"},
	} {
		if _, err := f.signer.Sign(ctx, c); err == nil {
			t.Errorf("%s: Sign accepted it", name)
		}
	}
	noAud, _ := NewSigner(f.keys, &SignerOptions{Issuer: testIssuer})
	if _, err := noAud.Sign(ctx, Claims{Subject: "a"}); err == nil {
		t.Error("Sign without any audience accepted")
	}
	// An earlier exp is kept; a given jti is kept.
	exp := f.clock.Now().Add(time.Minute).Truncate(time.Second)
	c, err := f.v.Verify(ctx, mustSign(t, f.signer, Claims{Subject: "a", ExpiresAt: exp, ID: "my-id"}))
	if err != nil || !c.ExpiresAt.Equal(exp) || c.ID != "my-id" {
		t.Errorf("claims %+v, err %v", c, err)
	}
	if _, err := NewSigner(f.keys, &SignerOptions{}); err == nil {
		t.Error("NewSigner without issuer accepted")
	}
	pub := mustKeySet(t, f.key.Public())
	if _, err := mustSigner(t, pub, f.clock).Sign(ctx, Claims{Subject: "a"}); err == nil {
		t.Error("signed with a public-only key set")
	}
}

type claimsExtra struct {
	Role   string   `json:"role"`
	Groups []string `json:"groups"`
}

func TestCustomClaims(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	ctx := context.Background()
	tok, err := SignWith(ctx, f.signer, Claims{Subject: "alice", SessionID: "s"}, claimsExtra{Role: "admin", Groups: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	c, x, err := VerifyWith[claimsExtra](ctx, f.v, tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.SessionID != "s" || x.Role != "admin" || len(x.Groups) != 2 {
		t.Errorf("claims %+v, extra %+v", c, x)
	}
	// A cache hit decodes them too.
	if _, x, err := VerifyWith[claimsExtra](ctx, f.v, tok); err != nil || x.Role != "admin" {
		t.Errorf("cache hit: extra %+v, err %v", x, err)
	}
	// Extra of a token without custom claims is the zero value.
	plain, _ := f.v.Verify(ctx, mustSign(t, f.signer, Claims{Subject: "bob"}))
	if x, err := Extra[claimsExtra](plain); err != nil || x.Role != "" {
		t.Errorf("extra of a plain token: %+v, %v", x, err)
	}
	// Custom claims that do not decode into T fail without claims.
	type wrong struct {
		Role int `json:"role"`
	}
	if c, _, err := VerifyWith[wrong](ctx, f.v, tok); err == nil || c != nil {
		t.Errorf("VerifyWith into a wrong type: %v, %v", c, err)
	}
	for name, extra := range map[string]any{
		"registered name": map[string]string{"sub": "mallory"},
		"scope":           map[string]string{"scope": "admin"},
		"not an object":   []string{"x"},
		"null":            nil,
	} {
		if _, err := SignWith(ctx, f.signer, Claims{Subject: "alice"}, extra); err == nil {
			t.Errorf("%s: SignWith accepted it", name)
		}
	}
	if _, err := SignWith(ctx, f.signer, Claims{Subject: "alice"}, struct{}{}); err != nil {
		t.Errorf("empty custom claims: %v", err)
	}
}

type fakeRevocation struct {
	calls   atomic.Int64
	revoked atomic.Bool
	err     atomic.Pointer[error]
	last    atomic.Pointer[RevocationSubject]
}

func (r *fakeRevocation) Revoked(_ context.Context, s RevocationSubject) (bool, error) {
	r.calls.Add(1)
	r.last.Store(&s)
	if e := r.err.Load(); e != nil {
		return false, *e
	}
	return r.revoked.Load(), nil
}

func TestVerifyRevocation(t *testing.T) {
	rev := &fakeRevocation{}
	f := newVerifyFixture(t, EdDSA, &VerifierOptions{Revocation: rev})
	ctx := context.Background()
	tok := mustSign(t, f.signer, Claims{Subject: "alice", SessionID: "sess-9"})
	c, err := f.v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	s := rev.last.Load()
	if s.Subject != "alice" || s.SID != "sess-9" || s.JTI != c.ID || !s.IssuedAt.Equal(c.IssuedAt) {
		t.Errorf("revocation subject %+v for claims %+v", s, c)
	}
	// Cached now: the next Verify is a hit, and still asks.
	if _, err := f.v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := rev.calls.Load(); n != 2 {
		t.Errorf("revocation asked %d times for two verifications", n)
	}
	rev.revoked.Store(true)
	refused(t, f.v, tok, ErrTokenRevoked)
	rev.revoked.Store(false)

	storeDown := errors.New("store down")
	rev.err.Store(&storeDown)
	_, err = f.v.Verify(ctx, tok)
	if !errors.Is(err, ErrRevocationUnavailable) || errors.Is(err, ErrTokenInvalid) {
		t.Errorf("checker failing: err = %v, want ErrRevocationUnavailable (fail closed)", err)
	}
	open := mustVerifier(t, f.keys, f.clock, &VerifierOptions{Revocation: rev, RevocationFailOpen: true})
	if _, err := open.Verify(ctx, tok); err != nil {
		t.Errorf("fail open: %v", err)
	}
	// A bad token never reaches the checker.
	before := rev.calls.Load()
	open.Verify(ctx, tamperSig(tok))
	if rev.calls.Load() != before {
		t.Error("revocation asked about a token whose signature failed")
	}
}

func TestVerifyClaimsAreCopies(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	tok := mustSign(t, f.signer, Claims{Subject: "alice"})
	c1, _ := f.v.Verify(context.Background(), tok)
	c1.Subject = "mallory"
	c1.Audience[0] = "x"
	c2, _ := f.v.Verify(context.Background(), tok)
	if c2.Subject != "alice" || c2.Audience[0] != testAudience {
		t.Errorf("a caller's change reached the cache: %+v", c2)
	}
	f.v.Forget(tok)
	if f.v.cache.len() != 0 {
		t.Error("Forget left the entry")
	}
}

func TestCacheBound(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, &VerifierOptions{CacheSize: 32})
	for range 500 {
		if _, err := f.v.Verify(context.Background(), mustSign(t, f.signer, Claims{Subject: "alice"})); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.v.cache.len(); n > 32 || n == 0 {
		t.Errorf("cache of size 32 holds %d entries", n)
	}
}
