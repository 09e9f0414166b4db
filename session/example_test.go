package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store/memory"
)

// browser is a cookie-keeping client for the examples.
type browser struct {
	h      http.Handler
	cookie *http.Cookie
}

func (b *browser) do(method, target, body string) string {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if b.cookie != nil {
		r.AddCookie(b.cookie)
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "session" {
			b.cookie = c
			if c.MaxAge < 0 {
				b.cookie = nil
			}
		}
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s", w.Code, w.Body.String()))
}

// Log in, see who you are, log out. Login starts a new session under a new
// token, so nothing of whoever used the browser before carries over.
func ExampleSession_Login() {
	sessions, err := session.New(memory.New(nil), nil)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user := r.FormValue("user") // check a password here
		s := session.From(r.Context())
		s.Login()
		s.SetString("user", user)
		fmt.Fprintln(w, "welcome", user)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		user, ok := s.GetString("user")
		if !ok {
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		_, hasCart := s.GetString("cart")
		fmt.Fprintln(w, user, "cart:", hasCart)
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).SetString("cart", "apples")
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Destroy()
		w.WriteHeader(http.StatusNoContent)
	})
	b := &browser{h: sessions.Handler(mux)}
	form := func(user string) string { return "/login?user=" + user }

	fmt.Println(b.do("POST", form("alice"), ""))
	fmt.Println(b.do("POST", "/cart", ""))
	fmt.Println(b.do("GET", "/me", ""))
	fmt.Println(b.do("POST", form("bob"), "")) // Bob, same browser, no logout
	fmt.Println(b.do("GET", "/me", ""))
	fmt.Println(b.do("POST", "/logout", ""))
	fmt.Println(b.do("GET", "/me", ""))
	// Output:
	// 200 welcome alice
	// 200
	// 200 alice cart: true
	// 200 welcome bob
	// 200 bob cart: false
	// 204
	// 401 not logged in
}

type Cart struct {
	Items []string `json:"items"`
}

// A cart as a struct, changed under Retry: if another instance changes the
// cart between this request's read and its save, the handler runs again on
// the fresh cart instead of overwriting it.
func ExampleManager_Retry() {
	sessions, err := session.New(memory.New(nil), nil)
	if err != nil {
		panic(err)
	}
	add := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		cart, _, err := session.Get[Cart](s, "cart")
		if err != nil {
			http.Error(w, "bad cart", http.StatusInternalServerError)
			return
		}
		cart.Items = append(cart.Items, r.URL.Query().Get("item"))
		if err := session.Put(s, "cart", cart); err != nil {
			http.Error(w, "bad cart", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(cart)
	})
	mux := http.NewServeMux()
	mux.Handle("POST /cart", sessions.Retry(add))
	b := &browser{h: sessions.Handler(mux)}

	fmt.Println(b.do("POST", "/cart?item=apple", ""))
	fmt.Println(b.do("POST", "/cart?item=pear", ""))
	// Output:
	// 200 {"items":["apple"]}
	// 200 {"items":["apple","pear"]}
}

// A flash message: set on one request, shown once on the next.
func ExamplePop() {
	sessions, err := session.New(memory.New(nil), nil)
	if err != nil {
		panic(err)
	}
	type flash struct{ Level, Text string }
	mux := http.NewServeMux()
	mux.HandleFunc("POST /save", func(w http.ResponseWriter, r *http.Request) {
		session.Put(session.From(r.Context()), "flash", flash{"info", "Saved."})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		if f, ok, _ := session.Pop[flash](session.From(r.Context()), "flash"); ok {
			fmt.Fprintf(w, "[%s] %s", f.Level, f.Text)
		}
	})
	b := &browser{h: sessions.Handler(mux)}

	fmt.Println(b.do("POST", "/save", ""))
	fmt.Println(b.do("GET", "/", ""))
	fmt.Println(b.do("GET", "/", ""))
	// Output:
	// 303
	// 200 [info] Saved.
	// 200
}

// Code outside an HTTP request — a background job, a websocket after its
// upgrade — loads a session by its token and commits with Save.
func ExampleManager_Load() {
	ctx := context.Background()
	sessions, err := session.New(memory.New(nil), nil)
	if err != nil {
		panic(err)
	}
	// A session started outside HTTP, say by a sign-in link: its token is
	// handed to the client by other means.
	s, err := sessions.Load(ctx, "")
	if err != nil {
		panic(err)
	}
	s.SetString("user", "alice")
	if err := s.Save(); err != nil {
		panic(err)
	}
	token := s.Token()

	// Later, a job finds the session by its token and changes it.
	job, err := sessions.Load(ctx, token)
	if err != nil {
		panic(err)
	}
	live, _ := job.Live()
	user, _ := job.GetString("user")
	job.SetInt("exports", 1)
	if err := job.Save(); err != nil {
		panic(err)
	}
	fmt.Println(live, user, len(token))

	again, _ := sessions.Load(ctx, token)
	n, _ := again.GetInt("exports")
	fmt.Println(n)
	// Output:
	// true alice 43
	// 1
}

// An API whose clients send the token in a header and never see a cookie.
func ExampleHeaderTransport() {
	sessions, err := session.New(memory.New(nil), &session.Options{
		Transport: session.HeaderTransport,
		Header:    "X-Session-Token",
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Login()
		s.SetString("user", "alice")
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		user, _ := session.From(r.Context()).GetString("user")
		io.WriteString(w, user)
	})
	h := sessions.Handler(mux)

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/login", nil))
	token := w.Header().Get("X-Session-Token")
	fmt.Println(len(token), w.Header().Get("Set-Cookie") == "")

	r := httptest.NewRequest("GET", "/me", nil)
	r.Header.Set("X-Session-Token", token)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Body.String())
	// Output:
	// 43 true
	// alice
}
