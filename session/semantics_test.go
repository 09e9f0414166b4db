package session_test

// The rules of the package doc, one test each (most fail on the API before
// Session API v1: see the comment on each).

import (
	"bytes"
	"context"
	"errors"
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

	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store/memory"
)

// route runs f as a handler under m and returns the response.
func route(t testing.TB, m *session.Manager, token string, f func(s *session.Session, w http.ResponseWriter)) *httptest.ResponseRecorder {
	t.Helper()
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f(session.From(r.Context()), w)
	}))
	return do(t, h, "POST", "/", token)
}

// newTokenOf is the token a response sets, or "" if it sets none.
func newTokenOf(w *httptest.ResponseRecorder) string {
	for _, c := range w.Result().Cookies() {
		if c.Name == "session" {
			return c.Value
		}
	}
	return ""
}

// values reads every value of the session token names, as "k=v" pairs.
func values(t testing.TB, m *session.Manager, token string) string {
	t.Helper()
	var out []string
	route(t, m, token, func(s *session.Session, w http.ResponseWriter) {
		for _, k := range s.Keys() {
			v, _ := s.GetString(k)
			out = append(out, k+"="+v)
		}
	})
	return strings.Join(out, " ")
}

func seeded(t testing.TB, m *session.Manager, kv ...string) string {
	t.Helper()
	w := route(t, m, "", func(s *session.Session, w http.ResponseWriter) {
		for i := 0; i < len(kv); i += 2 {
			s.SetString(kv[i], kv[i+1])
		}
	})
	tok := newTokenOf(w)
	if w.Code != 200 || tok == "" {
		t.Fatalf("seeding: %d %s", w.Code, w.Body)
	}
	return tok
}

// Clear did not exist before v1.
func TestClearKeepsTheSession(t *testing.T) {
	m := mustManager(t, memory.New(nil), nil)
	tok := seeded(t, m, "cart", "apples", "user", "alice")
	var id1, id2 string
	w := route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		id1 = s.ID()
		s.Clear()
		s.SetString("note", "cleared")
		id2 = s.ID()
	})
	if w.Code != 200 || newTokenOf(w) != "" {
		t.Fatalf("Clear: %d, new token %q (want the same token kept)", w.Code, newTokenOf(w))
	}
	if got := values(t, m, tok); got != "note=cleared" {
		t.Errorf("after Clear: %q, want only note=cleared", got)
	}
	if id1 == "" || id1 != id2 {
		t.Errorf("ID changed by Clear: %q → %q", id1, id2)
	}
}

// Before v1, a Set after Destroy was silently dropped.
func TestDestroyThenSetStartsAFreshSession(t *testing.T) {
	m := mustManager(t, memory.New(nil), nil)
	tok := seeded(t, m, "cart", "apples", "user", "alice")
	var st session.Status
	w := route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		s.Destroy()
		if s.Status() != session.Destroyed {
			t.Errorf("Status after Destroy = %v", s.Status())
		}
		s.SetString("flash", "goodbye")
		st = s.Status()
	})
	fresh := newTokenOf(w)
	if w.Code != 200 || fresh == "" || fresh == tok {
		t.Fatalf("Destroy+Set: %d, token %q (old %q): want a new token", w.Code, fresh, tok)
	}
	if st != session.Modified {
		t.Errorf("Status after Destroy and Set = %v, want Modified", st)
	}
	if got := values(t, m, fresh); got != "flash=goodbye" {
		t.Errorf("new session holds %q, want only flash=goodbye", got)
	}
	if got := values(t, m, tok); got != "" {
		t.Errorf("old token still reads %q", got)
	}
}

// Before v1, Renew after Destroy brought the old values back.
func TestRenewAfterDestroyDoesNotRevive(t *testing.T) {
	m := mustManager(t, memory.New(nil), nil)
	tok := seeded(t, m, "cart", "apples")
	w := route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		s.Destroy()
		s.Renew()
		if _, ok := s.GetString("cart"); ok {
			t.Error("the destroyed session's value reads back after Renew")
		}
	})
	if newTokenOf(w) != "" {
		t.Errorf("Destroy+Renew sent a live token")
	}
	if got := values(t, m, tok); got != "" {
		t.Errorf("old token reads %q", got)
	}
	// And values set after both start a clean session.
	w = route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		s.Destroy()
		s.Renew()
		s.SetString("user", "bob")
	})
	if got := values(t, m, newTokenOf(w)); got != "user=bob" {
		t.Errorf("after Destroy, Renew, Set: %q, want user=bob", got)
	}
}

// Before v1, the README's login (Renew, then set the user) carried the
// previous user's cart into the new session.
func TestLoginCarriesNothingOver(t *testing.T) {
	m := mustManager(t, memory.New(nil), nil)
	tok := seeded(t, m, "cart", "alice's apples", "user", "alice")
	var oldID, newID, midToken string
	w := route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		oldID = s.ID()
		s.Login()
		s.SetString("user", "bob")
		newID, midToken = s.ID(), s.Token()
	})
	bob := newTokenOf(w)
	if bob == "" || bob == tok || midToken != bob {
		t.Fatalf("Login: token %q (old %q, Token() said %q)", bob, tok, midToken)
	}
	if got := values(t, m, bob); got != "user=bob" {
		t.Errorf("Bob's session holds %q, want only user=bob", got)
	}
	if got := values(t, m, tok); got != "" {
		t.Errorf("Alice's token still reads %q", got)
	}
	if oldID == "" || newID == "" || oldID == newID {
		t.Errorf("IDs: before %q, after Login %q; want two different IDs", oldID, newID)
	}
}

func TestRenewKeepsIDAndValues(t *testing.T) {
	m := mustManager(t, memory.New(nil), nil)
	tok := seeded(t, m, "user", "alice")
	var before, after string
	w := route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		before = s.ID()
		s.Renew()
		after = s.ID()
	})
	renewed := newTokenOf(w)
	if renewed == "" || renewed == tok {
		t.Fatal("Renew sent no new token")
	}
	var later string
	route(t, m, renewed, func(s *session.Session, w http.ResponseWriter) { later = s.ID() })
	if before == "" || before != after || after != later {
		t.Errorf("ID across Renew: %q, %q, then %q", before, after, later)
	}
	if got := values(t, m, renewed); got != "user=alice" {
		t.Errorf("renewed session holds %q", got)
	}
}

// The ID is stored, 128 random bits in base64url, and neither it nor
// anything stored gives away the token or the store key.
func TestIDIsStoredAndRevealsNothing(t *testing.T) {
	sp := newSpy(nil)
	m := mustManager(t, sp, nil)
	var id, key string
	w := route(t, m, "", func(s *session.Session, w http.ResponseWriter) {
		s.SetString("user", "alice")
		id = s.ID()
	})
	tok := newTokenOf(w)
	if len(id) != 22 {
		t.Fatalf("ID %q: want 22 base64url characters", id)
	}
	sp.mu.Lock()
	key = sp.written[0]
	stored := sp.written[1]
	sp.mu.Unlock()
	if !strings.Contains(stored, id) {
		t.Errorf("the record does not hold the ID")
	}
	if strings.Contains(key, id) || strings.Contains(tok, id) || strings.Contains(id, tok[:8]) {
		t.Errorf("ID %q shares material with the token or key", id)
	}
	// Another instance reading the same record sees the same ID.
	var again string
	route(t, mustManager(t, sp, nil), tok, func(s *session.Session, w http.ResponseWriter) { again = s.ID() })
	if again != id {
		t.Errorf("ID read back %q, want %q", again, id)
	}
}

// Before v1, Save returned nil for a change dropped after the response had
// begun.
func TestSaveReportsADroppedChange(t *testing.T) {
	m := mustManager(t, memory.New(nil), &session.Options{Logger: slog.New(slog.DiscardHandler)})
	var before, after error
	route(t, m, "", func(s *session.Session, w http.ResponseWriter) {
		s.SetString("early", "kept")
		w.WriteHeader(http.StatusOK)
		before = s.Save()
		s.SetString("late", "dropped")
		after = s.Save()
	})
	if before != nil {
		t.Errorf("Save after a clean start of the response: %v", before)
	}
	if !errors.Is(after, session.ErrResponseStarted) || !strings.Contains(after.Error(), `"late"`) {
		t.Errorf("Save after a dropped change = %v, want ErrResponseStarted naming the change", after)
	}
}

type cart struct {
	Items []string `json:"items"`
	Total int      `json:"total"`
}

// Typed values through the codec, Int, Exists, Pop and PopString did not
// exist before v1.
func TestTypedConveniences(t *testing.T) {
	m := mustManager(t, memory.New(nil), nil)
	w := route(t, m, "", func(s *session.Session, w http.ResponseWriter) {
		if err := session.Put(s, "cart", cart{Items: []string{"apple"}, Total: 3}); err != nil {
			t.Error(err)
		}
		s.SetInt("n", 41)
		s.SetString("flash", "saved!")
		if err := session.Put(s, "bad", func() {}); err == nil {
			t.Error("Put of a func succeeded")
		}
	})
	tok := newTokenOf(w)
	route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		c, ok, err := session.Get[cart](s, "cart")
		if err != nil || !ok || c.Total != 3 || len(c.Items) != 1 || c.Items[0] != "apple" {
			t.Errorf("Get[cart] = %+v, %v, %v", c, ok, err)
		}
		if _, ok, err := session.Get[cart](s, "missing"); ok || err != nil {
			t.Errorf("Get of a missing key: %v, %v", ok, err)
		}
		if _, _, err := session.Get[int](s, "cart"); err == nil {
			t.Error("Get[int] of a struct: no error")
		}
		if _, ok, _ := session.Get[string](s, "flash"); ok {
			t.Error("Get[string] read a SetString value: types must not mix")
		}
		if n, ok := s.GetInt("n"); !ok || n != 41 {
			t.Errorf("GetInt = %d, %v", n, ok)
		}
		if n, ok := s.GetInt64("n"); !ok || n != 41 {
			t.Errorf("GetInt64 = %d, %v", n, ok)
		}
		if !s.Exists("cart") || !s.Exists("n") || s.Exists("nope") {
			t.Error("Exists is wrong")
		}
		if f, ok := s.PopString("flash"); !ok || f != "saved!" {
			t.Errorf("PopString = %q, %v", f, ok)
		}
		if _, ok := s.PopString("flash"); ok {
			t.Error("a popped value popped again in the same request")
		}
	})
	route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		if s.Exists("flash") {
			t.Error("the flash survived its Pop")
		}
		c, ok, err := session.Pop[cart](s, "cart")
		if !ok || err != nil || c.Total != 3 {
			t.Errorf("Pop[cart] = %+v, %v, %v", c, ok, err)
		}
	})
	if got := values(t, m, tok); got != "n=" {
		t.Errorf("after the pops: %q, want only n", got)
	}
}

// Values written through Put merge per key with concurrent writers like any
// other: one request's cart does not overwrite another's flash.
func TestPutMergesPerKey(t *testing.T) {
	sp := newSpy(nil)
	m := mustManager(t, sp, nil)
	tok := seeded(t, m, "flash", "")
	sp.beforeReplace = func() {
		route(t, m, tok, func(s *session.Session, w http.ResponseWriter) { s.SetString("flash", "hello") })
	}
	w := route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		session.Put(s, "cart", cart{Total: 1})
	})
	if w.Code != 200 {
		t.Fatalf("blind Put with a concurrent write: %d %s", w.Code, w.Body)
	}
	route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		f, _ := s.GetString("flash")
		c, _, _ := session.Get[cart](s, "cart")
		if f != "hello" || c.Total != 1 {
			t.Errorf("after merge: flash %q, cart %+v", f, c)
		}
	})
}

// A codec of one's own is used for Put and Get.
type upperCodec struct{ session.JSONCodec }

func (upperCodec) Marshal(v any) ([]byte, error) {
	return []byte(strings.ToUpper(fmt.Sprint(v))), nil
}

func (upperCodec) Unmarshal(b []byte, v any) error {
	*(v.(*string)) = string(b)
	return nil
}

func TestCustomCodec(t *testing.T) {
	m := mustManager(t, memory.New(nil), &session.Options{Codec: upperCodec{}})
	w := route(t, m, "", func(s *session.Session, w http.ResponseWriter) { session.Put(s, "k", "shout") })
	route(t, m, newTokenOf(w), func(s *session.Session, w http.ResponseWriter) {
		if v, _, _ := session.Get[string](s, "k"); v != "SHOUT" {
			t.Errorf("custom codec: %q", v)
		}
	})
}

func TestTokenAndStatus(t *testing.T) {
	m := mustManager(t, memory.New(nil), nil)
	w := route(t, m, "", func(s *session.Session, w http.ResponseWriter) {
		if s.Token() != "" || s.Status() != session.Unmodified {
			t.Errorf("no session: Token %q, Status %v", s.Token(), s.Status())
		}
		s.SetString("a", "b")
		if len(s.Token()) != 43 || s.Status() != session.Modified {
			t.Errorf("new session: Token %q, Status %v", s.Token(), s.Status())
		}
	})
	tok := newTokenOf(w)
	route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		if s.Token() != tok || s.Status() != session.Unmodified {
			t.Errorf("live session: Token %q (want %q), Status %v", s.Token(), tok, s.Status())
		}
		s.Destroy()
		if s.Token() != "" || s.Status() != session.Destroyed {
			t.Errorf("destroyed: Token %q, Status %v", s.Token(), s.Status())
		}
	})
}

func TestSetDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := mustManager(t, memory.New(nil), nil)
		tok := seeded(t, m, "user", "alice")
		end := time.Now().Add(10 * time.Minute).Truncate(time.Millisecond)
		route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
			if want := time.Now().Add(24 * time.Hour).Truncate(time.Millisecond); !s.Deadline().Equal(want) {
				t.Errorf("default Deadline %v, want start + Lifetime %v", s.Deadline(), want)
			}
			s.SetDeadline(end)
			if !s.Deadline().Equal(end) {
				t.Errorf("Deadline %v after SetDeadline(%v)", s.Deadline(), end)
			}
		})
		// Busy use does not carry it past its deadline.
		for range 9 {
			time.Sleep(time.Minute)
			if got := values(t, m, tok); got != "user=alice" {
				t.Fatalf("before the deadline: %q", got)
			}
		}
		time.Sleep(time.Minute)
		if got := values(t, m, tok); got != "" {
			t.Errorf("after the deadline: %q, want no session", got)
		}
		// A deadline beyond the Lifetime does not extend it; one in the
		// past ends the session.
		tok = seeded(t, m, "user", "bob")
		route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
			s.SetDeadline(time.Now().Add(48 * time.Hour))
			if want := time.Now().Add(24 * time.Hour).Truncate(time.Millisecond); !s.Deadline().Equal(want) {
				t.Errorf("Deadline %v, want capped at Lifetime %v", s.Deadline(), want)
			}
		})
		route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
			s.SetDeadline(time.Now().Add(-time.Second))
		})
		if got := values(t, m, tok); got != "" {
			t.Errorf("after a past deadline: %q", got)
		}
	})
}

// Manager.Load serves code outside an HTTP request.
func TestManagerLoadOutsideHTTP(t *testing.T) {
	ctx := context.Background()
	m := mustManager(t, memory.New(nil), nil)
	tok := seeded(t, m, "user", "alice")

	s, err := m.Load(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if live, err := s.Live(); !live || err != nil {
		t.Fatalf("Live = %v, %v", live, err)
	}
	s.SetString("job", "done")
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if got := values(t, m, tok); got != "job=done user=alice" {
		t.Errorf("after a background Save: %q", got)
	}

	// A token of no session starts a new one on Save; Token tells it.
	s, err = m.Load(ctx, "not a token")
	if err != nil {
		t.Fatal(err)
	}
	if live, _ := s.Live(); live {
		t.Fatal("garbage token is live")
	}
	s.SetString("user", "carol")
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if got := values(t, m, s.Token()); got != "user=carol" {
		t.Errorf("session started by Load: %q", got)
	}

	// A store error is Load's error.
	sp := newSpy(nil)
	sp.fail["Get"] = errors.New("store down")
	if _, err := mustManager(t, sp, nil).Load(ctx, tok); err == nil {
		t.Error("Load on a failing store: no error")
	}
}

// Two managers (two cookies) in one request keep two sessions.
func TestTwoManagersInOneRequest(t *testing.T) {
	st := memory.New(nil)
	user := mustManager(t, st, nil)
	prefs := mustManager(t, st, &session.Options{Cookie: session.Cookie{Name: "prefs"}, KeyPrefix: "prefs:"})
	h := user.Handler(prefs.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user.From(r.Context()).SetString("who", "alice")
		prefs.From(r.Context()).SetString("theme", "dark")
		if session.From(r.Context()) != prefs.From(r.Context()) {
			t.Error("session.From is not the innermost manager's session")
		}
	})))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
	cookies := map[string]string{}
	for _, c := range w.Result().Cookies() {
		cookies[c.Name] = c.Value
	}
	if len(cookies) != 2 || cookies["session"] == "" || cookies["prefs"] == "" {
		t.Fatalf("cookies %v, want session and prefs", cookies)
	}
	var who, theme string
	route(t, user, cookies["session"], func(s *session.Session, w http.ResponseWriter) { who, _ = s.GetString("who") })
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: "prefs", Value: cookies["prefs"]})
	prefs.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		theme, _ = prefs.From(r.Context()).GetString("theme")
		if _, ok := prefs.From(r.Context()).GetString("who"); ok {
			t.Error("the prefs session holds the user session's value")
		}
	})).ServeHTTP(httptest.NewRecorder(), r)
	if who != "alice" || theme != "dark" {
		t.Errorf("read back who %q, theme %q", who, theme)
	}
}

// Before v1, the token was always echoed in X-Session-Token and both
// transports were always on.
func TestTransports(t *testing.T) {
	st := memory.New(nil)
	send := func(h http.Handler, cookie, header string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/", nil)
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: "session", Value: cookie})
		}
		if header != "" {
			r.Header.Set("X-Session-Token", header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	who := func(m *session.Manager) http.Handler {
		return m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r.Context())
			if r.URL.Query().Has("login") {
				s.Login()
				s.SetString("u", "alice")
				return
			}
			u, _ := s.GetString("u")
			io.WriteString(w, u)
		}))
	}
	loginVia := func(h http.Handler) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/?login", nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	t.Run("cookie (default)", func(t *testing.T) {
		h := who(mustManager(t, st, nil))
		w := loginVia(h)
		tok := newTokenOf(w)
		if tok == "" || w.Header().Get("X-Session-Token") != "" {
			t.Fatalf("cookie %q, X-Session-Token %q: want a cookie and no header", tok, w.Header().Get("X-Session-Token"))
		}
		if got := send(h, "", tok).Body.String(); got != "" {
			t.Errorf("the header is read under CookieTransport: %q", got)
		}
		if got := send(h, tok, "").Body.String(); got != "alice" {
			t.Errorf("cookie not read: %q", got)
		}
		if v := send(h, tok, "").Header().Get("Vary"); v != "Cookie" {
			t.Errorf("Vary %q, want Cookie", v)
		}
	})
	t.Run("header", func(t *testing.T) {
		h := who(mustManager(t, st, &session.Options{Transport: session.HeaderTransport}))
		w := loginVia(h)
		tok := w.Header().Get("X-Session-Token")
		if tok == "" || w.Header().Get("Set-Cookie") != "" {
			t.Fatalf("header %q, Set-Cookie %q: want a header and no cookie", tok, w.Header().Get("Set-Cookie"))
		}
		if got := send(h, tok, "").Body.String(); got != "" {
			t.Errorf("the cookie is read under HeaderTransport: %q", got)
		}
		if got := send(h, "", tok).Body.String(); got != "alice" {
			t.Errorf("header not read: %q", got)
		}
	})
	t.Run("both, no echo", func(t *testing.T) {
		h := who(mustManager(t, st, &session.Options{Transport: session.CookieAndHeaderTransport}))
		w := loginVia(h)
		tok := newTokenOf(w)
		if tok == "" || w.Header().Get("X-Session-Token") != "" {
			t.Fatalf("cookie %q, header %q: want the cookie only", tok, w.Header().Get("X-Session-Token"))
		}
		if send(h, tok, "").Body.String() != "alice" || send(h, "", tok).Body.String() != "alice" {
			t.Error("a transport is not read")
		}
	})
	t.Run("both, echo", func(t *testing.T) {
		h := who(mustManager(t, st, &session.Options{Transport: session.CookieAndHeaderTransport, EchoToken: true}))
		w := loginVia(h)
		if tok := newTokenOf(w); tok == "" || w.Header().Get("X-Session-Token") != tok {
			t.Fatalf("cookie %q, header %q: want both, equal", tok, w.Header().Get("X-Session-Token"))
		}
	})
	if _, err := session.New(st, &session.Options{EchoToken: true}); err == nil {
		t.Error("EchoToken with CookieTransport accepted")
	}
}

// Before v1, Retry read up to MaxRetryBody of every request's body itself:
// a broken body answered 503 and logged an ERROR, on routes that take no
// body at all.
func TestRetryReadsNoBodyItself(t *testing.T) {
	var logs bytes.Buffer
	m := mustManager(t, memory.New(nil), &session.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h, tok := seedCounter(t, m)
	_ = h
	body := &brokenBody{}
	r := httptest.NewRequest("GET", "/", body)
	r.AddCookie(&http.Cookie{Name: "session", Value: tok})
	w := httptest.NewRecorder()
	m.Retry(counter(nil)).ServeHTTP(w, r)
	if w.Code != 200 || body.reads != 0 {
		t.Errorf("a route that takes no body: status %d, %d body reads", w.Code, body.reads)
	}
	// A handler that reads the broken body answers for itself.
	r = httptest.NewRequest("POST", "/", &brokenBody{})
	r.AddCookie(&http.Cookie{Name: "session", Value: tok})
	w = httptest.NewRecorder()
	m.Retry(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
	})).ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest {
		t.Errorf("handler reading a broken body: %d, want its own 400", w.Code)
	}
	if strings.Contains(logs.String(), "ERROR") {
		t.Errorf("logged: %s", logs.String())
	}
}

type brokenBody struct{ reads int }

func (b *brokenBody) Read([]byte) (int, error) {
	b.reads++
	return 0, io.ErrUnexpectedEOF
}

// Retry handlers of one session wait for each other at most StoreTimeout,
// then run anyway: a stuck holder cannot queue the session's requests
// without bound.
func TestRetryLockWaitIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := mustManager(t, memory.New(nil), &session.Options{StoreTimeout: 200 * time.Millisecond})
		_, tok := seedCounter(t, m)
		release := make(chan struct{})
		slow := m.Retry(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release
		}))
		var wg sync.WaitGroup
		wg.Go(func() { do(t, slow, "GET", "/", tok) })
		synctest.Wait() // the slow handler holds the session's lock
		start := time.Now()
		w := do(t, m.Retry(counter(nil)), "GET", "/", tok)
		if took := time.Since(start); took != 200*time.Millisecond || w.Code != 200 || w.Body.String() != "1" {
			t.Errorf("second handler: %d %q after %v; want 200 \"1\" after the 200ms bound", w.Code, w.Body, took)
		}
		close(release)
		wg.Wait()
	})
}

// A run of a Retry handler whose save conflicts sends nothing: neither its
// headers nor its body reach the client, and headers set before Retry are
// there for the run that counts.
func TestRetryDiscardsTheLosingRun(t *testing.T) {
	sp := newSpy(nil)
	m := mustManager(t, sp, nil)
	h, tok := seedCounter(t, m)
	var runs atomic.Int64
	handler := m.Retry(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		run := runs.Add(1)
		s := session.From(r.Context())
		n, _ := s.GetInt("n")
		s.SetInt("n", n+1)
		w.Header().Set(fmt.Sprintf("X-Run-%d", run), "yes")
		fmt.Fprintf(w, "run %d saw %d", run, n)
	}))
	outer := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Outer", "kept")
		handler.ServeHTTP(w, r)
	}))
	sp.beforeReplace = func() { do(t, h, "GET", "/count", tok) }
	w := do(t, outer, "GET", "/", tok)
	if w.Code != 200 || w.Body.String() != "run 2 saw 1" {
		t.Fatalf("response %d %q, want only the second run's answer", w.Code, w.Body)
	}
	if w.Header().Get("X-Run-1") != "" || w.Header().Get("X-Run-2") != "yes" || w.Header().Get("X-Outer") != "kept" {
		t.Errorf("headers %v: want X-Outer and X-Run-2 only", w.Header())
	}
}

// Under Retry, as everywhere, the session is saved when the response
// begins: a change after that is dropped and reported, never saved later.
func TestRetryChangeAfterResponseBeganIsDropped(t *testing.T) {
	m := mustManager(t, memory.New(nil), &session.Options{Logger: slog.New(slog.DiscardHandler)})
	_, tok := seedCounter(t, m)
	var saveErr error
	h := m.Retry(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetString("early", "kept")
		io.WriteString(w, "begun")
		s.SetString("late", "dropped")
		saveErr = s.Save()
	}))
	if w := do(t, h, "GET", "/", tok); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if !errors.Is(saveErr, session.ErrResponseStarted) {
		t.Errorf("Save after the response began = %v", saveErr)
	}
	route(t, m, tok, func(s *session.Session, w http.ResponseWriter) {
		if _, ok := s.GetString("late"); ok || !s.Exists("early") {
			t.Errorf("keys after the request: %v", s.Keys())
		}
	})
}
