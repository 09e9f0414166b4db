package session_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

func TestLoginSetsCookieAndHeader(t *testing.T) {
	h := app(mustManager(t, memory.New(nil), &session.Options{Transport: session.CookieAndHeaderTransport, EchoToken: true}))
	w := do(t, h, "POST", "/login?user=alice", "")
	tok := tokenOf(t, w)
	if w.Header().Get("X-Session-Token") != tok {
		t.Errorf("EchoToken: X-Session-Token %q, want the cookie's token", w.Header().Get("X-Session-Token"))
	}
	if len(tok) != 43 {
		t.Errorf("token %q has %d characters, want 43 (256 bits, base64url)", tok, len(tok))
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != 32 {
		t.Errorf("token does not decode to 32 bytes: %v", err)
	}
	sc := w.Header().Get("Set-Cookie")
	for _, want := range []string{"session=" + tok, "Path=/", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	if strings.Contains(sc, "Max-Age") || strings.Contains(sc, "Expires") {
		t.Errorf("default cookie %q should be a browser-session cookie", sc)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("a response carrying a token has Cache-Control %q, want no-store", cc)
	}
	if u, code := whoami(t, h, tok); code != 200 || u != "alice" {
		t.Errorf("whoami with the cookie = %d %q", code, u)
	}
	// The header works without a cookie.
	r := httptest.NewRequest("GET", "/whoami", nil)
	r.Header.Set("X-Session-Token", tok)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || w.Body.String() != "alice" {
		t.Errorf("whoami with the header = %d %q", w.Code, w.Body)
	}
	if v := w.Header().Get("Vary"); !strings.Contains(v, "Cookie") || !strings.Contains(v, "X-Session-Token") {
		t.Errorf("Vary = %q, want Cookie and X-Session-Token", v)
	}
}

// A copy of the store must yield no usable token: keys are hashes.
func TestStoreNeverHoldsRawToken(t *testing.T) {
	sp := newSpy(nil)
	h := app(mustManager(t, sp, nil))
	var tokens []string
	for i := range 20 {
		tok := login(t, h, fmt.Sprint("user", i))
		tokens = append(tokens, tok)
		whoami(t, h, tok)
	}
	// Renewal writes too.
	r := httptest.NewRequest("POST", "/login?user=again", nil)
	r.AddCookie(&http.Cookie{Name: "session", Value: tokens[0]})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	tokens = append(tokens, tokenOf(t, w))

	sp.mu.Lock()
	defer sp.mu.Unlock()
	if len(sp.written) == 0 {
		t.Fatal("nothing was written")
	}
	for _, tok := range tokens {
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		forms := []string{tok, string(raw), hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw)}
		for _, s := range sp.written {
			for _, f := range forms {
				if strings.Contains(s, f) {
					t.Fatalf("the store holds a token (in %q)", s)
				}
			}
		}
	}
	// And the key is the hash the docs promise, under the default prefix.
	raw, _ := base64.RawURLEncoding.DecodeString(tokens[1])
	sum := sha256.Sum256(raw)
	want := "session:" + base64.RawURLEncoding.EncodeToString(sum[:])
	found := false
	for _, s := range sp.written {
		found = found || s == want
	}
	if !found {
		t.Errorf("no store key %q among those written", want)
	}
}

func TestRequestThatDoesNotUseItsSessionCostsNothing(t *testing.T) {
	sp := newSpy(nil)
	h := app(mustManager(t, sp, nil))
	tok := login(t, h, "alice")
	sp.total()
	if w := do(t, h, "GET", "/nothing", tok); w.Code != 200 || w.Header().Get("Vary") != "" {
		t.Fatalf("GET /nothing = %d, Vary %q", w.Code, w.Header().Get("Vary"))
	}
	if n, ops := sp.total(); n != 0 {
		t.Errorf("a request that never looked at its session made %d store operations: %v", n, ops)
	}
}

func TestMalformedTokensCostNothing(t *testing.T) {
	sp := newSpy(nil)
	h := app(mustManager(t, sp, nil))
	tok := login(t, h, "alice")
	sp.total()
	for _, bad := range []string{
		"x", "", tok[:42], tok + "A", strings.ToUpper(tok[:1]) + "!" + tok[2:], tok[:42] + "\n",
		strings.Repeat("A", 42) + "B", // non-canonical: padding bits set
		"../../etc/passwd", strings.Repeat("é", 22),
	} {
		r := httptest.NewRequest("GET", "/whoami", nil)
		r.Header["Cookie"] = []string{"session=" + bad}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", bad, w.Code)
		}
	}
	if n, ops := sp.total(); n != 0 {
		t.Errorf("malformed tokens caused %d store operations: %v", n, ops)
	}
}

func TestForgedTokenIsNoSession(t *testing.T) {
	h := app(mustManager(t, memory.New(nil), nil))
	login(t, h, "alice")
	forged := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if _, code := whoami(t, h, forged); code != http.StatusUnauthorized {
		t.Errorf("forged token: %d, want 401", code)
	}
}

// A read-only request inside the touch interval costs exactly one store
// operation; past it, one touch, then one operation again.
func TestReadOnlyRequestCostsOneStoreOperation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sp := newSpy(nil)
		opts := &session.Options{IdleTimeout: 30 * time.Minute, TouchInterval: time.Minute}
		a := app(mustManager(t, sp, opts))
		b := app(mustManager(t, sp, opts)) // a second instance
		tok := login(t, a, "alice")
		sp.total()

		expect := func(h http.Handler, what string, want map[string]int) {
			t.Helper()
			if u, code := whoami(t, h, tok); code != 200 || u != "alice" {
				t.Fatalf("%s: whoami = %d %q", what, code, u)
			}
			n, ops := sp.total()
			wantN := 0
			for _, c := range want {
				wantN += c
			}
			if n != wantN || fmt.Sprint(ops) != fmt.Sprint(want) {
				t.Errorf("%s: store operations %v, want %v", what, ops, want)
			}
		}
		for i := range 5 {
			expect(a, fmt.Sprintf("read %d inside the interval", i), map[string]int{"Get": 1})
			time.Sleep(10 * time.Second)
		}
		time.Sleep(time.Minute)
		expect(a, "first read past the interval", map[string]int{"Get": 1, "Touch": 1})
		expect(a, "second read past the interval", map[string]int{"Get": 1})
		expect(b, "a read on another instance", map[string]int{"Get": 1, "Touch": 1})
		expect(b, "a second read on it", map[string]int{"Get": 1})
	})
}

func TestIdleTimeoutAndLifetime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := app(mustManager(t, memory.New(nil), &session.Options{
			IdleTimeout: 10 * time.Minute, Lifetime: time.Hour, TouchInterval: time.Minute,
		}))
		busy := login(t, h, "busy")
		idle := login(t, h, "idle")
		for elapsed := time.Duration(0); elapsed < 55*time.Minute; elapsed += 5 * time.Minute {
			if _, code := whoami(t, h, busy); code != 200 {
				t.Fatalf("a session used every 5 minutes died after %v", elapsed)
			}
			time.Sleep(5 * time.Minute)
		}
		if _, code := whoami(t, h, idle); code != http.StatusUnauthorized {
			t.Errorf("a session idle for 55 minutes (timeout 10m) is still live")
		}
		time.Sleep(5 * time.Minute) // 60 minutes: the lifetime is over
		if _, code := whoami(t, h, busy); code != http.StatusUnauthorized {
			t.Errorf("a busy session outlived its 1h lifetime")
		}
	})
}

// The idle timeout holds to within the touch interval.
func TestIdleTimeoutPrecision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := app(mustManager(t, memory.New(nil), &session.Options{IdleTimeout: 10 * time.Minute, TouchInterval: time.Minute}))
		tok := login(t, h, "alice")
		time.Sleep(9*time.Minute + 59*time.Second)
		if _, code := whoami(t, h, tok); code != 200 {
			t.Fatal("session died before its idle timeout")
		}
		// That read touched it: ten more minutes from now, less a second.
		time.Sleep(10*time.Minute - time.Second)
		if _, code := whoami(t, h, tok); code != 200 {
			t.Fatal("the touch did not extend the session")
		}
		time.Sleep(10*time.Minute + time.Second)
		if _, code := whoami(t, h, tok); code != http.StatusUnauthorized {
			t.Fatal("session outlived its idle timeout")
		}
	})
}

func TestRenewKillsTheOldToken(t *testing.T) {
	h := app(mustManager(t, memory.New(nil), nil))
	// An attacker plants a token (fixation), the victim logs in with it.
	planted := login(t, h, "anonymous")
	r := httptest.NewRequest("POST", "/login?user=victim", nil)
	r.AddCookie(&http.Cookie{Name: "session", Value: planted})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fresh := tokenOf(t, w)
	if fresh == planted {
		t.Fatal("login kept the token the client came with")
	}
	if _, code := whoami(t, h, planted); code != http.StatusUnauthorized {
		t.Errorf("the token from before login still works: %d", code)
	}
	if u, code := whoami(t, h, fresh); code != 200 || u != "victim" {
		t.Errorf("new token: %d %q", code, u)
	}
	if n := strings.Count(strings.Join(w.Header().Values("Set-Cookie"), "\n"), "session="); n != 1 {
		t.Errorf("renewal sent %d session cookies, want 1", n)
	}
}

func TestDestroyIsSeenByEveryInstanceAtOnce(t *testing.T) {
	st := memory.New(nil)
	a := app(mustManager(t, st, nil))
	b := app(mustManager(t, st, nil))
	tok := login(t, a, "alice")
	if u, code := whoami(t, b, tok); code != 200 || u != "alice" {
		t.Fatalf("instance b: %d %q", code, u)
	}
	w := do(t, a, "POST", "/logout", tok)
	if w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", w.Code)
	}
	sc := w.Header().Get("Set-Cookie")
	if !strings.Contains(sc, "session=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("logout Set-Cookie %q does not clear the cookie", sc)
	}
	if _, code := whoami(t, b, tok); code != http.StatusUnauthorized {
		t.Errorf("instance b still accepts the token after logout on a: %d", code)
	}
	if _, code := whoami(t, a, tok); code != http.StatusUnauthorized {
		t.Errorf("instance a still accepts the token after logout: %d", code)
	}
}

// counter is a read-modify-write handler: it reads n, writes n+1 and
// answers the new value.
func counter(runs *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if runs != nil {
			runs.Add(1)
		}
		s := session.From(r.Context())
		n, _ := s.GetInt("n")
		s.SetInt("n", n+1)
		fmt.Fprint(w, n+1)
	}
}

func seedCounter(t testing.TB, m *session.Manager) (http.Handler, string) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetInt("n", 0)
		s.SetString("other", "x")
		w.WriteHeader(201)
	})
	mux.Handle("GET /count", counter(nil))
	mux.Handle("GET /count-retry", m.Retry(counter(nil)))
	mux.HandleFunc("GET /blind", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).SetString("blind", r.URL.Query().Get("v"))
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		n, _ := s.GetInt("n")
		b, _ := s.GetString("blind")
		fmt.Fprintf(w, "%d %s", n, b)
	})
	h := m.Handler(mux)
	w := do(t, h, "POST", "/start", "")
	return h, tokenOf(t, w)
}

// A blind write (nothing read) merges with a concurrent change instead of
// failing or overwriting it.
func TestConflictingBlindWriteIsMerged(t *testing.T) {
	sp := newSpy(nil)
	h, tok := seedCounter(t, mustManager(t, sp, nil))
	sp.beforeReplace = func() {
		if w := do(t, h, "GET", "/count", tok); w.Code != 200 {
			t.Errorf("concurrent count: %d", w.Code)
		}
	}
	if w := do(t, h, "GET", "/blind?v=hello", tok); w.Code != 200 {
		t.Fatalf("blind write that met a conflict: %d %s", w.Code, w.Body)
	}
	if got := do(t, h, "GET", "/get", tok).Body.String(); got != "1 hello" {
		t.Errorf("after a blind write raced a count: %q, want both changes (\"1 hello\")", got)
	}
}

// A write based on a value another request changed fails with 409 and
// saves nothing: the other request's change survives.
func TestConflictOnAValueReadIs409(t *testing.T) {
	sp := newSpy(nil)
	h, tok := seedCounter(t, mustManager(t, sp, nil))
	sp.beforeReplace = func() { do(t, h, "GET", "/count", tok) }
	w := do(t, h, "GET", "/count", tok)
	if w.Code != http.StatusConflict {
		t.Fatalf("lost the race on a value it read: %d %q, want 409", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("409 body %q (%s), want a JSON error", w.Body, ct)
	}
	if got := do(t, h, "GET", "/get", tok).Body.String(); got != "1 " {
		t.Errorf("after the conflict: %q, want the winner's count of 1", got)
	}
}

// Under Retry, the loser runs again on the fresh value: both counts land
// and each response shows its own number.
func TestRetryRunsTheHandlerAgain(t *testing.T) {
	sp := newSpy(nil)
	m := mustManager(t, sp, nil)
	h, tok := seedCounter(t, m)
	var runs atomic.Int64
	retried := m.Handler(m.Retry(counter(&runs)))
	sp.beforeReplace = func() { do(t, h, "GET", "/count", tok) }
	w := do(t, retried, "GET", "/", tok)
	if w.Code != 200 || w.Body.String() != "2" {
		t.Fatalf("retried count = %d %q, want 200 \"2\"", w.Code, w.Body)
	}
	if runs.Load() != 2 {
		t.Errorf("handler ran %d times, want 2", runs.Load())
	}
	if got := do(t, h, "GET", "/get", tok).Body.String(); got != "2 " {
		t.Errorf("stored count %q, want 2", got)
	}
}

// Retry replays the request body on every run.
func TestRetryReplaysTheBody(t *testing.T) {
	sp := newSpy(nil)
	m := mustManager(t, sp, nil)
	h, tok := seedCounter(t, m)
	var bodies []string
	var mu sync.Mutex
	hh := m.Retry(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		s := session.From(r.Context())
		n, _ := s.GetInt("n")
		s.SetInt("n", n+1)
	}))
	sp.beforeReplace = func() { do(t, h, "GET", "/count", tok) }
	r := httptest.NewRequest("POST", "/", strings.NewReader("payload"))
	r.AddCookie(&http.Cookie{Name: "session", Value: tok})
	w := httptest.NewRecorder()
	hh.ServeHTTP(w, r)
	if w.Code != 200 || fmt.Sprint(bodies) != "[payload payload]" {
		t.Errorf("status %d, bodies seen %q; want 200 and the body on both runs", w.Code, bodies)
	}
}

// The acceptance test of the package: many concurrent read-modify-writes on
// one session through two instances lose nothing.
func TestConcurrentIncrementsThroughTwoInstancesLoseNothing(t *testing.T) {
	st := memory.New(nil)
	ma, mb := mustManager(t, st, nil), mustManager(t, st, nil)
	a, tok := seedCounter(t, ma)
	b, _ := seedCounter(t, mb)
	const calls, parallel = 2000, 16
	var ok, bad atomic.Int64
	seen := make([]atomic.Bool, calls+1)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range parallel {
		wg.Go(func() {
			for i := next.Add(1); i <= calls; i = next.Add(1) {
				h := a
				if i%2 == 0 {
					h = b
				}
				w := do(t, h, "GET", "/count-retry", tok)
				if w.Code != 200 {
					bad.Add(1)
					if w.Code >= 500 {
						t.Errorf("call %d: %d %s", i, w.Code, w.Body)
					}
					continue
				}
				ok.Add(1)
				n, err := strconv.Atoi(w.Body.String())
				if err != nil || n < 1 || n > calls || seen[n].Swap(true) {
					t.Errorf("call %d answered %q: not a fresh count", i, w.Body)
				}
			}
		})
	}
	wg.Wait()
	final := do(t, a, "GET", "/get", tok).Body.String()
	if want := fmt.Sprintf("%d ", ok.Load()); final != want {
		t.Errorf("final count %q, want %q: the number of successful calls", final, want)
	}
	if ok.Load() < calls*99/100 {
		t.Errorf("%d of %d calls succeeded, want at least 99%%", ok.Load(), calls)
	}
	t.Logf("%d calls, 16 at a time over two instances: %d succeeded, %d refused, final count %s", calls, ok.Load(), bad.Load(), final)
}

// A failed save turns into an error status: never a 2xx for a change that
// was not stored.
func TestFailedSaveIsNeverA2xx(t *testing.T) {
	down := errors.New("connection refused")
	for _, c := range []struct{ name, op, target string }{
		{"new session", "Create", "/login?user=a"},
		{"update", "Replace", "/count"},
		{"update under Retry", "Replace", "/count-retry"},
		{"load", "Get", "/count"},
		{"logout", "Delete", "/logout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp := newSpy(nil)
			m := mustManager(t, sp, &session.Options{Logger: slog.New(slog.DiscardHandler)})
			mux := http.NewServeMux()
			mux.Handle("/login", app(m))
			mux.Handle("/logout", app(m))
			h, tok := seedCounter(t, m)
			mux.Handle("/", h)
			sp.fail[c.op] = down
			w := do(t, m.Handler(mux), "GET", c.target, tok)
			if c.target != "/count" && c.target != "/count-retry" {
				w = do(t, m.Handler(mux), "POST", c.target, tok)
			}
			if w.Code < 500 {
				t.Errorf("%s failed in the store, client got %d %q", c.op, w.Code, w.Body)
			}
			if !strings.Contains(w.Body.String(), `"error"`) || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("error response %q is not JSON", w.Body)
			}
			if strings.Contains(w.Body.String(), "refused") {
				t.Errorf("error response %q leaks the store's error", w.Body)
			}
		})
	}
}

func TestTooLargeSession(t *testing.T) {
	m := mustManager(t, memory.New(nil), &session.Options{MaxSize: 1024})
	var saveErr error
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetBytes("big", make([]byte, 2000))
		saveErr = s.Save()
		w.WriteHeader(200)
	}))
	w := do(t, h, "GET", "/", "")
	if !errors.Is(saveErr, session.ErrTooLarge) {
		t.Errorf("Save of a 2000-byte value with MaxSize 1024 = %v, want ErrTooLarge", saveErr)
	}
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "too large") {
		t.Errorf("response %d %q, want 500 saying the session is too large", w.Code, w.Body)
	}
}

func TestUndecodableSessionIsAbsentAndLoggedOnce(t *testing.T) {
	sp := newSpy(nil)
	var logs bytes.Buffer
	m := mustManager(t, sp, &session.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h := app(m)
	tok := login(t, h, "alice")
	sp.mu.Lock()
	key := sp.written[0]
	sp.mu.Unlock()
	rec, err := sp.Store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Store.Replace(context.Background(), key, []byte("garbage that is no session"), time.Hour, rec.Version); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, code := whoami(t, h, tok); code != http.StatusUnauthorized {
			t.Fatalf("an undecodable session answered %d, want 401 (no session)", code)
		}
	}
	if n := strings.Count(logs.String(), "cannot be decoded"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), tok) {
		t.Error("the log holds the token")
	}
}

func TestRememberMe(t *testing.T) {
	for _, c := range []struct {
		name       string
		persistent bool
		remember   *bool
		wantMaxAge bool
	}{
		{"default", false, nil, false},
		{"option", true, nil, true},
		{"remember", false, ptr(true), true},
		{"forget", true, ptr(false), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := mustManager(t, memory.New(nil), &session.Options{Lifetime: 2 * time.Hour, Cookie: session.Cookie{Persistent: c.persistent}})
			h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := session.From(r.Context())
				s.SetString("k", "v")
				if c.remember != nil {
					s.RememberMe(*c.remember)
				}
			}))
			sc := do(t, h, "GET", "/", "").Header().Get("Set-Cookie")
			if got := strings.Contains(sc, "Max-Age=7200"); got != c.wantMaxAge {
				t.Errorf("Set-Cookie %q: persistent=%v, want %v", sc, got, c.wantMaxAge)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestCookieAttributes(t *testing.T) {
	m := mustManager(t, memory.New(nil), &session.Options{Cookie: session.Cookie{
		Name: "sid", Path: "/app", Domain: "example.com", Secure: true, SameSite: http.SameSiteStrictMode, Partitioned: true,
	}})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).SetString("k", "v")
	}))
	sc := do(t, h, "GET", "/", "").Header().Get("Set-Cookie")
	for _, want := range []string{"sid=", "Path=/app", "Domain=example.com", "Secure", "HttpOnly", "SameSite=Strict", "Partitioned"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
}

func TestChangeAfterResponseBeganIsDroppedLoudly(t *testing.T) {
	var logs bytes.Buffer
	st := memory.New(nil)
	m := mustManager(t, st, &session.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	mux := http.NewServeMux()
	mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetString("early", "kept")
		io.WriteString(w, "response begun")
		s.SetString("late", "dropped")
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		e, _ := s.GetString("early")
		l, ok := s.GetString("late")
		fmt.Fprintf(w, "%s %s %v", e, l, ok)
	})
	h := m.Handler(mux)
	tok := tokenOf(t, do(t, h, "GET", "/late", ""))
	if got := do(t, h, "GET", "/read", tok).Body.String(); got != "kept  false" {
		t.Errorf("read back %q", got)
	}
	if !strings.Contains(logs.String(), "change dropped") {
		t.Errorf("the dropped change was not logged: %s", logs.String())
	}
}

func TestTypedValues(t *testing.T) {
	m := mustManager(t, memory.New(nil), nil)
	when := time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC)
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetString("s", "ünïcode \x00 ok")
		s.SetInt("i", -1<<62)
		s.SetBool("b", true)
		s.SetFloat("f", 3.25)
		s.SetBytes("y", []byte{0, 1, 255})
		s.SetTime("t", when)
		s.SetString("gone", "x")
		s.Delete("gone")
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		str, _ := s.GetString("s")
		i, _ := s.GetInt("i")
		b, _ := s.GetBool("b")
		f, _ := s.GetFloat("f")
		y, _ := s.GetBytes("y")
		tm, _ := s.GetTime("t")
		_, gone := s.GetString("gone")
		_, wrongType := s.GetInt("s")
		fmt.Fprintf(w, "%q %d %v %v %v %s %v %v %v", str, i, b, f, y, tm.Format(time.RFC3339Nano), gone, wrongType, s.Keys())
	})
	h := m.Handler(mux)
	tok := tokenOf(t, do(t, h, "GET", "/set", ""))
	got := do(t, h, "GET", "/get", tok).Body.String()
	want := `"ünïcode \x00 ok" -4611686018427387904 true 3.25 [0 1 255] 2026-11-26T12:00:00.123456789Z false false [b f i s t y]`
	if got != want {
		t.Errorf("values read back:\n got %s\nwant %s", got, want)
	}
}

func TestOptionsValidation(t *testing.T) {
	st := memory.New(nil)
	if _, err := session.New(nil, nil); err == nil {
		t.Error("New with a nil store succeeded")
	}
	for _, o := range []session.Options{
		{IdleTimeout: -1},
		{IdleTimeout: time.Minute, TouchInterval: time.Minute},
		{Cookie: session.Cookie{Name: "bad name"}},
		{Cookie: session.Cookie{Path: "/;x"}},
		{Cookie: session.Cookie{SameSite: http.SameSiteNoneMode}},
		{Header: "Bad Header"},
		{KeyPrefix: strings.Repeat("p", 300)},
		{MaxSize: -1},
	} {
		if _, err := session.New(st, &o); err == nil || !strings.Contains(err.Error(), "session: bad options") {
			t.Errorf("New(%+v) = %v, want a bad-options error", o, err)
		}
	}
}

func TestFromWithoutMiddlewarePanics(t *testing.T) {
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "Manager.Handler") {
			t.Errorf("recover() = %v", p)
		}
	}()
	session.From(context.Background())
}

func TestRetryWithoutHandlerAddsIt(t *testing.T) {
	m := mustManager(t, memory.New(nil), nil)
	h := m.Retry(counter(nil))
	tok := tokenOf(t, do(t, h, "GET", "/", ""))
	if got := do(t, h, "GET", "/", tok).Body.String(); got != "2" {
		t.Errorf("second count %q, want 2", got)
	}
}

func TestSessionLogValueHidesToken(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	m := mustManager(t, memory.New(nil), nil)
	var tok string
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetString("k", "v")
		s.Save()
		tok = s.Token()
		log.Info("request", "session", s)
	}))
	do(t, h, "GET", "/", "")
	if tok == "" || strings.Contains(logs.String(), tok) {
		t.Errorf("token %q in log %q", tok, logs.String())
	}
}

var _ store.Store = (*spy)(nil)

// Retry queues the handlers of one session within an instance, and only of
// that session: another session's request goes through meanwhile.
func TestRetryLocksOnlyItsOwnSession(t *testing.T) {
	m := mustManager(t, memory.New(nil), nil)
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	h := m.Retry(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		if r.URL.Path == "/wait" {
			entered <- struct{}{}
			<-release
		}
		n, _ := s.GetInt("n")
		s.SetInt("n", n+1)
	}))
	a := tokenOf(t, do(t, h, "GET", "/", ""))
	b := tokenOf(t, do(t, h, "GET", "/", ""))
	done := make(chan int, 2)
	go func() { done <- do(t, h, "GET", "/wait", a).Code }()
	<-entered
	// Another session is not held up by a's handler.
	if w := do(t, h, "GET", "/", b); w.Code != 200 {
		t.Fatalf("session b while a is held: %d", w.Code)
	}
	// a's second request waits for its first.
	go func() { done <- do(t, h, "GET", "/wait", a).Code }()
	select {
	case <-entered:
		t.Fatal("two Retry handlers of one session ran at once")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if c1, c2 := <-done, <-done; c1 != 200 || c2 != 200 {
		t.Fatalf("statuses %d %d", c1, c2)
	}
}

// A read-modify-write under Retry costs one store operation when this
// instance served the session last: the first run starts from its copy and
// the compare-and-swap confirms it.
func TestRetrySpeculationCostsOneStoreOperation(t *testing.T) {
	for _, off := range []bool{false, true} {
		sp := newSpy(nil)
		m := mustManager(t, sp, &session.Options{DisableSpeculation: off})
		h := m.Retry(counter(nil))
		tok := tokenOf(t, do(t, h, "GET", "/", ""))
		do(t, h, "GET", "/", tok)
		sp.total()
		if got := do(t, h, "GET", "/", tok).Body.String(); got != "3" {
			t.Fatalf("third count = %q", got)
		}
		want := map[string]int{"Replace": 1}
		if off {
			want = map[string]int{"Get": 1, "Replace": 1}
		}
		if _, ops := sp.total(); fmt.Sprint(ops) != fmt.Sprint(want) {
			t.Errorf("DisableSpeculation=%v: store operations %v, want %v", off, ops, want)
		}
	}
}

// A stale copy costs a second run, never a wrong answer: instance a's copy
// is old after b counted, and a read-only Retry handler on a is checked too.
func TestRetrySpeculationSeesOtherInstances(t *testing.T) {
	st := memory.New(nil)
	ma, mb := mustManager(t, st, nil), mustManager(t, st, nil)
	var runs atomic.Int64
	a, b := ma.Retry(counter(&runs)), mb.Retry(counter(nil))
	peek := ma.Retry(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := session.From(r.Context()).GetInt("n")
		fmt.Fprint(w, n)
	}))
	tok := tokenOf(t, do(t, a, "GET", "/", "")) // n=1, cached on a
	for range 3 {
		do(t, b, "GET", "/", tok) // n=4
	}
	if got := do(t, peek, "GET", "/", tok).Body.String(); got != "4" {
		t.Errorf("read-only Retry handler on a stale copy answered %q, want 4", got)
	}
	runs.Store(0)
	if got := do(t, a, "GET", "/", tok).Body.String(); got != "5" {
		t.Errorf("count on a after b counted = %q, want 5", got)
	}
	// The peek refreshed a's copy, so this one needed a single run.
	if runs.Load() != 1 {
		t.Errorf("handler ran %d times, want 1", runs.Load())
	}
	do(t, b, "GET", "/", tok) // n=6; a's copy is stale again
	runs.Store(0)
	if got := do(t, a, "GET", "/", tok).Body.String(); got != "7" {
		t.Errorf("count on a = %q, want 7", got)
	}
	if runs.Load() != 2 {
		t.Errorf("handler ran %d times on a stale copy, want 2", runs.Load())
	}
}

// A session that ended on another instance is not brought back by a stale
// copy.
func TestRetrySpeculationAfterLogoutElsewhere(t *testing.T) {
	st := memory.New(nil)
	ma, mb := mustManager(t, st, nil), mustManager(t, st, nil)
	who := func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		n, ok := s.GetInt("n")
		if !ok {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/count" {
			s.SetInt("n", n+1)
		}
		fmt.Fprint(w, n)
	}
	a := ma.Retry(http.HandlerFunc(who))
	logout := mb.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Destroy()
	}))
	tok := tokenOf(t, do(t, ma.Retry(counter(nil)), "GET", "/", ""))
	do(t, a, "GET", "/count", tok) // a caches the session
	do(t, logout, "GET", "/", tok)
	for _, path := range []string{"/peek", "/count"} {
		if w := do(t, a, "GET", path, tok); w.Code != http.StatusUnauthorized {
			t.Errorf("%s after logout on another instance: %d %q, want 401", path, w.Code, w.Body)
		}
	}
}
