// Package testenv gives tests real Redis, Memcached and Postgres servers.
//
// Every backend is found the same way, in this order:
//
//  1. an address the developer gave: TEST_REDIS_URL, TEST_REDIS_CLUSTER_ADDRS,
//     TEST_REDIS_SENTINEL_URL, TEST_MEMCACHE_URL or TEST_POSTGRES_URL;
//  2. else a server the harness starts: a container through testcontainers-go
//     when a Docker engine answers (image from TEST_REDIS_IMAGE,
//     TEST_MEMCACHE_IMAGE or TEST_POSTGRES_IMAGE, default the official one;
//     an image the engine does not have is pulled only if TEST_PULL_IMAGES=1), or
//     for the Redis Cluster and Sentinel, local redis-server processes (three
//     cluster masters; a master and a sentinel);
//  3. else the test is skipped with a message naming both ways to get one.
//
// TEST_REQUIRE_STORES=1 turns that skip into a failure, so CI cannot pass by
// skipping. A server that should have started but did not (Docker answered,
// the container failed) is always a failure, never a skip.
//
// A server is started at most once per test binary, on first use, and shared
// by every test in the package: tests isolate themselves by key prefix,
// table or schema. The package's TestMain must be
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// so that what the harness started is stopped when the tests end, pass or
// fail. (A binary killed by a panic or a -timeout cannot clean up; on a
// laptop testcontainers' reaper removes its containers, and CI removes
// containers labelled org.testcontainers=true when it exits. On Linux the
// local redis-server processes die with the binary.)
package testenv

import (
	"context"
	"errors"
	"fmt"
	cerrdefs "github.com/containerd/errdefs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// startTimeout bounds one server start, image build excluded: generous,
// since CI machines are slow and shared.
const startTimeout = 3 * time.Minute

var (
	mainCalled atomic.Bool

	cleanupMu sync.Mutex
	cleanups  []func() error // run in reverse order by Main
)

// Main runs the tests, then stops every container and process this binary
// started, then exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	announceSkips()
	if err := stopAll(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: cleanup: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// onStop registers f to run when Main finishes.
func onStop(f func() error) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

func stopAll() error {
	cleanupMu.Lock()
	fs := cleanups
	cleanups = nil
	cleanupMu.Unlock()
	var errs []error
	for i := len(fs) - 1; i >= 0; i-- {
		errs = append(errs, fs[i]())
	}
	return errors.Join(errs...)
}

// unavailableError means no way to reach a backend was offered: the test
// skips, or fails under TEST_REQUIRE_STORES=1. Any other error fails it.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }

func unavailable(format string, args ...any) error {
	return &unavailableError{msg: fmt.Sprintf(format, args...)}
}

// requireStores reports whether TEST_REQUIRE_STORES asks for real servers.
func requireStores() bool {
	switch os.Getenv("TEST_REQUIRE_STORES") {
	case "", "0", "false":
		return false
	}
	return true
}

// check ends the test unless err is nil: a skip for unavailableError (a
// failure under TEST_REQUIRE_STORES), a failure for anything else.
func check(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var u *unavailableError
	if !errors.As(err, &u) {
		t.Fatalf("testenv: %v", err)
	}
	if requireStores() {
		t.Fatalf("testenv: %v (failing, not skipping, because TEST_REQUIRE_STORES is set)", err)
	}
	noteSkip(strings.ReplaceAll(err.Error(), "\n", "; "))
	t.Skipf("testenv: %v", err)
}

var (
	skipsMu sync.Mutex
	skips   = map[string]int{} // reason → tests skipped for it
)

// noteSkip counts a skip for announceSkips. (This package's own tests,
// which drive check with fake tests, replace it.)
var noteSkip = func(reason string) {
	skipsMu.Lock()
	skips[reason]++
	skipsMu.Unlock()
}

// announceSkips says, in one line per reason, that tests of this package
// skipped for want of a server, so that "go test ./..." without -v (which
// shows only "ok" for a passing package) does not hide it. The line goes to
// the go command's standard error where it can be found (see
// goCommandStderr), else to this binary's.
func announceSkips() {
	skipsMu.Lock()
	defer skipsMu.Unlock()
	if len(skips) == 0 {
		return
	}
	w := os.Stderr
	if !testing.Verbose() {
		if f := goCommandStderr(); f != nil {
			defer f.Close()
			w = f
		}
	}
	pkg := packagePath()
	for reason, n := range skips {
		fmt.Fprintf(w, "testenv: %s: %d test(s) SKIPPED: %s (TEST_REQUIRE_STORES=1 makes this a failure)\n", pkg, n, reason)
	}
}

// packagePath names the package under test: its directory relative to the
// module root (go test runs a test binary in its package's directory).
func packagePath() string {
	dir, err := os.Getwd()
	if err != nil {
		return "?"
	}
	for root := dir; ; {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			if rel, err := filepath.Rel(root, dir); err == nil {
				return "./" + filepath.ToSlash(rel)
			}
			return dir
		}
		parent := filepath.Dir(root)
		if parent == root {
			return dir
		}
		root = parent
	}
}

// dockerErr reports, once per binary, why no Docker engine can be used (nil
// when one answers).
var dockerErr = sync.OnceValue(func() (err error) {
	defer func() {
		// testcontainers panics on some broken Docker configurations.
		if r := recover(); r != nil {
			err = fmt.Errorf("docker: %v", r)
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return p.Health(ctx) // Health closes p
})

// imageAvailable refuses to start a container from an image the engine does
// not have unless TEST_PULL_IMAGES=1: tests do not reach for a registry on
// their own (many machines have none, and a pull is a download the person
// running go test did not ask for).
func imageAvailable(image, imageEnv string) error {
	if v := os.Getenv("TEST_PULL_IMAGES"); v != "" && v != "0" && v != "false" {
		return nil
	}
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return err
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err = p.Client().ImageInspect(ctx, image)
	if cerrdefs.IsNotFound(err) {
		return unavailable("image %s is not on this Docker engine: pull it (docker pull %s) or set TEST_PULL_IMAGES=1 to let the tests pull it, "+
			"or build the registry-free look-alikes with .ci/images/build-lookalike-images.sh and set %s (e.g. lookalike/…)", image, image, imageEnv)
	}
	return err
}

// needDocker returns an unavailableError naming both ways to get a backend
// when no Docker engine answers, and refuses to start a container in a
// binary whose TestMain would not stop it.
func needDocker(envVar, example string) error {
	if err := dockerErr(); err != nil {
		why := strings.ReplaceAll(err.Error(), "\n", "; ")
		return unavailable("set %s (e.g. %s) or run a Docker engine (no engine answered: %s)", envVar, example, why)
	}
	return needMain()
}

func needMain() error {
	if !mainCalled.Load() {
		return errors.New("TestMain must call testenv.Main(m), which stops the servers the harness starts")
	}
	return nil
}

// imageFor is the image named by env, or def.
func imageFor(env, def string) string {
	if img := os.Getenv(env); img != "" {
		return img
	}
	return def
}

// startContainer runs start with the image named by $imageEnv (default
// def) under the start timeout, logs it, and makes sure Main terminates the
// container even when start failed half way.
func startContainer[C testcontainers.Container](t testing.TB, what, imageEnv, def string, start func(ctx context.Context, image string) (C, error)) (C, error) {
	t.Helper()
	image := imageFor(imageEnv, def)
	if err := imageAvailable(image, imageEnv); err != nil {
		var zero C
		return zero, err
	}
	t.Logf("testenv: starting %s container from image %s (shared by this test binary)", what, image)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var (
		c   C
		err error
	)
	for attempt := 1; ; attempt++ {
		c, err = start(ctx, image)
		onStop(func() error { return testcontainers.TerminateContainer(c) })
		// Docker picks the host port from the same range as the kernel's
		// ephemeral ports; when a busy machine's client socket holds the
		// one it picked, the start fails. Another start picks another.
		if err == nil || attempt == 3 || !portTaken(err) {
			break
		}
		t.Logf("testenv: %s container: its host port was taken meanwhile; starting another (attempt %d)", what, attempt+1)
	}
	if err != nil {
		return c, fmt.Errorf("start %s container from image %s (%s picks another): %w", what, image, imageEnv, err)
	}
	t.Logf("testenv: %s container ready in %v", what, time.Since(began).Round(time.Millisecond))
	return c, nil
}

// portTaken reports whether a container failed to start because the host
// port Docker chose for it was in use.
func portTaken(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "address already in use") || strings.Contains(msg, "port is already allocated")
}
