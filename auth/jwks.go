package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PublicKeySource gives the JWKS handler the keys to publish: a KeyRing
// (next, active and retired keys) or a KeySet.
type PublicKeySource interface {
	// PublicKeys returns public keys only; the handler skips any key that
	// has no public JWK (HS256).
	PublicKeys(ctx context.Context) ([]*Key, error)
}

// JWKSContentType is the content type of the JWKS response (RFC 7517 §8.5).
const JWKSContentType = "application/jwk-set+json"

// JWKSOptions configure JWKSHandler.
type JWKSOptions struct {
	// MaxAge is the Cache-Control max-age; 0 means the source's JWKSMaxAge
	// if it has one (a KeyRing does), else DefaultJWKSMaxAge.
	MaxAge time.Duration
}

// JWKSHandler serves src's public keys as a JWK set, for
// /.well-known/jwks.json: GET and HEAD only (405 with Allow otherwise),
// Content-Type application/jwk-set+json, Cache-Control public with
// max-age, a strong ETag (the SHA-256 of the body), and 304 Not Modified to
// a matching If-None-Match. It never serves private or symmetric material:
// it writes each key's public JWK only.
func JWKSHandler(src PublicKeySource, opts *JWKSOptions) http.Handler {
	h := &jwksHandler{src: src}
	if opts != nil {
		h.maxAge = opts.MaxAge
	}
	if h.maxAge <= 0 {
		h.maxAge = DefaultJWKSMaxAge
		if m, ok := src.(interface{ JWKSMaxAge() time.Duration }); ok {
			h.maxAge = m.JWKSMaxAge()
		}
	}
	h.cacheControl = "public, max-age=" + strconv.FormatInt(int64(h.maxAge/time.Second), 10)
	return h
}

type jwksHandler struct {
	src          PublicKeySource
	maxAge       time.Duration
	cacheControl string

	mu   sync.Mutex
	keys []*Key // the keys body was made of
	body []byte
	etag string
}

func (h *jwksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	keys, err := h.src.PublicKeys(r.Context())
	if err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "keys unavailable", http.StatusServiceUnavailable)
		return
	}
	body, etag := h.render(keys)
	hd := w.Header()
	hd.Set("Cache-Control", h.cacheControl)
	hd.Set("ETag", etag)
	if etagMatch(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Type", JWKSContentType)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// render returns the set's JSON and ETag, reusing them while the keys are
// the same ones.
func (h *jwksHandler) render(keys []*Key) ([]byte, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.body != nil && equalKeys(h.keys, keys) {
		return h.body, h.etag
	}
	var b bytes.Buffer
	b.WriteString(`{"keys":[`)
	n := 0
	for _, k := range keys {
		if k.jwk == nil {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.Write(k.jwk)
		n++
	}
	b.WriteString("]}")
	sum := sha256.Sum256(b.Bytes())
	h.keys, h.body, h.etag = keys, b.Bytes(), `"`+b64(sum[:16])+`"`
	return h.body, h.etag
}

func equalKeys(a, b []*Key) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].id != b[i].id || string(a[i].jwk) != string(b[i].jwk) {
			return false
		}
	}
	return true
}

// etagMatch implements If-None-Match (RFC 9110 §13.1.2): "*" or any listed
// tag equal to etag by weak comparison.
func etagMatch(values []string, etag string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}
