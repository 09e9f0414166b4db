package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwksServer serves a JWK set of the given keys, counting requests.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
	body atomic.Pointer[[]byte]
}

func newJWKSServer(t *testing.T, keys ...*Key) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.Header().Set("Content-Type", JWKSContentType)
		w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...*Key) {
	var parts []string
	for _, k := range keys {
		j, _ := k.PublicJWK()
		parts = append(parts, string(j))
	}
	b := []byte(`{"keys":[` + strings.Join(parts, ",") + `]}`)
	s.body.Store(&b)
}

func TestRemoteKeysVerify(t *testing.T) {
	clock := newFakeClock()
	k := mustKey(t, EdDSA)
	srv := newJWKSServer(t, k)
	remote, err := NewRemoteKeys(srv.URL+"/jwks.json", &RemoteOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, remote, clock, nil)
	signer := mustSigner(t, mustKeySet(t, k), clock)
	for range 5 {
		if _, err := v.Verify(context.Background(), mustSign(t, signer, Claims{Subject: "alice"})); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d fetches for five tokens of a known key, want 1", n)
	}
}

// TestRemoteKeysUnknownKid: a token naming an unknown kid causes exactly one
// fetch, however many arrive at once, then ErrUnknownKey; more within
// MinRefreshInterval cause none.
func TestRemoteKeysUnknownKid(t *testing.T) {
	clock := newFakeClock()
	k := mustKey(t, EdDSA)
	srv := newJWKSServer(t, k)
	remote, _ := NewRemoteKeys(srv.URL, &RemoteOptions{Now: clock.Now})
	v := mustVerifier(t, remote, clock, nil)
	ctx := context.Background()
	if _, err := remote.VerificationKey(ctx, k.ID()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultRemoteMinRefreshInterval)

	stranger := mustKey(t, EdDSA)
	tok := mustSign(t, mustSigner(t, mustKeySet(t, stranger), clock), Claims{Subject: "alice"})
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrUnknownKey) {
				wrong.Add(1)
			}
		})
	}
	wg.Wait()
	if wrong.Load() > 0 {
		t.Errorf("%d verifications did not answer ErrUnknownKey", wrong.Load())
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (the first, then one refresh for the unknown kid)", n)
	}
	for range 20 {
		v.Verify(ctx, tok)
	}
	// Through the middleware: 401 invalid_token, and still no fetch.
	w := serve(t, v.Middleware(nil), "Bearer "+tok)
	checkProblem(t, w, http.StatusUnauthorized)
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="api", error="invalid_token"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("%d fetches after more unknown kids within MinRefreshInterval, want 2", n)
	}
	// Once the key is published, it is found after the interval.
	srv.setKeys(k, stranger)
	clock.Advance(DefaultRemoteMinRefreshInterval)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Errorf("after the key was published: %v", err)
	}
}

// TestRemoteKeysEviction: a key removed from the remote set is refused
// after the next fetch, including a token of it already cached.
func TestRemoteKeysEviction(t *testing.T) {
	clock := newFakeClock()
	k1, k2 := mustKey(t, EdDSA), mustKey(t, EdDSA)
	srv := newJWKSServer(t, k1)
	remote, _ := NewRemoteKeys(srv.URL, &RemoteOptions{Now: clock.Now})
	v := mustVerifier(t, remote, clock, nil)
	ctx := context.Background()
	old := mustSign(t, mustSigner(t, mustKeySet(t, k1), clock), Claims{Subject: "alice"})
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	srv.setKeys(k2)
	clock.Advance(DefaultRemoteMinRefreshInterval)
	// A token of the new key triggers the fetch that evicts k1.
	if _, err := v.Verify(ctx, mustSign(t, mustSigner(t, mustKeySet(t, k2), clock), Claims{Subject: "bob"})); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, old); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a cached token of an evicted key: err = %v, want ErrUnknownKey", err)
	}
	keys, _ := remote.PublicKeys(ctx)
	if len(keys) != 1 || keys[0].ID() != k2.ID() {
		t.Errorf("remote keys after eviction: %v", keys)
	}
}

// TestRemoteKeysBackgroundRefresh: past RefreshEvery (here max-age) the set
// is re-fetched without holding up the request that noticed.
func TestRemoteKeysBackgroundRefresh(t *testing.T) {
	clock := newFakeClock()
	k1, k2 := mustKey(t, EdDSA), mustKey(t, EdDSA)
	var hits atomic.Int64
	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write(*body.Load())
	}))
	defer srv.Close()
	set := func(k *Key) { j, _ := k.PublicJWK(); b := []byte(`{"keys":[` + string(j) + `]}`); body.Store(&b) }
	set(k1)
	remote, _ := NewRemoteKeys(srv.URL, &RemoteOptions{Now: clock.Now})
	ctx := context.Background()
	remote.VerificationKey(ctx, k1.ID())
	set(k2)
	clock.Advance(59 * time.Second)
	remote.VerificationKey(ctx, k1.ID())
	if hits.Load() != 1 {
		t.Fatalf("fetched again before max-age")
	}
	clock.Advance(2 * time.Second)
	if _, err := remote.VerificationKey(ctx, k1.ID()); err != nil {
		t.Errorf("the request that notices a stale set waits for nothing and uses it: %v", err)
	}
	for i := 0; hits.Load() < 2 && i < 5000; i++ {
		time.Sleep(time.Millisecond)
	}
	if hits.Load() != 2 {
		t.Fatalf("no background fetch after max-age")
	}
	for i := 0; i < 5000; i++ {
		if keys, _ := remote.PublicKeys(ctx); len(keys) == 1 && keys[0].ID() == k2.ID() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Error("the background fetch did not replace the set")
}

func TestRemoteKeysSlow(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	remote, _ := NewRemoteKeys(srv.URL, &RemoteOptions{Timeout: 50 * time.Millisecond})
	_, err := remote.VerificationKey(context.Background(), "kid")
	if !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow server: err = %v, want ErrKeysUnavailable wrapping a deadline", err)
	}
	// The middleware turns it into 503, not 401: the token may be fine.
	v := mustVerifier(t, remote, newFakeClock(), nil)
	w := serve(t, v.Middleware(nil), "Bearer "+craft(t, mustKey(t, EdDSA), goodHeader(mustKey(t, EdDSA)), map[string]any{"sub": "x"}))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("middleware with the JWKS unreachable: status %d, want 503", w.Code)
	}
}

func TestRemoteKeysOversized(t *testing.T) {
	k := mustKey(t, EdDSA)
	j, _ := k.PublicJWK()
	pad := strings.Repeat(" ", 2<<20)
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := `{"keys":[` + string(j) + `]` + pad + `}`
				if !chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				}
				w.Write([]byte(body[:100]))
				if chunked {
					w.(http.Flusher).Flush()
				}
				w.Write([]byte(body[100:]))
			}))
			defer srv.Close()
			remote, _ := NewRemoteKeys(srv.URL, nil)
			_, err := remote.VerificationKey(context.Background(), k.ID())
			if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "limit") {
				t.Errorf("a 2 MiB JWKS: err = %v, want one naming the limit", err)
			}
		})
	}
	// Just under the limit is fine.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := `{"keys":[` + string(j) + `]`
		w.Write([]byte(body + strings.Repeat(" ", DefaultRemoteMaxBytes-len(body)-1) + "}"))
	}))
	defer srv.Close()
	remote, _ := NewRemoteKeys(srv.URL, nil)
	if _, err := remote.VerificationKey(context.Background(), k.ID()); err != nil {
		t.Errorf("a JWKS of exactly MaxBytes: %v", err)
	}
}

// TestRemoteKeysUnusable: private, symmetric and foreign keys in a remote set
// are skipped; a set of nothing usable is an error; errors do not repeat
// the URL's query.
func TestRemoteKeysUnusable(t *testing.T) {
	k := mustKey(t, EdDSA)
	j, _ := k.PublicJWK()
	secret := b64(randomBytes(32))
	body := `{"keys":[{"kty":"oct","alg":"HS256","kid":"h","k":"` + secret + `"},{"kty":"RSA","n":"x","e":"AQAB"},` + string(j) + `]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("empty") != "" {
			w.Write([]byte(`{"keys":[{"kty":"oct","alg":"HS256","kid":"h","k":"` + secret + `"}]}`))
			return
		}
		if r.URL.Query().Get("status") != "" {
			http.Error(w, "secret body text", http.StatusInternalServerError)
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	remote, _ := NewRemoteKeys(srv.URL, nil)
	ctx := context.Background()
	if _, err := remote.VerificationKey(ctx, k.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.VerificationKey(ctx, "h"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("an HS256 key from a remote set: err = %v, want ErrUnknownKey", err)
	}
	for _, q := range []string{"?empty=1&token=hunter2", "?status=1&token=hunter2"} {
		remote, _ := NewRemoteKeys(srv.URL+q, nil)
		_, err := remote.VerificationKey(ctx, k.ID())
		if !errors.Is(err, ErrKeysUnavailable) {
			t.Errorf("%s: err = %v, want ErrKeysUnavailable", q, err)
		}
		assertNoLeak(t, err, "hunter2", secret, "secret body text")
	}
	for _, bad := range []string{"", "ftp://x/jwks", "/relative", "http://"} {
		if _, err := NewRemoteKeys(bad, nil); err == nil {
			t.Errorf("URL %q accepted", bad)
		}
	}
}
