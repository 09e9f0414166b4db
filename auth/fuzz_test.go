package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stateless-go/stateless/store/memory"
)

// fuzzSeeds are tokens near the valid ones: good, tampered, none, confused.
func fuzzSeeds(t testing.TB, clock *fakeClock, ring *KeyRing) []string {
	signer := mustSigner(t, ring, clock)
	good := mustSign(t, signer, Claims{Subject: "alice", SessionID: "s", Scope: "read"})
	k, _ := ring.SigningKey(context.Background())
	parts := strings.Split(good, ".")
	return []string{
		good,
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		b64([]byte(`{"alg":"none","kid":"`+k.ID()+`","typ":"at+jwt"}`)) + "." + parts[1] + ".",
		b64([]byte(`{"alg":"HS256","kid":"`+k.ID()+`","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2],
		b64([]byte(`{"alg":"EdDSA","kid":"`+k.ID()+`","typ":"at+jwt","crit":["x"]}`)) + "." + parts[1] + "." + parts[2],
		b64([]byte(`{"alg":"EdDSA","kid":["x"],"typ":"at+jwt"}`)) + ".e30.",
		b64([]byte(`[]`)) + ".e30.",
		"", ".", "..", "...", "a.b.c", "eyJ.eyJ.eyJ",
	}
}

func fuzzRing(t testing.TB) (*fakeClock, *KeyRing) {
	clock := newFakeClock()
	return clock, mustRing(t, memory.New(nil), ringOpts(clock))
}

// FuzzVerify: any string gives claims or an error, never both, never a
// panic; a refusal is always "invalid" or "missing", never "unavailable"
// (the store here always answers).
func FuzzVerify(f *testing.F) {
	clock, ring := fuzzRing(f)
	for _, s := range fuzzSeeds(f, clock, ring) {
		f.Add(s)
	}
	v := mustVerifier(f, ring, clock, nil)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		switch {
		case err == nil && c == nil:
			t.Fatal("no claims and no error")
		case err != nil && c != nil:
			t.Fatalf("claims with an error: %v", err)
		case err != nil && !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenMissing):
			t.Fatalf("unexpected kind of error: %v", err)
		case err == nil && (c.Subject == "" || c.Issuer != testIssuer):
			t.Fatalf("accepted claims %+v", c)
		}
	})
}

// FuzzMiddleware: any Authorization header gives 200, 400 or 401, never a
// panic or a 5xx.
func FuzzMiddleware(f *testing.F) {
	clock, ring := fuzzRing(f)
	for _, s := range fuzzSeeds(f, clock, ring) {
		f.Add("Bearer " + s)
		f.Add("bearer  " + s + " ")
	}
	for _, s := range []string{"", "Bearer", "Bearer ", "Basic x", "Bearer a b", "Bearer ====", "\x00", "Bearer\t" + "x"} {
		f.Add(s)
	}
	v := mustVerifier(f, ring, clock, nil)
	handlers := []http.Handler{
		v.Middleware(nil)(okHandler),
		v.Middleware(&MiddlewareOptions{Optional: true})(RequireScope("read")(okHandler)),
	}
	f.Fuzz(func(t *testing.T, header string) {
		for _, h := range handlers {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header["Authorization"] = []string{header}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			switch w.Code {
			case 200, 400, 401, 403:
			default:
				t.Fatalf("status %d for Authorization %q", w.Code, header)
			}
		}
	})
}
