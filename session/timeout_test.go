package session_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

// hung is a store whose every operation waits for its context to end, as
// a client library does against a frozen server.
type hung struct{ store.Store }

func (hung) Get(ctx context.Context, key string) (store.Record, error) {
	<-ctx.Done()
	return store.Record{}, ctx.Err()
}

func (hung) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func (hung) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func (hung) Delete(ctx context.Context, key string) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestHungStoreAnswersWithinStoreTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		good := memory.New(nil)
		tok := login(t, app(mustManager(t, good, nil)), "alice")
		h := app(mustManager(t, hung{good}, &session.Options{StoreTimeout: 300 * time.Millisecond}))
		for _, c := range []struct {
			method, target string
			want           int
		}{
			{"GET", "/whoami", http.StatusUnauthorized}, // a read: no session
			{"POST", "/login?user=bob", http.StatusServiceUnavailable},
			{"POST", "/logout", http.StatusServiceUnavailable},
		} {
			start := time.Now()
			w := do(t, h, c.method, c.target, tok)
			if took := time.Since(start); took != 300*time.Millisecond {
				t.Errorf("%s %s took %v, want the store timeout, 300ms", c.method, c.target, took)
			}
			if w.Code != c.want {
				t.Errorf("%s %s: status %d, want %d; body %q", c.method, c.target, w.Code, c.want, w.Body)
			}
		}
	})
}

func TestStoreTimeoutDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := app(mustManager(t, hung{memory.New(nil)}, nil))
		start := time.Now()
		if w := do(t, h, "POST", "/login?user=bob", ""); w.Code != http.StatusServiceUnavailable {
			t.Errorf("login on a hung store: %d", w.Code)
		}
		if took := time.Since(start); took != session.DefaultStoreTimeout {
			t.Errorf("took %v, want DefaultStoreTimeout %v", took, session.DefaultStoreTimeout)
		}
	})
}

// deadlineSpy records whether Get's context had a deadline.
type deadlineSpy struct {
	store.Store
	had chan bool
}

func (d deadlineSpy) Get(ctx context.Context, key string) (store.Record, error) {
	_, ok := ctx.Deadline()
	d.had <- ok
	return d.Store.Get(ctx, key)
}

type nonBlockingSpy struct{ deadlineSpy }

func (nonBlockingSpy) NonBlocking() {}

// Every operation on a store that may wait gets a deadline; one on a
// store.NonBlocking store does not need one and gets none.
func TestStoreTimeoutOnlyWhereAStoreCanWait(t *testing.T) {
	mem := memory.New(nil)
	tok := login(t, app(mustManager(t, mem, nil)), "alice")
	for _, c := range []struct {
		name string
		st   store.Store
		want bool
	}{
		{"blocking", deadlineSpy{mem, make(chan bool, 1)}, true},
		{"non-blocking", nonBlockingSpy{deadlineSpy{mem, make(chan bool, 1)}}, false},
	} {
		if u, code := whoami(t, app(mustManager(t, c.st, nil)), tok); code != 200 || u != "alice" {
			t.Fatalf("%s: whoami %d %q", c.name, code, u)
		}
		var had bool
		switch st := c.st.(type) {
		case deadlineSpy:
			had = <-st.had
		case nonBlockingSpy:
			had = <-st.had
		}
		if had != c.want {
			t.Errorf("%s store: Get had a deadline: %v, want %v", c.name, had, c.want)
		}
	}
}
