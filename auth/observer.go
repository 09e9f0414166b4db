package auth

import (
	"context"
	"errors"

	"github.com/stateless-go/stateless/internal/hook"
)

// Event names what a Verifier or Revocations did, for an Observer. Its
// values are short lower-case words, fit for a metric label or a span name
// as they are.
type Event string

// The events an Observer sees.
const (
	// EventVerify (timed, Verifier): a token is checked, by Verify or the
	// middleware. done gets Verify's error (nil when the token is good);
	// Result names it.
	EventVerify Event = "verify"
	// EventCacheHit and EventCacheMiss (instant, Verifier): the
	// verified-token cache held the token, still under the key that
	// verified it, or did not (the signature is then checked). No event
	// when the cache is off or the token is too large to be cached.
	EventCacheHit  Event = "cache_hit"
	EventCacheMiss Event = "cache_miss"
	// EventRevoke (timed, Revocations): a revocation is issued
	// (RevokeSession, RevokeToken, RevokeSubject). done gets its error.
	EventRevoke Event = "revoke"
)

// Observer is told what a Verifier (VerifierOptions.Observer) or a
// Revocations (RevocationOptions.Observer) does. It is called when an
// event starts and returns the context the work continues with (a tracer
// returns one carrying a child span; return ctx unchanged otherwise) and a
// done func called exactly once with the outcome; done may be nil. Instant
// events call done at once with nil. It is the shape of store.Hook and
// session.Observer, so one function can count, time and trace.
//
// An Observer never sees a token, a claim or a key. It must be safe for
// concurrent use, and fast.
type Observer func(ctx context.Context, ev Event) (context.Context, func(err error))

// Result names the outcome of a verification for metrics: "ok",
// "missing", "too_large", "malformed", "signature", "unknown_key",
// "expired", "not_yet_valid", "claims", "revoked", "invalid" (another
// refusal), "revocation_unavailable", "keys_unavailable", "canceled" (the
// caller's context ended) or "error". It never contains anything of the
// token.
func Result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrTokenMissing):
		return "missing"
	case errors.Is(err, ErrTokenTooLarge):
		return "too_large"
	case errors.Is(err, ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, ErrTokenSignature):
		return "signature"
	case errors.Is(err, ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, ErrTokenExpired):
		return "expired"
	case errors.Is(err, ErrTokenNotYetValid):
		return "not_yet_valid"
	case errors.Is(err, ErrTokenClaims):
		return "claims"
	case errors.Is(err, ErrTokenRevoked):
		return "revoked"
	case errors.Is(err, ErrTokenInvalid):
		return "invalid"
	case errors.Is(err, ErrRevocationUnavailable):
		return "revocation_unavailable"
	case errors.Is(err, ErrKeysUnavailable):
		return "keys_unavailable"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "error"
}

// verify is verifyNow within EventVerify.
func (v *Verifier) verify(ctx context.Context, token string) (*Claims, error) {
	if v.observe == nil {
		return v.verifyNow(ctx, token)
	}
	c, done := hook.Start(v.observe, ctx, EventVerify)
	claims, err := v.verifyNow(c, token)
	if done != nil {
		done(err)
	}
	return claims, err
}

// event reports an instant event of v.
func (v *Verifier) event(ctx context.Context, ev Event) {
	hook.Instant(v.observe, ctx, ev, nil)
}

// revoke is revokeNow within EventRevoke.
func (r *Revocations) revoke(ctx context.Context, kind revKind, id string, e revEntry) error {
	if r.c.observe == nil {
		return r.revokeNow(ctx, kind, id, e)
	}
	c, done := hook.Start(r.c.observe, ctx, EventRevoke)
	err := r.revokeNow(c, kind, id, e)
	if done != nil {
		done(err)
	}
	return err
}
