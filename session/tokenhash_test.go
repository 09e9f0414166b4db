package session_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stateless-go/stateless/session"
)

// TestTokenHash: a digest of the presented token, read without a store
// call; "" without a token (or with a malformed one); the same for every
// request with the token, another after Renew; neither the token nor the
// store key.
func TestTokenHash(t *testing.T) {
	sp := newSpy(nil)
	m := mustManager(t, sp, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hash", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, session.From(r.Context()).TokenHash())
	})
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Renew()
	})
	mux.Handle("/", app(m))
	h := m.Handler(mux)
	tok := login(t, h, "alice")
	sp.total()

	hash := func(token string) string {
		t.Helper()
		w := do(t, h, "GET", "/hash", token)
		if w.Code != http.StatusOK {
			t.Fatalf("GET /hash: %d", w.Code)
		}
		return w.Body.String()
	}
	h1, h2 := hash(tok), hash(tok)
	if n, ops := sp.total(); n != 0 {
		t.Errorf("TokenHash made %d store operations: %v", n, ops)
	}
	if h1 == "" || h1 != h2 || len(h1) != 43 {
		t.Fatalf("TokenHash of one token twice: %q, %q; want one 43-character digest", h1, h2)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	sum := sha256.Sum256(raw)
	storeKey := "session:" + base64.RawURLEncoding.EncodeToString(sum[:])
	if strings.Contains(h1, tok) || strings.Contains(storeKey, h1) {
		t.Errorf("TokenHash %q is the token or the store key", h1)
	}
	for _, bad := range []string{"", "x", tok[:42]} {
		if got := hash(bad); got != "" {
			t.Errorf("TokenHash with token %q = %q, want \"\"", bad, got)
		}
	}
	other := login(t, h, "bob")
	if hash(other) == h1 {
		t.Error("two sessions' tokens have one TokenHash")
	}
	w := do(t, h, "POST", "/renew", tok)
	renewed := tokenOf(t, w)
	if renewed == tok || hash(renewed) == h1 {
		t.Errorf("after Renew: token changed %v, TokenHash changed %v; want both", renewed != tok, hash(renewed) != h1)
	}
}
