package greeter_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/store/memory"
)

// fakeTokens is greeter.Tokens with "tok:<subject>:<sid>" tokens and a
// Bearer header read by Authenticate.
type fakeTokens struct {
	mu        sync.Mutex
	revoked   map[string]bool // sid → revoked
	issueErr  error
	revokeErr error
}

type subjectKey struct{}

func (f *fakeTokens) Issue(ctx context.Context, subject, sid string) (string, time.Duration, error) {
	if f.issueErr != nil {
		return "", 0, f.issueErr
	}
	return "tok:" + subject + ":" + sid, 10 * time.Minute, nil
}

func (f *fakeTokens) RevokeSession(ctx context.Context, sid string) error {
	if f.revokeErr != nil {
		return f.revokeErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[sid] = true
	return nil
}

func (f *fakeTokens) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		parts := strings.Split(tok, ":")
		f.mu.Lock()
		bad := len(parts) != 3 || parts[0] != "tok" || f.revoked[parts[2]]
		f.mu.Unlock()
		if bad {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), subjectKey{}, parts[1])))
	})
}

func (f *fakeTokens) Subject(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(subjectKey{}).(string)
	return s, ok
}

func (f *fakeTokens) JWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"keys":[]}`)) })
}

func withBearer(t *testing.T, h http.Handler, target, token string) (int, string) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := &recorder{header: http.Header{}}
	h.ServeHTTP(w, r)
	return w.code, w.body.String()
}

type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(c int) {
	if r.code == 0 {
		r.code = c
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

func TestTokenRoutes(t *testing.T) {
	f := &fakeTokens{revoked: map[string]bool{}}
	h := greeter.New(memory.New(nil), &greeter.Options{Tokens: f})

	if w := call(t, h, http.MethodPost, "/token", "", "", false); w.Code != http.StatusUnauthorized {
		t.Errorf("POST /token without a session: %d, want 401", w.Code)
	}
	tok := loginAs(t, h, "Alice")
	w := call(t, h, http.MethodPost, "/token", "", tok, false)
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &out) != nil || out.TokenType != "Bearer" || out.ExpiresIn != 600 ||
		!strings.HasPrefix(out.AccessToken, "tok:Alice:") || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /token: %d %q %v", w.Code, w.Body, w.Header())
	}
	if code, body := withBearer(t, h, "/greet", out.AccessToken); code != http.StatusOK || body != `{"message":"Hello, Alice!"}`+"\n" {
		t.Errorf("GET /greet with the token: %d %q", code, body)
	}
	if w := call(t, h, http.MethodGet, "/.well-known/jwks.json", "", "", false); w.Code != http.StatusOK || w.Body.String() != `{"keys":[]}` {
		t.Errorf("GET /.well-known/jwks.json: %d %q", w.Code, w.Body)
	}
	if w := call(t, h, http.MethodGet, "/token", "", tok, false); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /token: %d, want 405", w.Code)
	}

	// A failed revocation keeps the session: the client can retry logout.
	f.revokeErr = errors.New("store down")
	if w := call(t, h, http.MethodDelete, "/session", "", tok, false); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("DELETE /session with revocation failing: %d, want 503 with Retry-After", w.Code)
	}
	if got := decodeSession(t, call(t, h, http.MethodGet, "/session", "", tok, false), http.StatusOK); got.Name != "Alice" {
		t.Errorf("the session after a failed logout: %+v", got)
	}
	f.revokeErr = nil
	if w := call(t, h, http.MethodDelete, "/session", "", tok, false); w.Code != http.StatusNoContent {
		t.Errorf("DELETE /session: %d", w.Code)
	}
	if code, _ := withBearer(t, h, "/greet", out.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("GET /greet with the token after logout: %d, want 401", code)
	}
	// A name in the query does not make a refused token acceptable.
	if code, _ := withBearer(t, h, "/greet?name=Mallory", out.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("GET /greet?name=Mallory with the token after logout: %d, want 401", code)
	}
	if code, body := withBearer(t, h, "/greet?name=Mallory", "not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("GET /greet?name=Mallory with a bad token: %d %q, want 401", code, body)
	}

	// Signing fails: 503, the error logged, not shown.
	f.issueErr = errors.New("keys unavailable: secret xyz")
	tok = loginAs(t, h, "Bob")
	if w := call(t, h, http.MethodPost, "/token", "", tok, false); w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "xyz") {
		t.Errorf("POST /token with signing failing: %d %q, want 503 without the error", w.Code, w.Body)
	}
}

func TestNoTokenRoutesWithoutTokens(t *testing.T) {
	h := greeter.New(memory.New(nil), nil)
	for _, p := range []string{"/token", "/.well-known/jwks.json"} {
		if w := call(t, h, http.MethodGet, p, "", "", false); w.Code != http.StatusNotFound {
			t.Errorf("GET %s without Options.Tokens: %d, want 404", p, w.Code)
		}
	}
}

// TestGreetWithAnotherScheme: an Authorization header the token middleware
// does not take (Basic) is no token: GET /greet greets the session, as
// without the header.
func TestGreetWithAnotherScheme(t *testing.T) {
	f := &fakeTokens{revoked: map[string]bool{}}
	h := greeter.New(memory.New(nil), &greeter.Options{Tokens: f})
	tok := loginAs(t, h, "Alice")
	r := httptest.NewRequest(http.MethodGet, "/greet", nil)
	r.Header.Set("X-Session-Token", tok)
	r.Header.Set("Authorization", "Basic YWxpY2U6c2VjcmV0")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK || w.Body.String() != `{"message":"Hello, Alice!"}`+"\n" {
		t.Errorf("GET /greet with a session and a Basic header: %d %q, want the session's greeting", w.Code, w.Body)
	}
	// A Bearer token with a name in the query: the token is checked, the
	// name greeted.
	sub := "tok:Bob:sid-1"
	if code, body := withBearer(t, h, "/greet?name=Carol", sub); code != http.StatusOK || body != `{"message":"Hello, Carol!"}`+"\n" {
		t.Errorf("GET /greet?name=Carol with a good token: %d %q", code, body)
	}
	if code, body := withBearer(t, h, "/greet", sub); code != http.StatusOK || body != `{"message":"Hello, Bob!"}`+"\n" {
		t.Errorf("GET /greet with a good token: %d %q", code, body)
	}
}
