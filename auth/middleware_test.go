package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// okHandler answers 200 with the subject it found in the context, or
// "anonymous".
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if c, ok := FromContext(r.Context()); ok {
		w.Write([]byte(c.Subject))
		return
	}
	w.Write([]byte("anonymous"))
})

func serve(t *testing.T, mw func(http.Handler) http.Handler, auth ...string) *httptest.ResponseRecorder {
	t.Helper()
	return serveRequest(mw, okHandler, authRequest(auth...))
}

func authRequest(auth ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/greet", nil)
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	return r
}

func serveRequest(mw func(http.Handler) http.Handler, h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	mw(h).ServeHTTP(w, r)
	return w
}

// checkProblem checks a problem+json error body.
func checkProblem(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d (body %s)", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	var p struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != status || p.Error == "" {
		t.Errorf("body %q: %v", w.Body, err)
	}
}

func TestMiddleware(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	tok := mustSign(t, f.signer, Claims{Subject: "alice", Scope: "read"})
	mw := f.v.Middleware(&MiddlewareOptions{Realm: "greeter"})

	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		w := serve(t, mw, scheme+" "+tok)
		if w.Code != 200 || w.Body.String() != "alice" {
			t.Errorf("%s: status %d, body %q", scheme, w.Code, w.Body)
		}
	}

	t.Run("missing", func(t *testing.T) {
		w := serve(t, mw)
		checkProblem(t, w, 401)
		if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="greeter"` {
			t.Errorf("WWW-Authenticate %q, want no error attribute (RFC 6750 §3.1)", got)
		}
	})
	t.Run("other scheme", func(t *testing.T) {
		w := serve(t, mw, "Basic YWxpY2U6c2VjcmV0")
		checkProblem(t, w, 401)
		if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="greeter"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
	})
	for name, auth := range map[string]string{
		"tampered":     "Bearer " + tamperSig(tok),
		"garbage":      "Bearer abc",
		"empty token":  "Bearer ",
		"no space":     "Bearer" + tok,
		"bad chars":    "Bearer " + tok + "!",
		"two tokens":   "Bearer " + tok + " " + tok,
		"quoted token": `Bearer "` + tok + `"`,
	} {
		t.Run(name, func(t *testing.T) {
			w := serve(t, mw, auth)
			checkProblem(t, w, 401)
			want := `Bearer realm="greeter", error="invalid_token"`
			if name == "no space" {
				want = `Bearer realm="greeter"` // "Bearer<token>" is another scheme
			}
			if got := w.Header().Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
			if strings.Contains(w.Header().Get("WWW-Authenticate"), "error_description") || strings.Contains(w.Body.String(), "signature") {
				t.Error("the response tells why the token failed")
			}
		})
	}
	t.Run("query and cookie are ignored", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/greet?access_token="+tok, nil)
		r.AddCookie(&http.Cookie{Name: "access_token", Value: tok})
		w := serveRequest(mw, okHandler, r)
		checkProblem(t, w, 401)
	})
	t.Run("two headers", func(t *testing.T) {
		w := serve(t, mw, "Bearer "+tok, "Bearer "+tok)
		checkProblem(t, w, 400)
		if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_request"`) {
			t.Errorf("WWW-Authenticate %q", got)
		}
	})
	t.Run("realm is quoted", func(t *testing.T) {
		w := serve(t, f.v.Middleware(&MiddlewareOptions{Realm: "a\"b\\c\r\n"}))
		if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="a\"b\\c"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
	})
}

func TestMiddlewareOptional(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	mw := f.v.Middleware(&MiddlewareOptions{Optional: true})
	if w := serve(t, mw); w.Code != 200 || w.Body.String() != "anonymous" {
		t.Errorf("anonymous: status %d, body %q", w.Code, w.Body)
	}
	if w := serve(t, mw, "Basic YWxpY2U6c2VjcmV0"); w.Code != 200 || w.Body.String() != "anonymous" {
		t.Errorf("another scheme: status %d, body %q", w.Code, w.Body)
	}
	if w := serve(t, mw, "Bearer "+mustSign(t, f.signer, Claims{Subject: "alice"})); w.Body.String() != "alice" {
		t.Errorf("with a token: body %q", w.Body)
	}
	// A bad token is refused, not served as anonymous.
	checkProblem(t, serve(t, mw, "Bearer abc.def.ghi"), 401)
	// RequireScope after an optional middleware: anonymous gets 401.
	w := serveRequest(mw, RequireScope("read")(okHandler), authRequest())
	checkProblem(t, w, 401)
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="api"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

func TestRequireScope(t *testing.T) {
	f := newVerifyFixture(t, EdDSA, nil)
	mw := f.v.Middleware(nil)
	h := RequireScope("read", "write")(okHandler)
	both := mustSign(t, f.signer, Claims{Subject: "alice", Scope: "write read admin"})
	one := mustSign(t, f.signer, Claims{Subject: "alice", Scope: "read"})
	if w := serveRequest(mw, h, authRequest("Bearer "+both)); w.Code != 200 {
		t.Errorf("both scopes: status %d", w.Code)
	}
	w := serveRequest(mw, h, authRequest("Bearer "+one))
	checkProblem(t, w, 403)
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="api", error="insufficient_scope", scope="read write"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	// "readwrite" is not "read".
	w = serveRequest(mw, RequireScope("read")(okHandler), authRequest("Bearer "+mustSign(t, f.signer, Claims{Subject: "a", Scope: "readwrite"})))
	checkProblem(t, w, 403)
	// Without the middleware at all: 401, never a 5xx.
	checkProblem(t, serveRequest(func(h http.Handler) http.Handler { return h }, h, authRequest()), 401)
}

func TestMiddlewareRevocation(t *testing.T) {
	rev := &fakeRevocation{}
	f := newVerifyFixture(t, EdDSA, &VerifierOptions{Revocation: rev})
	mw := f.v.Middleware(nil)
	tok := "Bearer " + mustSign(t, f.signer, Claims{Subject: "alice", SessionID: "s1"})
	if w := serve(t, mw, tok); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	rev.revoked.Store(true)
	w := serve(t, mw, tok)
	checkProblem(t, w, 401)
	if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("revoked: WWW-Authenticate %q", got)
	}
	rev.revoked.Store(false)
	down := errors.New("store down")
	rev.err.Store(&down)
	w = serve(t, mw, tok)
	checkProblem(t, w, 503)
	if w.Header().Get("Retry-After") == "" || w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("store down: Retry-After %q, WWW-Authenticate %q", w.Header().Get("Retry-After"), w.Header().Get("WWW-Authenticate"))
	}
	if strings.Contains(w.Body.String(), "store down") {
		t.Error("the 503 body tells the store's error")
	}
}

func TestContextHelpers(t *testing.T) {
	ctx := NewContext(t.Context(), &Claims{Subject: "alice"})
	if c, ok := FromContext(ctx); !ok || c.Subject != "alice" {
		t.Errorf("FromContext: %v %v", c, ok)
	}
	if _, ok := FromContext(t.Context()); ok {
		t.Error("FromContext of a bare context answered true")
	}
	if c, x, ok := FromContextWith[claimsExtra](ctx); !ok || c == nil || x.Role != "" {
		t.Errorf("FromContextWith: %v %v %v", c, x, ok)
	}

	f := newVerifyFixture(t, EdDSA, nil)
	tok, _ := SignWith(t.Context(), f.signer, Claims{Subject: "alice"}, claimsExtra{Role: "admin"})
	var got claimsExtra
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, got, _ = FromContextWith[claimsExtra](r.Context()) })
	serveRequest(f.v.Middleware(nil), h, authRequest("Bearer "+tok))
	if got.Role != "admin" {
		t.Errorf("custom claims through the middleware: %+v", got)
	}
}
