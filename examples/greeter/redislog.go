package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// routeRedisLogs sends go-redis's own log lines (a failed dial, a pool
// warning) through the server's logger at warn level, so they keep the
// chosen format and level instead of going straight to stderr. go-redis's
// logger is process-wide; a program may set it, a library should not. The
// store URL's password is scrubbed from the lines, should one ever appear.
// Only a Redis store URL takes the logger over.
//
// stop ends the routing: once it returns, go-redis writes nothing more to
// log (lines of connections still open, say from a store that outlives
// the server, are dropped), so that a run's log can be read, or closed,
// after it ends; run defers it.
func routeRedisLogs(log *slog.Logger, storeURL string) (stop func()) {
	scheme, _, ok := strings.Cut(storeURL, "://")
	if !ok || !strings.HasPrefix(strings.ToLower(scheme), "redis") {
		return func() {}
	}
	redisLogs.once.Do(func() { goredis.SetLogger(redisForwarder{}) })
	l := &redisLogger{log, storeURL}
	redisLogs.mu.Lock()
	redisLogs.to = l
	redisLogs.mu.Unlock()
	return func() {
		redisLogs.mu.Lock() // waits for a line being written to l
		if redisLogs.to == l {
			redisLogs.to = nil
		}
		redisLogs.mu.Unlock()
	}
}

// redisLogs is where go-redis's lines go: the logger of the last server
// that routed them, until it stops; nowhere in between.
var redisLogs struct {
	once sync.Once
	mu   sync.RWMutex
	to   *redisLogger
}

// redisForwarder is the logger go-redis is given, once.
type redisForwarder struct{}

func (redisForwarder) Printf(ctx context.Context, format string, v ...any) {
	redisLogs.mu.RLock()
	defer redisLogs.mu.RUnlock()
	if l := redisLogs.to; l != nil {
		l.Printf(ctx, format, v...)
	}
}

type redisLogger struct {
	log      *slog.Logger
	storeURL string
}

func (l *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if l.log.Enabled(ctx, slog.LevelWarn) {
		l.log.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("message", scrub(fmt.Sprintf(format, v...), l.storeURL)))
	}
}
