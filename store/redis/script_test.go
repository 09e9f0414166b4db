package redis

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
)

// TestReplaceRetried runs the compare-and-swap twice with the same
// arguments, as go-redis does when it retries a call whose reply was lost:
// the second run must answer success, not a conflict with its own write.
func TestReplaceRetried(t *testing.T) {
	ctx := t.Context()
	opts, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opts)
	defer client.Close()
	s, _ := New(client, &Options{KeyPrefix: "stateless-test:retry:" + time.Now().Format(time.RFC3339Nano) + ":"})
	v1, err := s.Create(ctx, "k", []byte("one"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v2 := store.NewVersion()
	for attempt := range 2 {
		code, err := s.compareAndSwap(ctx, "k", []byte("two"), time.Minute, v1, v2)
		if err != nil || code != 1 {
			t.Fatalf("attempt %d of one Replace = (%d, %v), want (1, nil)", attempt+1, code, err)
		}
	}
	// Another writer with the old version still conflicts.
	if code, err := s.compareAndSwap(ctx, "k", []byte("three"), time.Minute, v1, store.NewVersion()); err != nil || code != 2 {
		t.Fatalf("Replace with the old version after the retried one = (%d, %v), want (2, nil)", code, err)
	}
	rec, err := s.Get(ctx, "k")
	if err != nil || rec.Version != v2 || string(rec.Value) != "two" {
		t.Fatalf("Get = (%q, %d, %v), want (\"two\", %d)", rec.Value, rec.Version, err, v2)
	}
}
