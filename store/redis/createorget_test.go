package redis

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
	"github.com/stateless-go/stateless/store/storetest"
)

// TestCreateOrGetScript runs the suite with CreateOrGet on its script, as
// against a Redis older than 7.0, which refuses SET NX GET.
func TestCreateOrGetScript(t *testing.T) {
	t.Parallel()
	opts, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	storetest.Run(t, func(ctx context.Context) (store.Store, error) {
		s, err := New(client, &Options{KeyPrefix: "stateless-test:" + storetest.RandomPrefix() + ":"})
		if err == nil {
			s.noSetNXGet.Store(true)
		}
		return s, err
	}, nil)
}

// TestSetNXGetRetried sends one CreateOrGet's SET NX GET twice, as go-redis
// does when the first attempt's reply was lost: the second finds the
// call's own record and must answer it created, not taken.
func TestSetNXGetRetried(t *testing.T) {
	ctx := t.Context()
	s, _ := scriptStore(t)
	v := driver.NewVersion()
	rec := make([]byte, versionLen+3)
	copy(rec[versionLen:], "one")
	for i := range versionLen {
		rec[i] = byte(v >> (8 * (versionLen - 1 - i)))
	}
	k := s.prefix + "k"
	for attempt := 1; attempt <= 2; attempt++ {
		r, created, ok, err := s.setNXGet(ctx, k, rec, time.Minute.Milliseconds(), v)
		if !ok || err != nil || !created || r.Version != v {
			t.Fatalf("attempt %d: created %v, version %d, ok %v, err %v; want created with %d", attempt, created, r.Version, ok, err, v)
		}
	}
	// Another call, with its own version, reads the record.
	r, created, err := s.CreateOrGet(ctx, "k", []byte("two"), time.Minute)
	if err != nil || created || r.Version != v || string(r.Value) != "one" {
		t.Fatalf("CreateOrGet of the taken key = {%q %d} created %v, %v; want {\"one\" %d}", r.Value, r.Version, created, err, v)
	}
}
