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
type hung struct{ store.SessionStore }

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
