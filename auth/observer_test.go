package auth

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/memory"
)

type authRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *authRecorder) observe(ctx context.Context, ev Event) (context.Context, func(error)) {
	return ctx, func(err error) {
		r.mu.Lock()
		r.events = append(r.events, string(ev)+":"+Result(err))
		r.mu.Unlock()
	}
}

func (r *authRecorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.events, " ")
	r.events = nil
	return s
}

func TestObserver(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	k := mustKey(t, EdDSA)
	ks := mustKeySet(t, k)
	rec := &authRecorder{}
	revs := revNew(t, memory.New(nil), &RevocationOptions{Observer: rec.observe})
	v := mustVerifier(t, ks, clock, &VerifierOptions{Observer: rec.observe, Revocation: revs})
	signer := mustSign(t, mustSigner(t, ks, clock), Claims{Subject: "alice", SessionID: "s1"})

	steps := []struct {
		do   func()
		want string
	}{
		{func() { v.Verify(ctx, signer) }, "cache_miss:ok verify:ok"},
		{func() { v.Verify(ctx, signer) }, "cache_hit:ok verify:ok"},
		{func() { v.Verify(ctx, "") }, "verify:missing"},
		{func() { v.Verify(ctx, "x.y.z") }, "cache_miss:ok verify:malformed"},
		{func() { v.Verify(ctx, tamperSig(signer)) }, "cache_miss:ok verify:signature"},
		{func() { revs.RevokeSession(ctx, "s1") }, "revoke:ok"},
		{func() { v.Verify(ctx, signer) }, "cache_hit:ok verify:revoked"},
		{func() { clock.Advance(24 * time.Hour); v.Verify(ctx, signer) }, "cache_miss:ok verify:expired"},
	}
	for i, s := range steps {
		s.do()
		if got := rec.take(); got != s.want {
			t.Errorf("step %d: %q; want %q", i, got, s.want)
		}
	}
}

func TestResultNames(t *testing.T) {
	for err, want := range map[error]string{
		nil: "ok", ErrTokenTooLarge: "too_large", ErrUnknownKey: "unknown_key", ErrTokenNotYetValid: "not_yet_valid",
		ErrTokenClaims: "claims", ErrRevocationUnavailable: "revocation_unavailable", ErrKeysUnavailable: "keys_unavailable",
		context.Canceled: "canceled", ErrInvalidKey: "error",
	} {
		if got := Result(err); got != want {
			t.Errorf("Result(%v) = %q; want %q", err, got, want)
		}
	}
}
