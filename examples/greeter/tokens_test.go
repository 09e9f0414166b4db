package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stateless-go/stateless/internal/testenv"
)

// bearer sends one request with an access token and returns its status
// and body.
func bearer(t *testing.T, c *http.Client, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, body := fetch(t, c, req)
	return resp.StatusCode, body
}

// issueToken does POST /token with a session token and returns the
// access token.
func issueToken(t *testing.T, c *http.Client, base, session string) string {
	t.Helper()
	status, body := mustCall(t, c, http.MethodPost, base+"/token", "", session, byHeader)
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil || out.AccessToken == "" ||
		out.TokenType != "Bearer" || out.ExpiresIn != 600 {
		t.Fatalf("POST /token on %s: %d %q, want 200 with a Bearer token living 600 s", base, status, body)
	}
	return out.AccessToken
}

// TestTokensAcrossInstances: two instances over one shared store, given
// the same secret and no key, verify each other's access tokens; a logout
// on one makes the other refuse the session's tokens within a second.
func TestTokensAcrossInstances(t *testing.T) {
	backends := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"redis", func(t *testing.T) string { return testenv.RedisURL(t) }},
		{"memcache", func(t *testing.T) string { return "memcache://" + testenv.MemcacheAddrs(t, 1)[0] }},
		{"postgres", func(t *testing.T) string { return withTable(t, testenv.PostgresURL(t), "greeter_tok_"+randomHex(t, 6)) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			storeURL := b.url(t)
			secret := randomHex(t, 32)
			args := []string{"-store", storeURL, "-log-level", "warn", "-login-rate", "0", "-token-secret", secret}
			a, bb := start(t, hooks{}, args...), start(t, hooks{}, args...)
			c := newClient(t)

			session := login(t, c, a.url, "Alice")
			fromA := issueToken(t, c, a.url, session)
			fromB := issueToken(t, c, bb.url, session)
			for _, tc := range []struct{ where, token string }{{bb.url, fromA}, {a.url, fromB}, {a.url, fromA}} {
				if status, body := bearer(t, c, http.MethodGet, tc.where+"/greet", tc.token); status != http.StatusOK || body != `{"message":"Hello, Alice!"}`+"\n" {
					t.Fatalf("GET /greet with a Bearer token on %s: %d %q, want Hello, Alice!", tc.where, status, body)
				}
			}
			// A name in the query still wins.
			if status, body := bearer(t, c, http.MethodGet, bb.url+"/greet?name=Bob", fromA); status != http.StatusOK || !strings.Contains(body, "Bob") {
				t.Errorf("GET /greet?name=Bob with a token: %d %q", status, body)
			}

			// Logout on A: B refuses both tokens within a second.
			began := time.Now()
			if status, body := mustCall(t, c, http.MethodDelete, a.url+"/session", "", session, byHeader); status != http.StatusNoContent {
				t.Fatalf("DELETE /session on A: %d %q", status, body)
			}
			for _, tok := range []string{fromA, fromB} {
				for {
					status, body := bearer(t, c, http.MethodGet, bb.url+"/greet", tok)
					if status == http.StatusUnauthorized {
						break
					}
					if status != http.StatusOK || time.Since(began) > time.Second {
						t.Fatalf("GET /greet on B %v after logout on A: %d %q, want 401 within 1s", time.Since(began), status, body)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			t.Logf("%s: B refused the session's tokens %v after the logout on A began", b.name, time.Since(began).Round(time.Millisecond))

			stopServer(t, a)
			stopServer(t, bb)
			checkLogs(t, a, session, fromA, fromB, secret)
			checkLogs(t, bb, session, fromA, fromB, secret)
		})
	}
}

// TestTokensNeedASecretOnASharedStore: without -token-secret a shared
// store gets no token routes (and a warning says why); memory:// gets
// them with a secret of its own.
func TestTokensNeedASecretOnASharedStore(t *testing.T) {
	s := start(t, hooks{}, "-store", testenv.RedisURL(t), "-login-rate", "0")
	c := newClient(t)
	session := login(t, c, s.url, "Alice")
	if status, _ := mustCall(t, c, http.MethodPost, s.url+"/token", "", session, byHeader); status != http.StatusNotFound {
		t.Errorf("POST /token without a secret over redis: %d, want 404", status)
	}
	stopServer(t, s)
	if !strings.Contains(s.stderr.String(), "access tokens are off") {
		t.Errorf("no warning that tokens are off; log:\n%s", s.stderr.String())
	}

	m := start(t, hooks{}, "-login-rate", "0")
	session = login(t, c, m.url, "Bob")
	if status, body := bearer(t, c, http.MethodGet, m.url+"/greet", issueToken(t, c, m.url, session)); status != http.StatusOK || !strings.Contains(body, "Bob") {
		t.Errorf("memory://: GET /greet with a token: %d %q", status, body)
	}
	if status, _ := bearer(t, c, http.MethodGet, m.url+"/greet", "not-a-token"); status != http.StatusUnauthorized {
		t.Errorf("GET /greet with a bad token: %d, want 401", status)
	}
}

// TestTokenSecretChecked: a short secret is refused at start, without
// being repeated.
func TestTokenSecretChecked(t *testing.T) {
	line := checkOneLine(t, []string{"-token-secret", "short-s3cret"}, func(string) string { return "" })
	if strings.Contains(line, "short-s3cret") || !strings.Contains(line, "at least 32") {
		t.Errorf("short secret: %q", line)
	}
}
