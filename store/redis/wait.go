package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ErrNotReplicated is the error of a write that fewer replicas than
// Options.WaitReplicas confirmed within Options.WaitTimeout (see
// Replication in the package documentation). The master has applied the
// write, or may have: it is not lost yet, but it would be if the master
// died before a replica got it. Test for it with errors.Is.
var ErrNotReplicated = errors.New("redis: write not confirmed by enough replicas (it may still have been applied)")

// checkWait validates the WAIT options: a positive count needs a positive
// timeout (WAIT 0 would block for ever), and the timeout must end before
// go-redis stops reading the reply (readTimeout, the client's ReadTimeout,
// which a pipeline's read honours too; 0 or less when unknown or
// unbounded), or go-redis would see a network timeout and send the write
// again. A Cluster is refused (see Replication in the package
// documentation). The names are the Options field's and the URL
// parameter's.
func checkWait(o *Options, cluster bool, readTimeout time.Duration) error {
	switch {
	case o.WaitReplicas < 0:
		return fmt.Errorf("redis: WaitReplicas (wait_replicas) is negative (%d)", o.WaitReplicas)
	case o.WaitTimeout < 0:
		return fmt.Errorf("redis: WaitTimeout (wait_timeout) is negative (%v)", o.WaitTimeout)
	case o.WaitReplicas == 0 && o.WaitTimeout != 0:
		return errors.New("redis: WaitTimeout (wait_timeout) is set but WaitReplicas (wait_replicas) is 0; set both or neither")
	case o.WaitReplicas == 0:
		return nil
	case o.WaitTimeout == 0:
		return errors.New("redis: WaitReplicas (wait_replicas) needs a positive WaitTimeout (wait_timeout): WAIT with no timeout would hold a write for ever when no replica answers")
	case cluster:
		return errClusterWait
	case readTimeout > 0 && o.WaitTimeout >= readTimeout:
		return fmt.Errorf("redis: WaitTimeout (wait_timeout, %v) must be shorter than the client's ReadTimeout (read_timeout, %v): go-redis would give up reading WAIT's reply and send the write again", o.WaitTimeout, readTimeout)
	}
	return nil
}

// clientReadTimeout is how long client reads a reply, or 0 when it does
// not say (a Cluster client's nodes do).
func clientReadTimeout(client goredis.UniversalClient) time.Duration {
	if c, ok := client.(interface{ Options() *goredis.Options }); ok {
		return c.Options().ReadTimeout
	}
	return 0
}

var errClusterWait = errors.New("redis: waiting for replicas (WaitReplicas, wait_replicas) is not supported on a Cluster: WAIT names no key, so go-redis sends it to a node of its choosing, not to the one that took the write")

// waitCmd is WAIT for the store's replicas and timeout.
func (s *Store) waitCmd(ctx context.Context) *goredis.IntCmd {
	return goredis.NewIntCmd(ctx, "wait", s.waitN, s.waitMS)
}

// send sends cmd alone. A write, when the store waits for replicas, goes
// in a pipeline with WAIT right after it, on the same connection, so WAIT
// covers it; send returns that WAIT (nil otherwise).
func (s *Store) send(ctx context.Context, cmd goredis.Cmder, write bool) *goredis.IntCmd {
	if !write || s.waitN == nil {
		_ = s.client.Process(ctx, cmd) // the reply or error is in cmd
		return nil
	}
	pipe := s.client.Pipeline()
	_ = pipe.Process(ctx, cmd)
	w := s.waitCmd(ctx)
	_ = pipe.Process(ctx, w)
	_, _ = pipe.Exec(ctx) // sets both replies or errors
	return w
}

// evalWaited runs script with EVAL, as the fallback for a server that lost
// its script cache, followed by WAIT when the store waits for replicas.
func (s *Store) evalWaited(ctx context.Context, script *goredis.Script, keys []string, args ...any) (*goredis.Cmd, *goredis.IntCmd) {
	if s.waitN == nil {
		return script.Eval(ctx, s.client, keys, args...), nil
	}
	pipe := s.client.Pipeline()
	cmd := script.Eval(ctx, pipe, keys, args...)
	w := s.waitCmd(ctx)
	_ = pipe.Process(ctx, w)
	_, _ = pipe.Exec(ctx)
	return cmd, w
}

// confirm checks the WAIT that followed a write of op: nil when there was
// none or enough replicas confirmed, else WAIT's own error or one that
// wraps ErrNotReplicated.
func (s *Store) confirm(op string, w *goredis.IntCmd) error {
	if w == nil {
		return nil
	}
	n, err := w.Result()
	if err != nil {
		return err
	}
	if n < int64(s.waitReplicas) {
		return fmt.Errorf("redis: %s: %d of %d replica(s) confirmed the write within %v: %w", op, n, s.waitReplicas, s.waitTimeout, ErrNotReplicated)
	}
	return nil
}

// waitMillis is WAIT's timeout argument: whole milliseconds, rounded up so
// that a positive timeout never becomes WAIT 0, which blocks for ever.
func waitMillis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
