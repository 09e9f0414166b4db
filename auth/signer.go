package auth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SigningKeys is where a Signer gets the key it signs with: a KeyRing (the
// key active now) or a KeySet (its first private key).
type SigningKeys interface {
	// SigningKey returns the key to sign with now, one that can sign.
	SigningKey(ctx context.Context) (*Key, error)
}

// DefaultLifetime is a token's lifetime when SignerOptions.Lifetime is 0.
const DefaultLifetime = 10 * time.Minute

// SignerOptions configure a Signer.
type SignerOptions struct {
	// Issuer is the iss of every token (required): a URL naming this
	// service, as Verifiers expect it.
	Issuer string
	// Audience is the aud of tokens whose Claims name none. Either it or
	// every Claims must name one.
	Audience []string
	// Lifetime is how long a token lives (exp - iat); 0 means
	// DefaultLifetime. It may not exceed the key source's
	// MaxTokenLifetime when the source has one (a KeyRing does).
	Lifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Signer signs access tokens with the keys of a SigningKeys. It is safe for
// concurrent use.
type Signer struct {
	keys     SigningKeys
	issuer   string
	audience []string
	lifetime time.Duration
	now      func() time.Time
}

// NewSigner returns a Signer over keys.
func NewSigner(keys SigningKeys, opts *SignerOptions) (*Signer, error) {
	if keys == nil {
		return nil, errors.New("auth: NewSigner needs signing keys")
	}
	if opts == nil || opts.Issuer == "" {
		return nil, errors.New("auth: SignerOptions.Issuer is required")
	}
	s := &Signer{keys: keys, issuer: opts.Issuer, audience: append([]string(nil), opts.Audience...), lifetime: opts.Lifetime, now: opts.Now}
	if s.lifetime == 0 {
		s.lifetime = DefaultLifetime
	}
	if s.lifetime < time.Second {
		return nil, fmt.Errorf("auth: SignerOptions.Lifetime %v is shorter than a second", s.lifetime)
	}
	if m, ok := keys.(interface{ MaxTokenLifetime() time.Duration }); ok && s.lifetime > m.MaxTokenLifetime() {
		return nil, fmt.Errorf("auth: SignerOptions.Lifetime %v is longer than the key ring's TokenLifetime %v: its keys could be dropped before its tokens expire", s.lifetime, m.MaxTokenLifetime())
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Lifetime returns the lifetime of the tokens the Signer makes (for an
// OAuth expires_in).
func (s *Signer) Lifetime() time.Duration { return s.lifetime }

// Sign returns a signed access token (a compact JWS with typ at+jwt) for c.
// The Signer sets iss, iat and exp (now + Lifetime, or c.ExpiresAt if that
// is earlier), aud when c has none, and a random jti when c.ID is empty.
// c.Subject is required; c.Issuer, if set, must be the Signer's.
func (s *Signer) Sign(ctx context.Context, c Claims) (string, error) {
	return s.sign(ctx, &c, nil)
}

// SignWith is Sign with custom claims: extra must encode (encoding/json) as
// a JSON object, whose members join the registered claims at the top level
// of the payload. A member named like a registered claim (iss, sub, aud,
// exp, nbf, iat, jti, sid, scope, client_id) is an error. Read them back
// with VerifyWith, Extra or FromContextWith.
func SignWith[T any](ctx context.Context, s *Signer, c Claims, extra T) (string, error) {
	b, err := json.Marshal(extra)
	if err != nil {
		return "", fmt.Errorf("auth: custom claims of type %T do not encode as JSON", extra)
	}
	return s.sign(ctx, &c, b)
}

func (s *Signer) sign(ctx context.Context, c *Claims, extra []byte) (string, error) {
	if c.Subject == "" {
		return "", errors.New("auth: Claims.Subject is required")
	}
	if c.Issuer != "" && c.Issuer != s.issuer {
		return "", errors.New("auth: Claims.Issuer differs from the Signer's issuer")
	}
	c.Issuer = s.issuer
	if len(c.Audience) == 0 {
		c.Audience = s.audience
	}
	if len(c.Audience) == 0 {
		return "", errors.New("auth: no audience: set Claims.Audience or SignerOptions.Audience")
	}
	now := s.now().Truncate(time.Second)
	c.IssuedAt = now
	maxExp := now.Add(s.lifetime)
	switch {
	case c.ExpiresAt.IsZero():
		c.ExpiresAt = maxExp
	case !c.ExpiresAt.After(now):
		return "", errors.New("auth: Claims.ExpiresAt is not in the future")
	case c.ExpiresAt.After(maxExp):
		return "", fmt.Errorf("auth: Claims.ExpiresAt is beyond the Signer's lifetime of %v", s.lifetime)
	}
	if !c.NotBefore.IsZero() && !c.NotBefore.Before(c.ExpiresAt) {
		return "", errors.New("auth: Claims.NotBefore is not before ExpiresAt")
	}
	if c.ID == "" {
		c.ID = newJTI()
	}
	scope, err := checkScope(c.Scope)
	if err != nil {
		return "", err
	}
	c.Scope = scope

	key, err := s.keys.SigningKey(ctx)
	if err != nil {
		return "", err
	}
	if !key.CanSign() {
		return "", fmt.Errorf("%w: key %s has no private half", ErrInvalidKey, key.id)
	}
	payload, err := json.Marshal(toWire(c))
	if err != nil {
		return "", err
	}
	if extra != nil {
		if payload, err = mergeExtra(payload, extra); err != nil {
			return "", err
		}
	}
	signing := key.header + "." + b64(payload)
	sig, err := key.method.Sign(signing, key.private)
	if err != nil {
		return "", fmt.Errorf("auth: signing with key %s failed", key.id)
	}
	token := signing + "." + b64(sig)
	if len(token) > MaxTokenSize {
		return "", fmt.Errorf("auth: token of %d bytes is over MaxTokenSize (%d): Verifiers would refuse it", len(token), MaxTokenSize)
	}
	return token, nil
}

// newJTI returns 128 random bits, base64url.
func newJTI() string {
	var b [16]byte
	rand.Read(b[:])
	return b64(b[:])
}
