package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// The images, by environment variable, as internal/testenv names them;
// TEST_HAPROXY_IMAGE is this package's own. The defaults of the stores are
// the official images, as testenv's are; HAProxy's is the look-alike that
// deploy/compose.yaml defaults to.
const (
	envRedisImage    = "TEST_REDIS_IMAGE"
	envMemcacheImage = "TEST_MEMCACHE_IMAGE"
	envPostgresImage = "TEST_POSTGRES_IMAGE"
	envHAProxyImage  = "TEST_HAPROXY_IMAGE"
)

var imageDefaults = map[string]string{
	envRedisImage:    "redis:7",
	envMemcacheImage: "memcached:1.6",
	envPostgresImage: "postgres:17",
	envHAProxyImage:  "lookalike/haproxy:3.0",
}

// imageFor is the image named by the environment variable env, or its
// default.
func imageFor(env string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return imageDefaults[env]
}

// requireStores reports whether TEST_REQUIRE_STORES asks for real servers,
// read as internal/testenv reads it.
func requireStores() bool {
	switch os.Getenv("TEST_REQUIRE_STORES") {
	case "", "0", "false":
		return false
	}
	return true
}

// unavailable skips the test for want of something only the machine can
// give (a Docker engine, an image), or fails it under TEST_REQUIRE_STORES,
// as internal/testenv does.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if requireStores() {
		t.Fatalf("cluster: %s (failing, not skipping, because TEST_REQUIRE_STORES is set)", msg)
	}
	t.Skipf("cluster: %s (TEST_REQUIRE_STORES=1 makes this a failure)", msg)
}

// dockerClient returns a client of the engine testcontainers uses, or skips
// (fails) the test when none answers.
func dockerClient(t *testing.T) *testcontainers.DockerClient {
	t.Helper()
	var cli *testcontainers.DockerClient
	err := func() (err error) {
		defer func() {
			// testcontainers panics on some broken Docker configurations.
			if r := recover(); r != nil {
				err = fmt.Errorf("docker: %v", r)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		cli, err = testcontainers.NewDockerClientWithOpts(ctx)
		if err != nil {
			return err
		}
		_, err = cli.Ping(ctx, client.PingOptions{})
		return err
	}()
	if err != nil {
		if cli != nil {
			cli.Close()
		}
		unavailable(t, "no Docker engine answered (%s)", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// needImages skips (fails) the test unless the engine has every image
// named by the variables envs: like internal/testenv, the tests never
// pull.
func needImages(t *testing.T, cli *testcontainers.DockerClient, envs ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, env := range envs {
		image := imageFor(env)
		_, err := cli.ImageInspect(ctx, image)
		if cerrdefs.IsNotFound(err) {
			unavailable(t, "image %s is not on this Docker engine: build the registry-free look-alikes with "+
				".ci/images/build-lookalike-images.sh and set %s (e.g. %s), or pull %s", image, env, lookalike(env), image)
		}
		if err != nil {
			t.Fatalf("cluster: inspecting image %s: %v", image, err)
		}
	}
}

// haveImage reports whether the engine has the image named by env.
func haveImage(cli *testcontainers.DockerClient, env string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := cli.ImageInspect(ctx, imageFor(env))
	return err == nil
}

func lookalike(env string) string {
	switch env {
	case envRedisImage:
		return "lookalike/redis:7"
	case envMemcacheImage:
		return "lookalike/memcached:1.6"
	case envPostgresImage:
		return "lookalike/postgres:17"
	}
	return "lookalike/haproxy:3.0"
}

// moduleRoot is the directory of the module's go.mod, two levels up.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("cluster: no go.mod two levels above the package: %v", err)
	}
	return root
}

// buildGreeterImage builds the Greeter's image as
// examples/greeter/build-image.sh does, offline: a static binary compiled
// here, the CA bundle and examples/greeter/Dockerfile (FROM scratch) in a
// temporary context. The image has a tag of its own and is removed when
// the test ends.
func buildGreeterImage(t *testing.T, cli *testcontainers.DockerClient) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		unavailable(t, "no go tool in PATH to build the greeter binary")
	}
	root := moduleRoot(t)
	dir := t.TempDir()
	began := time.Now()
	build := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "greeter"), "./examples/greeter")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cluster: go build ./examples/greeter: %v\n%s", err, out)
	}
	df, err := os.ReadFile(filepath.Join(root, "examples", "greeter", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	// The stores here are reached in plain text, so the bundle only has to
	// exist; the machine's is used when there is one.
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		ca = nil
	}
	if err := os.WriteFile(filepath.Join(dir, "ca-certificates.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}

	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	defer p.Close()
	tag := fmt.Sprintf("cluster-test-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log strings.Builder
	image, err := p.BuildImage(ctx, &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		Context:        dir,
		Repo:           "stateless/greeter",
		Tag:            tag,
		BuildLogWriter: &log,
	}})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, "stateless/greeter:"+tag, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cluster: removing image stateless/greeter:%s: %v", tag, err)
		}
	})
	if err != nil {
		t.Fatalf("cluster: docker build of examples/greeter/Dockerfile: %v\n%s", err, log.String())
	}
	inspect, err := cli.ImageInspect(ctx, image)
	if err != nil {
		t.Fatalf("cluster: inspecting the image just built: %v", err)
	}
	t.Logf("greeter image %s: %.1f MB, built in %v", image, float64(inspect.Size)/1e6, time.Since(began).Round(100*time.Millisecond))
	return image
}
