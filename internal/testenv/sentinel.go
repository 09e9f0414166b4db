package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// sentinelMaster is the master name the harness's sentinel monitors, the
// path of the URL RedisSentinelURL returns.
const sentinelMaster = "mymaster"

var sentinelOnce struct {
	sync.Once
	url string
	err error
}

// RedisSentinelURL returns the URL of a Redis Sentinel deployment in the
// form store/redis opens, "redis+sentinel://127.0.0.1:SP/mymaster/0":
// $TEST_REDIS_SENTINEL_URL when set, else one master and one sentinel
// monitoring it, local redis-server processes (from PATH) started once per
// test binary, else it skips the test (fails it under TEST_REQUIRE_STORES=1).
//
// The sentinel has reported the master by the time the URL is returned, and
// names it 127.0.0.1, so clients stay on loopback. The master has no
// replicas, so it never fails over. The deployment is shared: tests must use
// their own key prefixes.
func RedisSentinelURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TEST_REDIS_SENTINEL_URL"); u != "" {
		return u
	}
	sentinelOnce.Do(func() { sentinelOnce.url, sentinelOnce.err = startSentinel(t) })
	check(t, sentinelOnce.err)
	return sentinelOnce.url
}

func startSentinel(t testing.TB) (string, error) {
	t.Helper()
	server, err1 := exec.LookPath("redis-server")
	cli, err2 := exec.LookPath("redis-cli")
	if err := errors.Join(err1, err2); err != nil {
		return "", unavailable("set TEST_REDIS_SENTINEL_URL (e.g. redis+sentinel://127.0.0.1:26379/%s/0) or install redis-server and redis-cli (%v)", sentinelMaster, err)
	}
	if err := needMain(); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "testenv-redis-sentinel-")
	if err != nil {
		return "", err
	}
	onStop(func() error { return os.RemoveAll(dir) }) // runs after the kills below
	t.Logf("testenv: starting a Redis master and a sentinel, local %s processes", server)
	began := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	masterLog := filepath.Join(dir, "master.log")
	master, err := startRedisProcess(ctx, server, cli, redisProcess{
		what: "redis-server (the sentinel's master)",
		log:  masterLog,
		args: func(port int) ([]string, error) {
			return []string{
				"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
				"--dir", dir, "--save", "", "--appendonly", "no",
				"--logfile", masterLog,
			}, nil
		},
	})
	if err != nil {
		return "", err
	}

	// A sentinel rewrites its config file to record what it learns, so the
	// file is its own and is written afresh before each attempt.
	conf := filepath.Join(dir, "sentinel.conf")
	sentinelLog := filepath.Join(dir, "sentinel.log")
	sentinel, err := startRedisProcess(ctx, server, cli, redisProcess{
		what: "redis-server --sentinel",
		log:  sentinelLog,
		args: func(port int) ([]string, error) {
			cfg := fmt.Sprintf(`port %d
bind 127.0.0.1
dir "%s"
logfile "%s"
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %[4]s 5000
sentinel failover-timeout %[4]s 10000
`, port, dir, sentinelLog, sentinelMaster, master)
			if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
				return nil, err
			}
			return []string{conf, "--sentinel"}, nil
		},
	})
	if err != nil {
		return "", err
	}
	if err := waitsentinelMaster(ctx, cli, sentinel, master); err != nil {
		log, _ := os.ReadFile(sentinelLog)
		return "", fmt.Errorf("%v\nsentinel log:\n%s", err, log)
	}
	url := fmt.Sprintf("redis+sentinel://127.0.0.1:%d/%s/0", sentinel, sentinelMaster)
	t.Logf("testenv: Redis Sentinel ready at %s (master 127.0.0.1:%d) in %v", url, master, time.Since(began).Round(time.Millisecond))
	return url, nil
}

// waitsentinelMaster waits until the sentinel on port names the master at
// 127.0.0.1:master and has reached it: its flags for the master are just
// "master", with no "disconnected" or "s_down".
func waitsentinelMaster(ctx context.Context, cli string, port, master int) error {
	p := strconv.Itoa(port)
	want := []byte("127.0.0.1\n" + strconv.Itoa(master) + "\n")
	var addr, flags []byte
	for {
		var err error
		addr, err = exec.CommandContext(ctx, cli, "-h", "127.0.0.1", "-p", p, "sentinel", "get-master-addr-by-name", sentinelMaster).Output()
		if err == nil && bytes.Equal(addr, want) {
			var info []byte
			info, err = exec.CommandContext(ctx, cli, "-h", "127.0.0.1", "-p", p, "sentinel", "master", sentinelMaster).Output()
			if flags = field(info, "flags"); err == nil && string(flags) == "master" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sentinel on port %d never reported master 127.0.0.1:%d as up: get-master-addr-by-name said %q, flags %q", port, master, addr, flags)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// field finds key's value in redis-cli's rendering of a flat reply, one
// element a line: key, value, key, value...
func field(reply []byte, key string) []byte {
	lines := bytes.Split(bytes.TrimSpace(reply), []byte("\n"))
	for i := 0; i+1 < len(lines); i += 2 {
		if string(lines[i]) == key {
			return lines[i+1]
		}
	}
	return nil
}
