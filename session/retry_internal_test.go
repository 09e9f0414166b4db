package session

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/memory"
)

// A Retry handler that logs in moves the session to a new key; the lock it
// took under the old key is released and forgotten all the same, so the
// lock table holds only sessions with a handler in flight.
func TestRetryLoginReleasesItsLock(t *testing.T) {
	m, err := New(memory.New(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(h http.Handler, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/", nil)
		if token != "" {
			r.AddCookie(&http.Cookie{Name: "session", Value: token})
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	start := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		From(r.Context()).SetString("user", "anon")
	}))
	var tok string
	for _, c := range serve(start, "").Result().Cookies() {
		tok = c.Value
	}
	login := m.Retry(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := From(r.Context())
		s.Login()
		s.SetString("user", "alice")
	}))
	w := serve(login, tok)
	if w.Code != 200 || len(w.Result().Cookies()) != 1 || w.Result().Cookies()[0].Value == tok {
		t.Fatalf("login under Retry: %d %v", w.Code, w.Result().Cookies())
	}
	if n := m.locks.len(); n != 0 {
		t.Errorf("%d session locks left behind after the request", n)
	}
}

// The lock table excludes: handlers of one key never overlap, whichever of
// them made the entry or the channel, and the table is empty afterwards.
func TestSessionLocksExclude(t *testing.T) {
	var l sessionLocks
	var wg sync.WaitGroup
	inside, most := 0, 0 // guarded by the lock under test; -race checks it
	for range 8 {
		wg.Go(func() {
			for range 200 {
				var own sessionLock
				e, err := l.lock(context.Background(), "k", time.Hour, &own)
				if err != nil || e == nil {
					t.Errorf("lock: %v, %v", e, err)
					return
				}
				inside++
				most = max(most, inside)
				inside--
				l.unlock("k", e)
			}
		})
	}
	wg.Wait()
	if most != 1 || l.len() != 0 {
		t.Errorf("at most %d inside at once (want 1); %d entries left", most, l.len())
	}
}

// len counts the entries of every shard.
func (ls *sessionLocks) len() int {
	n := 0
	for i := range ls.shards {
		l := &ls.shards[i]
		l.mu.Lock()
		n += len(l.m)
		l.mu.Unlock()
	}
	return n
}
