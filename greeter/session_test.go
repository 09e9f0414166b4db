package greeter_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

// call sends a request with an optional body and token (as the
// X-Session-Token header, or as the cookie when cookie is true).
func call(t testing.TB, h http.Handler, method, target, body, token string, cookie bool) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	if token != "" {
		if cookie {
			r.AddCookie(&http.Cookie{Name: "session", Value: token})
		} else {
			r.Header.Set("X-Session-Token", token)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type sessionReply struct {
	Name   string `json:"name"`
	Visits int64  `json:"visits"`
}

func decodeSession(t testing.TB, w *httptest.ResponseRecorder, status int) sessionReply {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %q", w.Code, status, w.Body)
	}
	var got sessionReply
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("body is not {name, visits}: %v", err)
	}
	return got
}

func loginAs(t testing.TB, h http.Handler, name string) string {
	t.Helper()
	w := call(t, h, "POST", "/session", fmt.Sprintf(`{"name":%q}`, name), "", false)
	got := decodeSession(t, w, http.StatusCreated)
	if got != (sessionReply{name, 0}) {
		t.Fatalf("login body %+v", got)
	}
	tok := w.Header().Get("X-Session-Token")
	var cookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == "session" {
			cookie = c
		}
	}
	if tok == "" || cookie == nil || cookie.Value != tok {
		t.Fatalf("login: token header %q, cookie %v", tok, cookie)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
		t.Errorf("cookie %v: want HttpOnly, SameSite=Lax, Path=/", cookie)
	}
	return tok
}

func TestSessionFlow(t *testing.T) {
	h := greeter.New(memory.New(nil), nil)
	tok := loginAs(t, h, "Alice")
	for i := int64(1); i <= 3; i++ {
		got := decodeSession(t, call(t, h, "POST", "/session/visits", "", tok, i%2 == 0), http.StatusOK)
		if got != (sessionReply{"Alice", i}) {
			t.Fatalf("visit %d: %+v", i, got)
		}
	}
	// GET and HEAD show the session without counting a visit.
	for range 1000 {
		if got := decodeSession(t, call(t, h, "GET", "/session", "", tok, false), 200); got.Visits != 3 {
			t.Fatalf("GET /session after 3 visits shows %d", got.Visits)
		}
	}
	if w := call(t, h, "HEAD", "/session", "", tok, true); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD /session: %d, body %q", w.Code, w.Body)
	}
	if got := decodeSession(t, call(t, h, "POST", "/session/visits", "", tok, false), 200); got.Visits != 4 {
		t.Errorf("visits after 1000 GETs and a HEAD = %d, want 4", got.Visits)
	}
	// /greet without a name greets the session's name; with one, the name.
	if m := checkJSON(t, call(t, h, "GET", "/greet", "", tok, true), 200); m["message"] != "Hello, Alice!" {
		t.Errorf("/greet with a session: %q", m["message"])
	}
	if m := checkJSON(t, call(t, h, "GET", "/greet?name=Bob", "", tok, true), 200); m["message"] != "Hello, Bob!" {
		t.Errorf("/greet?name=Bob with a session: %q", m["message"])
	}
	// Logging in again renews the token: the old one dies.
	w := call(t, h, "POST", "/session", `{"name":"Alicia"}`, tok, true)
	if decodeSession(t, w, 201) != (sessionReply{"Alicia", 0}) {
		t.Error("second login body")
	}
	fresh := w.Header().Get("X-Session-Token")
	if fresh == "" || fresh == tok {
		t.Fatalf("second login kept the token")
	}
	checkError(t, call(t, h, "GET", "/session", "", tok, true), http.StatusUnauthorized)
	// Logout: 204, cookie cleared, token dead.
	w = call(t, h, "DELETE", "/session", "", fresh, true)
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("logout: %d %q", w.Code, w.Body)
	}
	if sc := w.Header().Get("Set-Cookie"); !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("logout Set-Cookie %q does not clear the cookie", sc)
	}
	checkError(t, call(t, h, "GET", "/session", "", fresh, false), http.StatusUnauthorized)
	if m := checkJSON(t, call(t, h, "GET", "/greet", "", fresh, true), 200); m["message"] != "Hello, World!" {
		t.Errorf("/greet after logout: %q", m["message"])
	}
	// Logging out again is still a 204.
	if w := call(t, h, "DELETE", "/session", "", fresh, true); w.Code != http.StatusNoContent {
		t.Errorf("second logout: %d", w.Code)
	}
}

// A missing, malformed, forged or expired token: 401 on /session, World
// on /greet; never a 5xx.
func TestBadTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := greeter.SessionOptions()
		opts.IdleTimeout = time.Minute
		m, err := session.New(memory.New(nil), opts)
		if err != nil {
			t.Fatal(err)
		}
		h := greeter.New(memory.New(nil), &greeter.Options{Sessions: m})
		expired := loginAs(t, h, "Old")
		time.Sleep(2 * time.Minute)
		for name, tok := range map[string]string{
			"missing":   "",
			"malformed": "not-a-token",
			"forged":    strings.Repeat("A", 43),
			"expired":   expired,
			"long":      strings.Repeat("x", 5000),
		} {
			for _, cookie := range []bool{true, false} {
				w := call(t, h, "GET", "/session", "", tok, cookie)
				if msg := checkError(t, w, http.StatusUnauthorized); !strings.Contains(msg, "log in") {
					t.Errorf("%s token: error %q", name, msg)
				}
				if w.Header().Get("Www-Authenticate") == "" {
					t.Errorf("%s token: 401 without WWW-Authenticate", name)
				}
				if m := checkJSON(t, call(t, h, "GET", "/greet", "", tok, cookie), 200); m["message"] != "Hello, World!" {
					t.Errorf("%s token: /greet = %q", name, m["message"])
				}
			}
		}
	})
}

func TestLoginBadBodies(t *testing.T) {
	h := greeter.New(memory.New(nil), nil)
	for _, c := range []struct {
		body   string
		status int
		msg    string
	}{
		{"", 400, "name"},
		{"{}", 400, `"name"`},
		{`{"name":""}`, 400, "non-empty"},
		{`{"name":null}`, 400, "name"},
		{`{"name":42}`, 400, "JSON object expected"},
		{`{"name":"A","extra":1}`, 400, "unknown field"},
		{`{"name":"A"} {}`, 400, "after the JSON object"},
		{`["A"]`, 400, "JSON object expected"},
		{`{"name":"` + strings.Repeat("a", 257) + `"}`, 400, "longer than 256"},
		{"{\"name\":\"\xff\"}", 400, "UTF-8"},
		{`{"name":"` + strings.Repeat("a", 5000) + `"}`, 413, "larger than"},
		{`{"name":`, 400, "JSON object expected"},
	} {
		w := call(t, h, "POST", "/session", c.body, "", false)
		if msg := checkError(t, w, c.status); !strings.Contains(msg, c.msg) {
			t.Errorf("body %.40q: error %q, want it to mention %q", c.body, msg, c.msg)
		}
		if w.Header().Get("Set-Cookie") != "" {
			t.Errorf("body %.40q: a refused login set a cookie", c.body)
		}
	}
	// The name is kept exactly, JSON escapes and all.
	for _, name := range []string{`quote " and \ backslash`, "<script>", "émoji 🎉", strings.Repeat("é", 128)} {
		tok := loginAs(t, h, name)
		if got := decodeSession(t, call(t, h, "GET", "/session", "", tok, true), 200); got.Name != name {
			t.Errorf("name %q came back as %q", name, got.Name)
		}
	}
}

func TestSessionMethods(t *testing.T) {
	h := greeter.New(memory.New(nil), nil)
	w := call(t, h, "PUT", "/session", "", "", false)
	checkError(t, w, http.StatusMethodNotAllowed)
	if got := w.Header().Get("Allow"); got != "DELETE, GET, HEAD, POST" {
		t.Errorf("Allow = %q", got)
	}
}

// Cookie-backed state changes from another site are refused.
func TestCrossOriginLoginRefused(t *testing.T) {
	h := greeter.New(memory.New(nil), nil)
	r := httptest.NewRequest("POST", "/session", strings.NewReader(`{"name":"Mallory"}`))
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	checkError(t, w, http.StatusForbidden)
	if w.Header().Get("Set-Cookie") != "" {
		t.Error("a refused cross-origin login set a cookie")
	}
	// The same request from the same origin, or from a non-browser client,
	// goes through.
	r = httptest.NewRequest("POST", "/session", strings.NewReader(`{"name":"Alice"}`))
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	decodeSession(t, w, http.StatusCreated)
}

func TestSessionsWithoutAStore(t *testing.T) {
	h := greeter.New(nil, nil)
	checkError(t, call(t, h, "POST", "/session", `{"name":"A"}`, "", false), http.StatusServiceUnavailable)
	if m := checkJSON(t, call(t, h, "GET", "/greet", "", "", false), 200); m["message"] != "Hello, World!" {
		t.Errorf("/greet without a store: %q", m["message"])
	}
}

// The acceptance run in-process over the memory store: 2000 GET /session,
// 16 at a time, on one session, through two Greeter instances sharing the
// store. The final count equals the number of 2xx answers, no 5xx, at
// least 99% succeed, and every answer shows a count of its own.
func TestConcurrentVisitsOverTwoInstances(t *testing.T) {
	st := memory.New(nil)
	a := greeter.New(st, nil)
	b := greeter.New(st, nil)
	visitsExact(t, []http.Handler{a, b}, st)
}

func visitsExact(t *testing.T, instances []http.Handler, st store.Store) {
	tok := loginAs(t, instances[0], "Alice")
	const calls, parallel = 2000, 16
	var ok, non2xx atomic.Int64
	counts := make([]atomic.Int32, calls+1)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range parallel {
		wg.Go(func() {
			for i := next.Add(1); i <= calls; i = next.Add(1) {
				w := call(t, instances[int(i)%len(instances)], "POST", "/session/visits", "", tok, i%3 == 0)
				if w.Code/100 != 2 {
					non2xx.Add(1)
					if w.Code >= 500 {
						t.Errorf("call %d: %d %q", i, w.Code, w.Body)
					}
					continue
				}
				ok.Add(1)
				var got sessionReply
				if err := json.NewDecoder(w.Body).Decode(&got); err != nil || got.Visits < 1 || got.Visits > calls {
					t.Errorf("call %d: body %q", i, w.Body)
					continue
				}
				if counts[got.Visits].Add(1) != 1 {
					t.Errorf("two answers showed visit number %d", got.Visits)
				}
			}
		})
	}
	wg.Wait()
	// Read the count with a GET, which counts nothing.
	got := decodeSession(t, call(t, instances[1%len(instances)], "GET", "/session", "", tok, true), 200)
	if got.Visits != ok.Load() {
		t.Errorf("final visits %d, want %d (the number of 2xx answers)", got.Visits, ok.Load())
	}
	if ok.Load() < calls*99/100 {
		t.Errorf("%d of %d calls succeeded, want at least 99%%", ok.Load(), calls)
	}
	t.Logf("%d POST /session/visits, %d at a time over %d instances: %d 2xx, %d other, final visits %d",
		calls, parallel, len(instances), ok.Load(), non2xx.Load(), got.Visits)
}

func TestLoginRefusedByAllowLogin(t *testing.T) {
	var asked atomic.Int32
	h := greeter.New(memory.New(nil), &greeter.Options{
		AllowLogin: func(r *http.Request) (bool, time.Duration) {
			return asked.Add(1) <= 1, 1500 * time.Millisecond
		},
	})
	loginAs(t, h, "Alice")
	w := call(t, h, "POST", "/session", `{"name":"Bob"}`, "", false)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("second login: status %d, want 429; body %q", w.Code, w.Body)
	}
	if got := w.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2 (1.5 s rounded up)", got)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var body struct{ Error string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" {
		t.Errorf("body %q is not a JSON error (%v)", w.Body, err)
	}
	if w.Header().Get("Set-Cookie") != "" || w.Header().Get("X-Session-Token") != "" {
		t.Errorf("a refused login set a token: %v", w.Header())
	}
	if w := call(t, h, "GET", "/greet?name=Carol", "", "", false); w.Code != http.StatusOK {
		t.Errorf("/greet after a refused login: %d", w.Code)
	}
}

// failingBody is a request body that breaks after a few bytes, as a cut-off
// or malformed chunked upload does.
type failingBody struct{ reads int }

func (b *failingBody) Read(p []byte) (int, error) {
	if b.reads++; b.reads == 1 {
		return copy(p, `{"na`), nil
	}
	return 0, io.ErrUnexpectedEOF
}

// Before Session API v1, GET /session (under session.Retry) read the body
// itself and answered a broken one with 503 and an ERROR log line.
func TestBodyErrorsAreTheClients(t *testing.T) {
	var logs strings.Builder
	m, err := session.New(memory.New(nil), func() *session.Options {
		o := greeter.SessionOptions()
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		return o
	}())
	if err != nil {
		t.Fatal(err)
	}
	h := greeter.New(memory.New(nil), &greeter.Options{Sessions: m})
	tok := loginAs(t, h, "Alice")
	for _, c := range []struct {
		method, path string
		want         int
		bodyRead     bool
	}{
		{"GET", "/session", http.StatusOK, false},
		{"GET", "/greet", http.StatusOK, false},
		{"DELETE", "/session", http.StatusNoContent, false},
		{"POST", "/session", http.StatusBadRequest, true},
	} {
		body := &failingBody{}
		r := httptest.NewRequest(c.method, c.path, body)
		r.Header.Set("X-Session-Token", tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s %s with a broken body: %d %s, want %d", c.method, c.path, w.Code, w.Body, c.want)
		}
		if read := body.reads > 0; read != c.bodyRead {
			t.Errorf("%s %s: body read %v, want %v", c.method, c.path, read, c.bodyRead)
		}
	}
	if strings.Contains(logs.String(), "ERROR") {
		t.Errorf("a client's broken body was logged as an error:\n%s", logs.String())
	}
}
