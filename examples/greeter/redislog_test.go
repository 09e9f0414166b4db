package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestRedisLogsRouting: go-redis's lines (it calls the forwarder it was
// given) reach the logger of the server that routed them last, without
// the store URL's password, and none reach a logger after its stop.
func TestRedisLogsRouting(t *testing.T) {
	var a, b syncBuffer
	logTo := func(w *syncBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
	ctx := context.Background()
	line := func(msg string) { redisForwarder{}.Printf(ctx, "dial %s: %s", "redis://u:hunter2@127.0.0.1:1", msg) }

	stopA := routeRedisLogs(logTo(&a), "redis://u:hunter2@127.0.0.1:1")
	line("one")
	if s := a.String(); !strings.Contains(s, "redis client") || !strings.Contains(s, "one") || strings.Contains(s, "hunter2") {
		t.Errorf("routed line %q: want it, without the password", s)
	}
	if stop := routeRedisLogs(logTo(&b), "memory://"); stop == nil {
		t.Fatal("nil stop")
	} else {
		stop() // not a Redis URL: it took nothing over, and stops nothing
	}
	stopB := routeRedisLogs(logTo(&b), "rediss://:hunter2@127.0.0.1:1")
	stopA() // A is no longer the target: B keeps the lines
	line("two")
	if strings.Contains(a.String(), "two") || !strings.Contains(b.String(), "two") {
		t.Errorf("after B took over: A %q, B %q; want the line in B only", a.String(), b.String())
	}
	stopB()
	line("three")
	if strings.Contains(a.String()+b.String(), "three") {
		t.Errorf("a line reached a stopped logger: A %q, B %q", a.String(), b.String())
	}
}
