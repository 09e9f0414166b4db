package session_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store/memory"
)

// discard is a ResponseWriter that costs nothing, so the benchmarks
// measure the middleware and not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func (d *discard) reset() {
	for k := range d.h {
		delete(d.h, k)
	}
}

func BenchmarkMiddleware(b *testing.B) {
	m, err := session.New(memory.New(nil), nil)
	if err != nil {
		b.Fatal(err)
	}
	read := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, _ := session.From(r.Context()).GetString("name")
		w.Write([]byte(name))
	}))
	rmw := m.Retry(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		n, _ := s.GetInt("visits")
		s.SetInt("visits", n+1)
		w.Write([]byte("ok"))
	}))
	unused := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	login := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Login()
		s.SetString("name", "Alice")
		s.SetInt("visits", 0)
	}))
	rec := httptest.NewRecorder()
	login.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	var tok string
	for _, c := range rec.Result().Cookies() {
		tok = c.Value
	}
	if tok == "" {
		b.Fatal("login set no cookie")
	}
	withToken := httptest.NewRequest("GET", "/", nil)
	withToken.AddCookie(&http.Cookie{Name: "session", Value: tok})

	run := func(name string, h http.Handler, r *http.Request) {
		b.Run(name, func(b *testing.B) {
			w := &discard{h: http.Header{}}
			h.ServeHTTP(w, r)
			if name == "Read" && w.h.Get("Vary") == "" {
				b.Fatal("the read loaded no session")
			}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, r)
			}
		})
	}
	run("NoSessionUsed", unused, withToken)
	run("Read", read, withToken)
	run("ReadModifyWrite", rmw, withToken)
	run("Login", login, httptest.NewRequest("POST", "/", nil))
}
