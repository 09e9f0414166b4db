package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
	"github.com/stateless-go/stateless/store/storetest"
)

// scriptStore is a store with a fresh prefix over a client of its own of
// the shared test server.
func scriptStore(t *testing.T) (*Store, *goredis.Client) {
	t.Helper()
	opts, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	s, err := New(client, &Options{KeyPrefix: "stateless-test:" + storetest.RandomPrefix() + ":"})
	if err != nil {
		t.Fatal(err)
	}
	return s, client
}

// TestCreateRetried runs the create script twice with the same arguments,
// as go-redis does when it retries a call whose first attempt was applied
// and whose reply was lost: the second run must answer success, not
// store.ErrExists for the call's own record, and must not write again.
// Another Create of the key still finds it taken.
func TestCreateRetried(t *testing.T) {
	ctx := t.Context()
	s, client := scriptStore(t)
	v := driver.NewVersion()
	if code, err := s.runCreate(ctx, "k", []byte("one"), time.Minute, v); err != nil || code != scriptWrote {
		t.Fatalf("first attempt of one Create = (%d, %v), want (%d, nil)", code, err, scriptWrote)
	}
	// A retry with a shorter ttl shows whether it wrote again: it must not.
	if code, err := s.runCreate(ctx, "k", []byte("one"), time.Second, v); err != nil || code != scriptAlready {
		t.Fatalf("retried attempt of one Create = (%d, %v), want (%d, nil)", code, err, scriptAlready)
	}
	if pttl := client.PTTL(ctx, s.prefix+"k").Val(); pttl <= time.Second {
		t.Errorf("PTTL after the retried attempt = %v, want the first attempt's minute: the retry wrote again", pttl)
	}
	rec, err := s.Get(ctx, "k")
	if err != nil || rec.Version != v || string(rec.Value) != "one" {
		t.Fatalf("Get = (%q, %d, %v), want (\"one\", %d)", rec.Value, rec.Version, err, v)
	}
	// Another Create, with its own version, finds the key taken.
	if code, err := s.runCreate(ctx, "k", []byte("two"), time.Minute, driver.NewVersion()); err != nil || code != scriptOther {
		t.Errorf("another Create's script = (%d, %v), want (%d, nil)", code, err, scriptOther)
	}
	if _, err := s.Create(ctx, "k", []byte("two"), time.Minute); !errors.Is(err, store.ErrExists) {
		t.Errorf("another Create = %v, want store.ErrExists", err)
	}
	// A key of another type is a key that exists, not an error.
	if err := client.HSet(ctx, s.prefix+"hash", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "hash", []byte("x"), time.Minute); !errors.Is(err, store.ErrExists) {
		t.Errorf("Create over a hash = %v, want store.ErrExists", err)
	}
}

// TestReplaceRetried runs the compare-and-swap twice with the same
// arguments, as go-redis does when it retries a call (or replays a
// pipeline) whose first attempt wrote and whose reply was lost: the second
// run must answer success, not a conflict with its own write, and must not
// write again.
func TestReplaceRetried(t *testing.T) {
	ctx := t.Context()
	s, client := scriptStore(t)
	v1, err := s.Create(ctx, "k", []byte("one"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v2 := driver.NewVersion()
	if code, err := s.runReplace(ctx, "k", []byte("two"), time.Minute, v1, v2); err != nil || code != scriptWrote {
		t.Fatalf("first attempt of one Replace = (%d, %v), want (%d, nil)", code, err, scriptWrote)
	}
	if code, err := s.runReplace(ctx, "k", []byte("two"), time.Second, v1, v2); err != nil || code != scriptAlready {
		t.Fatalf("retried attempt of one Replace = (%d, %v), want (%d, nil)", code, err, scriptAlready)
	}
	if pttl := client.PTTL(ctx, s.prefix+"k").Val(); pttl <= time.Second {
		t.Errorf("PTTL after the retried attempt = %v, want the first attempt's minute: the retry wrote again", pttl)
	}
	// Another writer with the old version still conflicts.
	if code, err := s.runReplace(ctx, "k", []byte("three"), time.Minute, v1, driver.NewVersion()); err != nil || code != scriptOther {
		t.Fatalf("Replace with the old version after the retried one = (%d, %v), want (%d, nil)", code, err, scriptOther)
	}
	if _, err := s.Replace(ctx, "k", []byte("three"), time.Minute, v1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Replace with the old version = %v, want store.ErrConflict", err)
	}
	rec, err := s.Get(ctx, "k")
	if err != nil || rec.Version != v2 || string(rec.Value) != "two" {
		t.Fatalf("Get = (%q, %d, %v), want (\"two\", %d)", rec.Value, rec.Version, err, v2)
	}
}

// forgetScripts is a go-redis hook that makes every EVALSHA name a script
// no server has loaded, so the server answers NOSCRIPT exactly as one that
// lost its script cache does. The tests use it instead of SCRIPT FLUSH,
// which would empty the script cache of the whole server: a server given
// in TEST_REDIS_URL may be a developer's own, serving others.
type forgetScripts struct{ renamed atomic.Int64 }

// unknownSHA is the SHA1 of a script no one sends.
var unknownSHA = func() string {
	sum := sha1.Sum([]byte("-- never loaded: " + storetest.RandomPrefix()))
	return hex.EncodeToString(sum[:])
}()

func (h *forgetScripts) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *forgetScripts) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.rename(cmd)
		return next(ctx, cmd)
	}
}

func (h *forgetScripts) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, cmd := range cmds {
			h.rename(cmd)
		}
		return next(ctx, cmds)
	}
}

func (h *forgetScripts) rename(cmd goredis.Cmder) {
	if args := cmd.Args(); len(args) > 1 && cmd.Name() == "evalsha" {
		args[1] = unknownSHA
		h.renamed.Add(1)
	}
}

// TestScriptsNotCached checks the fallback from EVALSHA to EVAL of
// Create, Replace and CompareAndDelete when the server does not have the script cached (after a
// restart, a failover or a SCRIPT FLUSH).
func TestScriptsNotCached(t *testing.T) {
	ctx := t.Context()
	s, client := scriptStore(t)
	hook := &forgetScripts{}
	client.AddHook(hook)
	v, err := s.Create(ctx, "k", []byte("1"), time.Minute)
	if err != nil {
		t.Fatalf("Create without the script cached: %v", err)
	}
	if _, err := s.Create(ctx, "k", []byte("1"), time.Minute); !errors.Is(err, store.ErrExists) {
		t.Errorf("second Create without the script cached = %v, want store.ErrExists", err)
	}
	v2, err := s.Replace(ctx, "k", []byte("2"), time.Minute, v)
	if err != nil {
		t.Fatalf("Replace without the script cached: %v", err)
	}
	if _, err := s.Replace(ctx, "k", []byte("3"), time.Minute, v); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale Replace without the script cached = %v, want store.ErrConflict", err)
	}
	if rec, err := s.Get(ctx, "k"); err != nil || rec.Version != v2 || string(rec.Value) != "2" {
		t.Errorf("Get = (%q, %d, %v), want (\"2\", %d)", rec.Value, rec.Version, err, v2)
	}
	if err := s.CompareAndDelete(ctx, "k", v); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale CompareAndDelete without the script cached = %v, want store.ErrConflict", err)
	}
	if err := s.CompareAndDelete(ctx, "k", v2); err != nil {
		t.Errorf("CompareAndDelete without the script cached: %v", err)
	}
	if n := hook.renamed.Load(); n != 6 {
		t.Errorf("the hook saw %d EVALSHAs, want 6", n)
	}
}

// TestNoScriptSHA checks that unknownSHA is one the server really lacks.
func TestNoScriptSHA(t *testing.T) {
	_, client := scriptStore(t)
	err := client.EvalSha(t.Context(), unknownSHA, nil).Err()
	if !goredis.HasErrorPrefix(err, "NOSCRIPT") {
		t.Fatalf("EVALSHA %s = %v, want NOSCRIPT", unknownSHA, err)
	}
}
