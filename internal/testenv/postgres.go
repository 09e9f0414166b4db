package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

var postgresOnce struct {
	sync.Once
	url string
	err error
}

// PostgresURL returns the URL of a Postgres server,
// "postgres://user:pass@127.0.0.1:PORT/db?sslmode=disable":
// $TEST_POSTGRES_URL when set, else a container (image $TEST_POSTGRES_IMAGE,
// default postgres:17) started once per test binary and already accepting
// connections, else it skips the test (fails it under TEST_REQUIRE_STORES=1).
//
// The database is shared: tests must use their own tables or schemas.
// The URL holds a password; log it only through store.RedactURL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TEST_POSTGRES_URL"); u != "" {
		return u
	}
	postgresOnce.Do(func() { postgresOnce.url, postgresOnce.err = startPostgres(t) })
	check(t, postgresOnce.err)
	return postgresOnce.url
}

func startPostgres(t testing.TB) (string, error) {
	t.Helper()
	if err := needDocker("TEST_POSTGRES_URL", "postgres://user:pass@127.0.0.1:5432/db?sslmode=disable"); err != nil {
		return "", err
	}
	c, err := startContainer(t, "postgres", "TEST_POSTGRES_IMAGE", "postgres:17", func(ctx context.Context, image string) (*tcpostgres.PostgresContainer, error) {
		return runPostgres(ctx, func() (*tcpostgres.PostgresContainer, error) {
			return tcpostgres.Run(ctx, image,
				tcpostgres.WithDatabase("stateless"),
				tcpostgres.WithUsername("stateless"),
				tcpostgres.WithPassword("stateless"),
				// The module waits for nothing; during initdb the server listens
				// on its socket only, so the TCP port opens with the real server.
				testcontainers.WithWaitStrategy(wait.ForListeningPort("5432/tcp").WithStartupTimeout(2*time.Minute)),
			)
		})
	})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := postgresAddress(ctx, c)
	if err != nil {
		return "", err
	}
	if err := waitPostgres(ctx, url); err != nil {
		return "", err
	}
	return url, nil
}

// portClashAttempts is how many containers runPostgres starts, at most,
// when the engine cannot publish the host port it picked.
const portClashAttempts = 3

// runPostgres calls run, which starts a container, and calls it again, with
// a fresh container, when the start failed because the engine could not
// bind the host port it picked for 5432/tcp: the engine takes ports from
// the kernel's ephemeral range (32768 and up), where any process's
// listeners and outgoing connections may hold one at that moment (other
// test binaries running alongside hold many). The failed container is
// removed.
func runPostgres(ctx context.Context, run func() (*tcpostgres.PostgresContainer, error)) (*tcpostgres.PostgresContainer, error) {
	for attempt := 1; ; attempt++ {
		c, err := run()
		if err == nil || attempt == portClashAttempts || ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			return c, err
		}
		if c != nil {
			if terr := testcontainers.TerminateContainer(c); terr != nil {
				return c, errors.Join(err, terr)
			}
		}
	}
}

// postgresAddress returns the container's URL. When the engine's inspect
// data lacks the mapped port (testcontainers then says port "5432/tcp" not
// found, as a run once did), it asks again until ctx ends; and since a
// container that has stopped has no ports at all, it reports one as
// stopped, with its exit status, rather than as a missing port.
func postgresAddress(ctx context.Context, c *tcpostgres.PostgresContainer) (string, error) {
	for {
		url, err := c.ConnectionString(ctx, "sslmode=disable")
		if err == nil {
			return url, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("postgres container address: %w", err)
		}
		if st, serr := c.State(ctx); serr == nil && !st.Running {
			return "", fmt.Errorf("postgres container address: %w: the container is %s (exit code %d, OOM-killed %v, error %q)",
				err, st.Status, st.ExitCode, st.OOMKilled, st.Error)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("postgres container address: %w (still, when giving up: %w)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitPostgres retries a first connection: the port opens a moment before
// the server accepts.
func waitPostgres(ctx context.Context, url string) error {
	for {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(context.Background())
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres container never accepted a connection: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
