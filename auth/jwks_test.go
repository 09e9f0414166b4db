package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/memory"
)

func get(t *testing.T, h http.Handler, method string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "/.well-known/jwks.json", nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestJWKSHandler(t *testing.T) {
	clock := newFakeClock()
	ring := mustRing(t, memory.New(nil), ringOpts(clock))
	h := ring.JWKSHandler()

	w := get(t, h, http.MethodGet)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q, want public, max-age=300", cc)
	}
	etag := w.Header().Get("ETag")
	if len(etag) < 10 || etag[0] != '"' || etag[len(etag)-1] != '"' || strings.HasPrefix(etag, "W/") {
		t.Errorf("ETag %q is not a strong entity tag", etag)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	k, _ := ring.SigningKey(context.Background())
	if got := set.Keys[0]; got["kid"] != k.ID() || got["alg"] != "EdDSA" || got["use"] != "sig" || got["kty"] != "OKP" {
		t.Errorf("key %v", got)
	}
	for name := range set.Keys[0] {
		if name == "d" || name == "k" || name == "p" {
			t.Errorf("private member %q published", name)
		}
	}

	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		w := get(t, h, http.MethodGet, "If-None-Match", inm)
		if w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("ETag") != etag {
			t.Errorf("If-None-Match %s: status %d, body %d bytes", inm, w.Code, w.Body.Len())
		}
	}
	if w := get(t, h, http.MethodGet, "If-None-Match", `"stale"`); w.Code != 200 || w.Body.Len() == 0 {
		t.Errorf("a stale If-None-Match: status %d", w.Code)
	}
	if w := get(t, h, http.MethodHead); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("ETag") != etag {
		t.Errorf("HEAD: status %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := get(t, h, http.MethodPost); w.Code != http.StatusMethodNotAllowed || !strings.Contains(w.Header().Get("Allow"), "GET") {
		t.Errorf("POST: status %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}

	// A rotation publishes the next key: new body, new ETag, old one no
	// longer matches.
	clock.Advance(time.Hour - ring.PublishAhead())
	ring.Refresh(context.Background())
	w = get(t, h, http.MethodGet, "If-None-Match", etag)
	if w.Code != 200 || w.Header().Get("ETag") == etag {
		t.Fatalf("after the next key: status %d, ETag %s", w.Code, w.Header().Get("ETag"))
	}
	json.Unmarshal(w.Body.Bytes(), &set)
	if len(set.Keys) != 2 {
		t.Errorf("%d keys published with a next key, want 2", len(set.Keys))
	}
}

func TestJWKSHandlerKeySet(t *testing.T) {
	hs, _ := NewHMACKey(randomBytes(32))
	ed := mustKey(t, EdDSA)
	h := JWKSHandler(mustKeySet(t, hs, ed), &JWKSOptions{MaxAge: time.Hour})
	w := get(t, h, http.MethodGet)
	if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=3600" {
		t.Errorf("Cache-Control %q", cc)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	json.Unmarshal(w.Body.Bytes(), &set)
	if len(set.Keys) != 1 || set.Keys[0]["kid"] != ed.ID() {
		t.Errorf("published %v; want only the Ed25519 key", set.Keys)
	}
}
