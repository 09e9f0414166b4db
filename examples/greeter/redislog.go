package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// routeRedisLogs sends go-redis's own log lines (a failed dial, a pool
// warning) through the server's logger at warn level, so they keep the
// chosen format and level instead of going straight to stderr. go-redis's
// logger is process-wide; a program may set it, a library should not. The
// store URL's password is scrubbed from the lines, should one ever appear.
// Only a Redis store URL takes the logger over.
func routeRedisLogs(log *slog.Logger, storeURL string) {
	if scheme, _, ok := strings.Cut(storeURL, "://"); ok && strings.HasPrefix(strings.ToLower(scheme), "redis") {
		goredis.SetLogger(redisLogger{log, storeURL})
	}
}

type redisLogger struct {
	log      *slog.Logger
	storeURL string
}

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if l.log.Enabled(ctx, slog.LevelWarn) {
		l.log.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("message", scrub(fmt.Sprintf(format, v...), l.storeURL)))
	}
}
