package postgres

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/stateless-go/stateless/store/driver"
)

// Reap deletes up to Options.ReapBatch expired rows, in one statement, and
// returns how many it deleted. Fewer than the batch size means nothing was
// left to delete, except rows other reapers or writers held at the time.
//
// The background reaper calls it in a loop; call it yourself when that
// reaper is off (Options.ReapInterval < 0) or to clear a backlog now. It
// is safe to run from any number of instances at once.
func (s *Store) Reap(ctx context.Context) (int64, error) {
	if err := driver.Begin(ctx, s.closed.Load()); err != nil {
		return 0, err
	}
	if err := s.ensureReady(ctx); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, s.sql.reap, s.opts.ReapBatch)
	if err != nil {
		return 0, s.fail("reap", err)
	}
	s.reaps.Add(1)
	return tag.RowsAffected(), nil
}

func (s *Store) startReaper() {
	if s.opts.ReapInterval < 0 {
		close(s.reaperDone)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopReaper = cancel
	go s.reapLoop(ctx)
}

// reapLoop runs a round every ReapInterval: batches until one comes back
// short. The first round comes after a random part of the interval, so a
// fleet started together spreads its rounds from the start.
func (s *Store) reapLoop(ctx context.Context) {
	defer close(s.reaperDone)
	interval := s.opts.ReapInterval
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(interval)) + 1))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		for {
			n, err := s.Reap(ctx)
			if err != nil {
				if ctx.Err() == nil && !s.closed.Load() {
					s.logger().LogAttrs(ctx, slog.LevelWarn, "postgres store: deleting expired sessions failed; retrying after the reap interval",
						slog.String("table", s.table), slog.Any("error", err))
				}
				break
			}
			if n < int64(s.opts.ReapBatch) || ctx.Err() != nil {
				break
			}
		}
		timer.Reset(jitter(interval))
	}
}

func (s *Store) logger() *slog.Logger {
	if s.opts.Logger != nil {
		return s.opts.Logger
	}
	return slog.Default()
}

// jitter returns d ±10%.
func jitter(d time.Duration) time.Duration {
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread/2) + time.Duration(rand.Int64N(spread))
}
