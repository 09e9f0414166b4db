package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var clusterOnce struct {
	sync.Once
	addrs []string
	err   error
}

// RedisClusterAddrs returns the seed addresses of a Redis Cluster of three
// masters, ["127.0.0.1:P1", "127.0.0.1:P2", "127.0.0.1:P3"]: the
// comma-separated $TEST_REDIS_CLUSTER_ADDRS when set, else a cluster of
// three local redis-server processes (from PATH) started once per test
// binary, else it skips the test (fails it under TEST_REQUIRE_STORES=1).
//
// Every node announces 127.0.0.1, so MOVED redirections stay on loopback.
// The cluster is shared: tests must use their own key prefixes.
func RedisClusterAddrs(t testing.TB) []string {
	t.Helper()
	if s := os.Getenv("TEST_REDIS_CLUSTER_ADDRS"); s != "" {
		addrs, err := parseAddrList(s)
		if err != nil {
			err = fmt.Errorf("TEST_REDIS_CLUSTER_ADDRS: %w", err)
		}
		check(t, err)
		return addrs
	}
	clusterOnce.Do(func() { clusterOnce.addrs, clusterOnce.err = startCluster(t) })
	check(t, clusterOnce.err)
	return append([]string(nil), clusterOnce.addrs...)
}

// parseAddrList reads "host:port,host:port".
func parseAddrList(s string) ([]string, error) {
	var addrs []string
	for a := range strings.SplitSeq(s, ",") {
		a = strings.TrimSpace(a)
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil, fmt.Errorf("address %q: want host:port", a)
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return nil, fmt.Errorf("address %q: bad port", a)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

const clusterNodes = 3

func startCluster(t testing.TB) ([]string, error) {
	t.Helper()
	server, err1 := exec.LookPath("redis-server")
	cli, err2 := exec.LookPath("redis-cli")
	if err := errors.Join(err1, err2); err != nil {
		return nil, unavailable("set TEST_REDIS_CLUSTER_ADDRS (e.g. 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002) or install redis-server and redis-cli (%v)", err)
	}
	if err := needMain(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testenv-redis-cluster-")
	if err != nil {
		return nil, err
	}
	onStop(func() error { return os.RemoveAll(dir) }) // runs after the kills below
	t.Logf("testenv: starting a %d-master Redis Cluster of local %s processes", clusterNodes, server)
	began := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var addrs []string
	for i := range clusterNodes {
		addr, err := startClusterNode(ctx, server, cli, filepath.Join(dir, strconv.Itoa(i)))
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		if err := waitClusterOK(ctx, cli, a); err != nil {
			return nil, err
		}
	}
	t.Logf("testenv: Redis Cluster ready at %s in %v", strings.Join(addrs, ","), time.Since(began).Round(time.Millisecond))
	return addrs, nil
}

// startClusterNode starts one cluster-enabled redis-server on a free port
// of 127.0.0.1 and waits until it answers. The cluster bus port
// (port+10000) must be free too.
func startClusterNode(ctx context.Context, server, cli, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	nodes := filepath.Join(dir, "nodes.conf")
	port, err := startRedisProcess(ctx, server, cli, redisProcess{
		what: "redis-server in cluster mode",
		log:  filepath.Join(dir, "redis.log"),
		free: func(port int) bool { return portFree(port + 10000) },
		args: func(port int) ([]string, error) {
			// A failed attempt may have left the node's identity behind.
			if err := os.Remove(nodes); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			return []string{
				"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
				"--cluster-enabled", "yes", "--cluster-config-file", nodes,
				"--dir", dir, "--save", "", "--appendonly", "no",
				"--logfile", filepath.Join(dir, "redis.log"),
			}, nil
		},
	})
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// redisProcess describes a redis-server process for startRedisProcess.
type redisProcess struct {
	what string              // names it in errors: "redis-server in cluster mode"
	log  string              // its log file, quoted when it never starts
	free func(port int) bool // nil, or whether the other ports it needs are free
	// args gives its command line for a port; it may (re)write files the
	// process reads, since a failed attempt may have changed them.
	args func(port int) ([]string, error)
}

// startRedisProcess starts a redis-server (or sentinel) on a random free
// port of 127.0.0.1, waits until it answers PING, and registers its kill
// with Main. Ports are picked at random and retried, since another process
// may take one between the check and the bind. On Linux the process also
// dies with the test binary, should Main never run.
func startRedisProcess(ctx context.Context, server, cli string, p redisProcess) (int, error) {
	var lastErr error
	for range 20 {
		port := 30000 + rand.IntN(2500)
		if !portFree(port) || p.free != nil && !p.free(port) {
			lastErr = fmt.Errorf("port %d (or one it needs) not free", port)
			continue
		}
		args, err := p.args(port)
		if err != nil {
			return 0, err
		}
		cmd := exec.Command(server, args...)
		cmd.SysProcAttr = dieWithParent()
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() error {
			_ = cmd.Process.Kill()
			<-exited
			return nil
		}
		if lastErr = waitPing(ctx, cli, port, exited); lastErr == nil {
			onStop(stop)
			return port, nil
		}
		stop()
		if ctx.Err() != nil {
			break
		}
	}
	log, _ := os.ReadFile(p.log)
	return 0, fmt.Errorf("%s did not start: %v\n%s", p.what, lastErr, log)
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// waitPing waits until the node on port answers PING, or its process exits.
func waitPing(ctx context.Context, cli string, port int, exited <-chan error) error {
	for {
		out, err := exec.CommandContext(ctx, cli, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "ping").Output()
		if err == nil && bytes.HasPrefix(out, []byte("PONG")) {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server on port %d exited: %v", port, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitClusterOK waits until the node at addr sees every slot served.
func waitClusterOK(ctx context.Context, cli, addr string) error {
	host, port, _ := net.SplitHostPort(addr)
	var out []byte
	for {
		var err error
		out, err = exec.CommandContext(ctx, cli, "-h", host, "-p", port, "cluster", "info").Output()
		if err == nil && bytes.Contains(out, []byte("cluster_state:ok")) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis cluster node %s never reached cluster_state:ok:\n%s", addr, out)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
