package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// RevocationChecker reports whether a verified token was revoked. Revoked returns
// (true, nil) for a revoked token, (false, nil) for a live one, and a non-nil error when it cannot
// tell (the store is unreachable and its local view is stale); the Verifier then refuses the token
// (fail closed) unless Options.RevocationFailOpen is set.
type RevocationChecker interface {
	Revoked(ctx context.Context, t RevocationSubject) (bool, error)
}

// RevocationSubject is what revocation looks at in a verified token.
type RevocationSubject struct {
	Subject  string    // sub
	SID      string    // sid: the session's stable ID ("" if none)
	JTI      string    // jti
	IssuedAt time.Time // iat

	// pre, when set, holds the hashes Revocations looks the IDs up by,
	// computed once per cached token rather than on every hit.
	pre *revPre
}

// VerificationKeys is where a Verifier finds the key a token names: a
// KeyRing, a KeySet or a RemoteKeys.
type VerificationKeys interface {
	// VerificationKey returns the key whose ID is kid, or an error wrapping
	// ErrUnknownKey if there is none (after whatever refresh the source
	// does), or ErrKeysUnavailable if the source could not tell.
	VerificationKey(ctx context.Context, kid string) (*Key, error)
}

// The bounds of VerifierOptions.
const (
	DefaultLeeway    = 5 * time.Second
	MaxLeeway        = 30 * time.Second
	DefaultCacheSize = 10_000
	// DefaultMaxTokenLifetime is the longest token life (exp - iat) a
	// Verifier accepts, and a KeyRing plans for, unless told otherwise.
	DefaultMaxTokenLifetime = 10 * time.Minute
	// MaxCachedTokenSize is the longest token the cache keeps: with
	// DefaultCacheSize entries, each holding a token of at most this size,
	// its payload and its claims, the cache stays under about 100 MiB;
	// tokens of this package are a few hundred bytes, so 10,000 of them
	// take a few MiB.
	MaxCachedTokenSize = 4 << 10
)

// VerifierOptions configure a Verifier. Issuer and Audience are required.
type VerifierOptions struct {
	// Issuer is the iss a token must carry.
	Issuer string
	// Audience is this service's audience: the token's aud must contain it.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat; 0 means
	// DefaultLeeway (5 s). More than MaxLeeway (30 s), or negative, is an
	// error.
	Leeway time.Duration
	// MaxTokenLifetime is the longest life (exp - iat) of a token
	// accepted; longer-lived tokens are refused with ErrTokenClaims. 0
	// means the key source's MaxTokenLifetime if it has one (a KeyRing
	// does), else DefaultMaxTokenLifetime. Revocation entries must live at
	// least this long (RevocationOptions.MaxTokenLifetime), or a revoked
	// token could come back once its entry is gone.
	MaxTokenLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Revocation, when set, is asked about every token after its signature
	// and claims pass, on cache hits too.
	Revocation RevocationChecker
	// RevocationFailOpen accepts a token when Revocation cannot tell
	// whether it was revoked. The default refuses it with
	// ErrRevocationUnavailable (HTTP 503 from the middleware).
	RevocationFailOpen bool
	// CacheSize bounds the verified-token cache, in entries; 0 means
	// DefaultCacheSize, a negative value disables the cache.
	CacheSize int
	// Observer, if set, is told of each verification and of cache hits
	// and misses (see Observer).
	Observer Observer
}

// Verifier checks access tokens: size, header (typ at+jwt, a kid, no crit),
// the signature with the named key and that key's algorithm only, the
// claims (exp, iat, iss, aud, sub required; nbf if present), then
// revocation. It is safe for concurrent use.
type Verifier struct {
	keys       VerificationKeys
	issuer     string
	audience   string
	leeway     time.Duration
	maxLife    time.Duration
	now        func() time.Time
	revocation RevocationChecker
	failOpen   bool
	cache      *tokenCache
	parsers    map[Algorithm]*jwt.Parser
	observe    Observer
}

// NewVerifier returns a Verifier over keys.
func NewVerifier(keys VerificationKeys, opts *VerifierOptions) (*Verifier, error) {
	if keys == nil {
		return nil, errors.New("auth: NewVerifier needs verification keys")
	}
	if opts == nil || opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("auth: VerifierOptions.Issuer and Audience are required")
	}
	v := &Verifier{
		keys:       keys,
		issuer:     opts.Issuer,
		audience:   opts.Audience,
		leeway:     opts.Leeway,
		maxLife:    opts.MaxTokenLifetime,
		now:        opts.Now,
		revocation: opts.Revocation,
		failOpen:   opts.RevocationFailOpen,
		observe:    opts.Observer,
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0 || v.leeway > MaxLeeway:
		return nil, fmt.Errorf("auth: VerifierOptions.Leeway %v is outside (0, %v]", v.leeway, MaxLeeway)
	}
	if v.maxLife == 0 {
		v.maxLife = DefaultMaxTokenLifetime
		if m, ok := keys.(interface{ MaxTokenLifetime() time.Duration }); ok {
			v.maxLife = m.MaxTokenLifetime()
		}
	}
	if v.maxLife < 0 {
		return nil, fmt.Errorf("auth: VerifierOptions.MaxTokenLifetime %v is negative", v.maxLife)
	}
	if v.now == nil {
		v.now = time.Now
	}
	switch size := opts.CacheSize; {
	case size == 0:
		v.cache = newTokenCache(DefaultCacheSize)
	case size > 0:
		v.cache = newTokenCache(size)
	}
	// One parser per algorithm, each accepting only that algorithm: the key
	// a token names picks the parser, so the token's own alg never widens
	// what is accepted.
	v.parsers = make(map[Algorithm]*jwt.Parser, 3)
	for _, alg := range []Algorithm{EdDSA, ES256, HS256} {
		v.parsers[alg] = jwt.NewParser(
			jwt.WithValidMethods([]string{string(alg)}),
			jwt.WithStrictDecoding(),
			jwt.WithLeeway(v.leeway),
			jwt.WithTimeFunc(v.now),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(v.issuer),
			jwt.WithAudience(v.audience),
		)
	}
	return v, nil
}

// Verify checks token and returns its claims, or nil and an error: one
// wrapping ErrTokenInvalid (or ErrTokenMissing for "") when the token is
// refused, ErrRevocationUnavailable or ErrKeysUnavailable when it could not
// be checked, or ctx's error.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	c, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	return c.clone(), nil
}

// VerifyWith is Verify that also decodes the token's custom claims into a
// T (see Extra). On any failure it returns nil, T's zero value and the
// error.
func VerifyWith[T any](ctx context.Context, v *Verifier, token string) (*Claims, T, error) {
	var zero T
	c, err := v.Verify(ctx, token)
	if err != nil {
		return nil, zero, err
	}
	t, err := Extra[T](c)
	if err != nil {
		return nil, zero, err
	}
	return c, t, nil
}

// Forget drops token from the verified-token cache, if it is there. The
// cache asks the RevocationChecker on every hit, so revocation does not
// need it; it frees the entry early.
func (v *Verifier) Forget(token string) {
	if v.cache != nil {
		v.cache.remove(v.cache.key(token))
	}
}

// verifyNow returns the cached (shared, read-only) claims of a good
// token; verify is it within the Observer.
func (v *Verifier) verifyNow(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, ErrTokenMissing
	}
	if len(token) > MaxTokenSize {
		return nil, ErrTokenTooLarge
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := v.now()
	var h uint64
	if v.cache != nil && len(token) <= MaxCachedTokenSize {
		h = v.cache.key(token)
		if e := v.cache.get(h, token, now); e != nil {
			// The key must still be the one that verified the token: a key
			// dropped from a remote set takes its cached tokens with it.
			if k, err := v.keys.VerificationKey(ctx, e.kid); err == nil && k == e.key {
				v.event(ctx, EventCacheHit)
				if err := v.checkRevokedSubject(ctx, e.rs); err != nil {
					if errors.Is(err, ErrTokenRevoked) {
						v.cache.remove(h)
					}
					return nil, err
				}
				return e.claims, nil
			}
			v.cache.remove(h)
		}
		v.event(ctx, EventCacheMiss)
	}

	hdr, err := parseHeader(token)
	if err != nil {
		return nil, err
	}
	key, err := v.keys.VerificationKey(ctx, hdr.kid)
	if err != nil {
		return nil, err
	}
	if string(key.alg) != hdr.alg {
		return nil, fmt.Errorf("%w: the token's alg is not its key's algorithm", ErrTokenSignature)
	}
	parser := v.parsers[key.alg]
	if parser == nil {
		return nil, fmt.Errorf("%w: key algorithm not supported", ErrTokenSignature)
	}
	var w wireClaims
	if _, err := parser.ParseWithClaims(token, &w, func(*jwt.Token) (any, error) { return key.public, nil }); err != nil {
		return nil, mapJWTError(err)
	}
	if w.Subject == "" {
		return nil, fmt.Errorf("%w: sub is required", ErrTokenClaims)
	}
	if w.IssuedAt == nil {
		return nil, fmt.Errorf("%w: iat is required", ErrTokenClaims)
	}
	if w.ExpiresAt == nil || !w.ExpiresAt.After(w.IssuedAt.Time) {
		return nil, fmt.Errorf("%w: exp is not after iat", ErrTokenClaims)
	}
	if w.ExpiresAt.Sub(w.IssuedAt.Time) > v.maxLife {
		return nil, fmt.Errorf("%w: lifetime (exp - iat) is over %v", ErrTokenClaims, v.maxLife)
	}
	c := w.claims()
	if err := v.checkRevoked(ctx, c); err != nil {
		return nil, err
	}
	if v.cache != nil && len(token) <= MaxCachedTokenSize {
		rs := c.revocationSubject()
		rs.pre = newRevPre(&rs)
		v.cache.put(h, &cacheEntry{token: strings.Clone(token), claims: c, key: key, kid: hdr.kid, expires: c.ExpiresAt.UnixNano(), rs: rs}, now)
	}
	return c, nil
}

func (v *Verifier) checkRevoked(ctx context.Context, c *Claims) error {
	if v.revocation == nil {
		return nil
	}
	return v.checkRevokedSubject(ctx, c.revocationSubject())
}

func (v *Verifier) checkRevokedSubject(ctx context.Context, rs RevocationSubject) error {
	if v.revocation == nil {
		return nil
	}
	revoked, err := v.revocation.Revoked(ctx, rs)
	switch {
	case err != nil && v.failOpen:
		return nil
	case err != nil:
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if errors.Is(err, ErrRevocationUnavailable) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrRevocationUnavailable, err)
	case revoked:
		return ErrTokenRevoked
	}
	return nil
}

// mapJWTError turns jwt's error into ours without its text, which may
// describe the token's content.
func mapJWTError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrTokenMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrTokenSignature
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience),
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ErrTokenClaims
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrTokenNotYetValid
	}
	return ErrTokenClaims
}

type header struct {
	alg, kid string
}

// maxHeaderMembers bounds the members a header may have.
const maxHeaderMembers = 16

// parseHeader reads the JOSE header: the kid picks the key, typ must be
// at+jwt, and crit (extensions this package does not understand) is
// refused. Member names are matched exactly, as jwt reads them.
func parseHeader(token string) (header, error) {
	seg, _, ok := strings.Cut(token, ".")
	if !ok {
		return header{}, fmt.Errorf("%w: not a compact JWS", ErrTokenMalformed)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return header{}, fmt.Errorf("%w: header is not base64url", ErrTokenMalformed)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return header{}, fmt.Errorf("%w: header is not a JSON object", ErrTokenMalformed)
	}
	if len(members) > maxHeaderMembers {
		return header{}, fmt.Errorf("%w: header has too many members", ErrTokenMalformed)
	}
	if _, ok := members["crit"]; ok {
		return header{}, fmt.Errorf("%w: header has crit extensions", ErrTokenMalformed)
	}
	var h header
	var typ string
	if err := headerString(members, "alg", &h.alg); err != nil {
		return header{}, err
	}
	if err := headerString(members, "kid", &h.kid); err != nil {
		return header{}, err
	}
	if err := headerString(members, "typ", &typ); err != nil {
		return header{}, err
	}
	if !strings.EqualFold(typ, TokenType) && !strings.EqualFold(typ, "application/"+TokenType) {
		return header{}, fmt.Errorf("%w: header typ is not %s", ErrTokenMalformed, TokenType)
	}
	if h.alg == "" || strings.EqualFold(h.alg, "none") {
		return header{}, fmt.Errorf("%w: header has no signature algorithm", ErrTokenSignature)
	}
	if h.kid == "" || len(h.kid) > maxKIDLen {
		return header{}, fmt.Errorf("%w: header has no usable kid", ErrTokenMalformed)
	}
	return h, nil
}

func headerString(members map[string]json.RawMessage, name string, dst *string) error {
	v, ok := members[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("%w: header %s is not a string", ErrTokenMalformed, name)
	}
	return nil
}
