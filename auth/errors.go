package auth

import (
	"errors"
	"fmt"
)

// The errors of this package; check them with errors.Is. Every refusal of a
// token that was present wraps ErrTokenInvalid, so one errors.Is tells a
// caller to answer 401; the finer sentinels say why. No error of this
// package contains a token, a claim value, a key or a secret.
var (
	// ErrTokenMissing: there was no token (an empty string, or a request
	// without Bearer credentials).
	ErrTokenMissing = errors.New("auth: token missing")

	// ErrTokenInvalid: the token was refused. Every error below up to
	// ErrTokenRevoked wraps it.
	ErrTokenInvalid = errors.New("auth: invalid token")

	// ErrTokenMalformed: not a compact JWS with a well-formed header and
	// payload, or a header the Verifier does not accept (wrong typ, crit).
	ErrTokenMalformed = fmt.Errorf("%w: malformed", ErrTokenInvalid)

	// ErrTokenTooLarge: the token is longer than MaxTokenSize; it was
	// refused before any parsing.
	ErrTokenTooLarge = fmt.Errorf("%w: longer than %d bytes", ErrTokenMalformed, MaxTokenSize)

	// ErrTokenSignature: the signature does not verify with the key the
	// token names, or the token's alg is not that key's algorithm.
	ErrTokenSignature = fmt.Errorf("%w: bad signature", ErrTokenInvalid)

	// ErrUnknownKey: the token names a key (kid) that the key source does
	// not hold, even after a refresh.
	ErrUnknownKey = fmt.Errorf("%w: unknown key", ErrTokenInvalid)

	// ErrTokenExpired: exp is past (beyond the leeway).
	ErrTokenExpired = fmt.Errorf("%w: expired", ErrTokenInvalid)

	// ErrTokenNotYetValid: iat or nbf is in the future (beyond the leeway).
	ErrTokenNotYetValid = fmt.Errorf("%w: not valid yet", ErrTokenInvalid)

	// ErrTokenClaims: a required claim (exp, iat, iss, aud, sub) is
	// missing or of the wrong type, or iss or aud is not the expected one.
	ErrTokenClaims = fmt.Errorf("%w: bad claims", ErrTokenInvalid)

	// ErrTokenRevoked: the RevocationChecker reported the token revoked.
	ErrTokenRevoked = fmt.Errorf("%w: revoked", ErrTokenInvalid)

	// ErrInsufficientScope: the token is valid but lacks a scope the
	// request needs (HTTP 403). It does not wrap ErrTokenInvalid.
	ErrInsufficientScope = errors.New("auth: insufficient scope")

	// ErrRevocationUnavailable: the RevocationChecker could not tell
	// whether the token was revoked and the Verifier fails closed (HTTP
	// 503). It does not wrap ErrTokenInvalid: the token may be fine.
	ErrRevocationUnavailable = errors.New("auth: revocation status unavailable")

	// ErrKeysUnavailable: the keys could not be loaded (the store or the
	// remote JWKS did not answer, or answered something unusable), so a
	// token could not be checked or signed (HTTP 503).
	ErrKeysUnavailable = errors.New("auth: keys unavailable")

	// ErrWrongSecret: the key ring in the store was encrypted under another
	// secret (or was altered): its private keys do not decrypt.
	ErrWrongSecret = errors.New("auth: key ring does not decrypt with this secret (wrong secret, or the record was altered)")

	// ErrInvalidKey: key material that cannot be used (bad JWK or PEM,
	// unsupported algorithm or curve, a symmetric key that is too short).
	ErrInvalidKey = errors.New("auth: invalid key")
)
