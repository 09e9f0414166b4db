package peer_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alexedwards/scs/v2/memstore"

	"github.com/stateless-go/stateless/bench/peer"
	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/store/memory"
)

// servers returns our Greeter and the scs peer, each over an in-process
// store, keyed by a short name.
func servers(tb testing.TB) map[string]http.Handler {
	ms := memstore.New()
	tb.Cleanup(ms.StopCleanup)
	st := memory.New(nil)
	tb.Cleanup(func() { st.Close() })
	return map[string]http.Handler{
		"ours": greeter.New(st, nil),
		"scs":  peer.New(peer.NewManager(ms), nil),
	}
}

type exchange struct {
	method, target, body string
	token                string // sent as the session cookie, or as X-Session-Token if header is set
	header               bool
}

func do(h http.Handler, x exchange) *httptest.ResponseRecorder {
	var r *http.Request
	if x.body != "" {
		r = httptest.NewRequest(x.method, x.target, strings.NewReader(x.body))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(x.method, x.target, nil)
	}
	switch {
	case x.token != "" && x.header:
		r.Header.Set("X-Session-Token", x.token)
	case x.token != "":
		r.AddCookie(&http.Cookie{Name: "session", Value: x.token})
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == "session" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", w.Header())
	return nil
}

// TestSameBehaviour runs one script of requests against both servers and
// checks that each answers every step with the same status and body, so a
// load test measures the same work on both.
func TestSameBehaviour(t *testing.T) {
	for name, h := range servers(t) {
		t.Run(name, func(t *testing.T) {
			expect := func(x exchange, status int, body string) *httptest.ResponseRecorder {
				t.Helper()
				w := do(h, x)
				if w.Code != status {
					t.Fatalf("%s %s: status %d, want %d; body %s", x.method, x.target, w.Code, status, w.Body)
				}
				if body != "" && w.Body.String() != body+"\n" {
					t.Fatalf("%s %s: body %q, want %q", x.method, x.target, w.Body, body)
				}
				if ct := w.Header().Get("Content-Type"); body != "" && ct != "application/json" {
					t.Fatalf("%s %s: Content-Type %q", x.method, x.target, ct)
				}
				return w
			}
			expect(exchange{method: "GET", target: "/greet?name=Alice"}, 200, `{"message":"Hello, Alice!"}`)
			expect(exchange{method: "GET", target: "/greet?name=%3Cb%3E"}, 200, `{"message":"Hello, \u003cb\u003e!"}`)
			expect(exchange{method: "GET", target: "/greet"}, 200, `{"message":"Hello, World!"}`)
			expect(exchange{method: "GET", target: "/session"}, 401, `{"error":"no live session; log in with POST /session"}`)
			expect(exchange{method: "POST", target: "/session", body: `{"nom":"x"}`}, 400, "")

			w := expect(exchange{method: "POST", target: "/session", body: `{"name":"Alice"}`}, 201, `{"name":"Alice","visits":0}`)
			c := sessionCookie(t, w)
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != 0 {
				t.Errorf("cookie attributes: %+v", c)
			}
			tok := c.Value
			if got := w.Header().Get("X-Session-Token"); got != tok {
				t.Fatalf("X-Session-Token %q, cookie %q", got, tok)
			}

			expect(exchange{method: "GET", target: "/greet", token: tok}, 200, `{"message":"Hello, Alice!"}`)
			expect(exchange{method: "GET", target: "/greet?name=Bob", token: tok}, 200, `{"message":"Hello, Bob!"}`)
			for i := 1; i <= 3; i++ {
				expect(exchange{method: "POST", target: "/session/visits", token: tok}, 200, fmt.Sprintf(`{"name":"Alice","visits":%d}`, i))
			}
			expect(exchange{method: "GET", target: "/session", token: tok, header: true}, 200, `{"name":"Alice","visits":3}`)

			// Logging in again renews the token; the old one dies.
			w = expect(exchange{method: "POST", target: "/session", body: `{"name":"Carol"}`, token: tok}, 201, `{"name":"Carol","visits":0}`)
			tok2 := sessionCookie(t, w).Value
			if tok2 == tok {
				t.Fatal("login kept the old token")
			}
			expect(exchange{method: "GET", target: "/session", token: tok}, 401, "")
			expect(exchange{method: "GET", target: "/session", token: tok2}, 200, `{"name":"Carol","visits":0}`)

			w = expect(exchange{method: "DELETE", target: "/session", token: tok2}, 204, "")
			if c := sessionCookie(t, w); c.MaxAge >= 0 || c.Value != "" {
				t.Errorf("logout cookie not cleared: %+v", c)
			}
			expect(exchange{method: "GET", target: "/session", token: tok2}, 401, "")
			expect(exchange{method: "GET", target: "/greet", token: tok2}, 200, `{"message":"Hello, World!"}`)
		})
	}
}

// The in-process benchmarks measure each server's handler alone (no
// network, no load generator): ns/op and allocs/op per request, over its
// in-memory store, with requests spread over many sessions as in the load
// test. Run: go test ./peer -run '^$' -bench . -benchmem
const benchSessions = 200

func login(b *testing.B, h http.Handler, n int) []string {
	toks := make([]string, n)
	for i := range toks {
		w := do(h, exchange{method: "POST", target: "/session", body: fmt.Sprintf(`{"name":"user-%d"}`, i)})
		if w.Code != http.StatusCreated {
			b.Fatalf("login: %d %s", w.Code, w.Body)
		}
		toks[i] = w.Header().Get("X-Session-Token")
	}
	return toks
}

func benchRoute(b *testing.B, target string, withSession bool) {
	method := http.MethodGet
	if m, path, ok := strings.Cut(target, " "); ok {
		method, target = m, path
	}
	for _, name := range []string{"ours", "scs"} {
		b.Run(name, func(b *testing.B) {
			h := servers(b)[name]
			var reqs []*http.Request
			if withSession {
				for _, tok := range login(b, h, benchSessions) {
					r := httptest.NewRequest(method, target, nil)
					r.AddCookie(&http.Cookie{Name: "session", Value: tok})
					reqs = append(reqs, r)
				}
			} else {
				reqs = append(reqs, httptest.NewRequest(method, target, nil))
			}
			w := &sink{header: http.Header{}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				clear(w.header)
				w.code = 0
				h.ServeHTTP(w, reqs[i%len(reqs)])
				if w.code != http.StatusOK {
					b.Fatalf("%s %s: status %d", method, target, w.code)
				}
				i++
			}
		})
	}
}

// BenchmarkBaseline: GET /greet?name=Alice, no session.
func BenchmarkBaseline(b *testing.B) { benchRoute(b, "/greet?name=Alice", false) }

// BenchmarkSessionRead: GET /greet with a session cookie.
func BenchmarkSessionRead(b *testing.B) { benchRoute(b, "/greet", true) }

// BenchmarkSessionRMW: POST /session/visits with a session cookie
// (visits+1).
func BenchmarkSessionRMW(b *testing.B) { benchRoute(b, "POST /session/visits", true) }

// sink is a reusable ResponseWriter, so that the benchmarks count the
// handlers' allocations and not a recorder's.
type sink struct {
	header http.Header
	code   int
}

func (s *sink) Header() http.Header { return s.header }

func (s *sink) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}

func (s *sink) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return len(p), nil
}
