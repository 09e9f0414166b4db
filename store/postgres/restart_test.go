package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/postgres"
)

// TestRestart restarts a Postgres container of its own under a Store and
// finds every session written before the restart intact, read back
// through the same Store, whose pool reconnects by itself.
func TestRestart(t *testing.T) {
	if os.Getenv("TEST_POSTGRES_URL") != "" {
		t.Skip("TEST_POSTGRES_URL is set: this test restarts a Postgres container of its own, and cannot restart a server it did not start; unset it (with Docker running) to run it")
	}
	testenv.PostgresURL(t) // skips, or fails under TEST_REQUIRE_STORES, without Docker

	// Docker may publish a random port on a different number after a
	// restart; pgx must find the server where it was, so the port is fixed.
	port := freePort(t)
	image := os.Getenv("TEST_POSTGRES_IMAGE")
	if image == "" {
		image = "postgres:17"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	c, err := tcpostgres.Run(ctx, image,
		tcpostgres.WithDatabase("restart"),
		tcpostgres.WithUsername("restart"),
		tcpostgres.WithPassword("restart"),
		// The module's default command turns fsync off; durability is
		// what this test is about.
		testcontainers.WithCmd("postgres"),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{
				network.MustParsePort("5432/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(port)}},
			}
		}),
		testcontainers.WithWaitStrategy(wait.ForListeningPort("5432/tcp").WithStartupTimeout(2*time.Minute)),
	)
	t.Cleanup(func() {
		if err := testcontainers.TerminateContainer(c); err != nil {
			t.Errorf("terminate the restart container: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("start a postgres container from %s: %v", image, err)
	}
	url := fmt.Sprintf("postgres://restart:restart@127.0.0.1:%d/restart?sslmode=disable&connect_timeout=5", port)

	var s *postgres.Store
	retry(t, ctx, "first connection", func() error {
		var err error
		s, err = postgres.Open(ctx, url)
		if err == nil {
			err = s.Ping(ctx)
		}
		if err != nil && s != nil {
			s.Close()
		}
		return err
	})
	defer s.Close()

	const n = 1000
	versions := make([]uint64, n)
	for i := range n {
		v, err := s.Create(ctx, key(i), value(i), time.Hour)
		if err != nil {
			t.Fatalf("Create #%d: %v", i, err)
		}
		versions[i] = v
	}
	// One session expires during the restart, one is touched and one
	// replaced just before it: the state after must be exactly the state
	// before.
	if err := s.Touch(ctx, key(0), 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if versions[1], err = s.Replace(ctx, key(1), []byte("replaced"), time.Hour, versions[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "short", nil, time.Millisecond); err != nil {
		t.Fatal(err)
	}

	stop := 10 * time.Second
	began := time.Now()
	if err := c.Stop(ctx, &stop); err != nil {
		t.Fatalf("stop the container: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatalf("Ping with the server stopped succeeded")
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start the container again: %v", err)
	}
	t.Logf("restarted the container in %v", time.Since(began).Round(time.Millisecond))

	// The same Store, and so the same pool: its connections died with the
	// server, and pgx replaces them by itself. The loop allows for the
	// moment the port is open before the server accepts.
	var failures int
	retry(t, ctx, "first read after the restart", func() error {
		_, err := s.Get(ctx, key(2))
		if err != nil {
			failures++
		}
		return err
	})
	t.Logf("%d failed calls while the server came back", failures)

	for i := range n {
		rec, err := s.Get(ctx, key(i))
		if err != nil {
			t.Fatalf("session %d after the restart: %v", i, err)
		}
		want := value(i)
		if i == 1 {
			want = []byte("replaced")
		}
		if string(rec.Value) != string(want) || rec.Version != versions[i] {
			t.Fatalf("session %d after the restart = (%q, version %d), want (%q, version %d)", i, rec.Value, rec.Version, want, versions[i])
		}
	}
	if _, err := s.Get(ctx, "short"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a session whose ttl ran out = %v, want store.ErrNotFound", err)
	}
	// Versions survived too: compare-and-swap goes on where it left off.
	if _, err := s.Replace(ctx, key(3), []byte("after"), time.Hour, versions[3]); err != nil {
		t.Errorf("Replace with a version from before the restart: %v", err)
	}
	if _, err := s.Create(ctx, key(4), nil, time.Hour); !errors.Is(err, store.ErrExists) {
		t.Errorf("Create over a session from before the restart = %v, want store.ErrExists", err)
	}
}

func key(i int) string   { return fmt.Sprintf("session-%04d", i) }
func value(i int) []byte { return fmt.Appendf(nil, `{"name":"user %d","visits":%d}`, i, i*7) }

// retry calls f until it succeeds, for up to a minute.
func retry(t *testing.T, ctx context.Context, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: still failing after a minute: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
