package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/batch"
)

// Batching: what it does, when it helps and its limits are in the package
// documentation (doc.go); these are the limits.
const (
	// maxPipelines is how many pipelines (or lone commands) one Store has
	// in flight at once.
	maxPipelines = 2
	// maxPipeline is the most commands one pipeline carries, and
	// maxPipelineBytes the most bytes of values past its first command; a
	// command carrying pipeAloneSize bytes or more goes alone.
	maxPipeline      = 128
	maxPipelineBytes = 1 << 20
	pipeAloneSize    = 64 << 10
)

// pipeOp is one command on its way through the batcher, with the size of
// the value it carries (0 for Get and Touch), whether it writes, and the
// WAIT that followed it (set by runPipeline for a write when the store
// waits for replicas).
type pipeOp struct {
	cmd   goredis.Cmder
	size  int
	write bool
	wait  *goredis.IntCmd
}

type pipeCall = batch.Call[pipeOp]

// process sends cmd, which carries size bytes of value: alone if batching
// is off, else possibly in a pipeline with others. It returns when cmd's
// reply (or error) is in cmd, with the WAIT that followed a write on its
// connection (nil when the store does not wait for replicas, or for a
// read); an error, and cmd must then be left alone (a pipeline may still
// write to it), when ctx ended first: before cmd was sent, or while its
// pipeline was in flight, its outcome then unknown.
func (s *Store) process(ctx context.Context, cmd goredis.Cmder, size int, write bool) (*goredis.IntCmd, error) {
	if !s.batching {
		return s.send(ctx, cmd, write), nil
	}
	c := &pipeCall{Ctx: ctx, Op: pipeOp{cmd: cmd, size: size, write: write}}
	if err := s.pipe.Do(c); err != nil {
		return nil, err
	}
	return c.Op.wait, nil
}

// runPipeline sends calls: a lone one as itself, more as one pipeline.
// When the store waits for replicas and the pipeline holds a write, one
// WAIT at its end covers every write in it: a pipeline is one connection,
// and WAIT waits for that connection's latest write, so for all of them.
func (s *Store) runPipeline(calls []*pipeCall) {
	if len(calls) == 1 {
		calls[0].Op.wait = s.send(calls[0].Ctx, calls[0].Op.cmd, calls[0].Op.write)
		return
	}
	ctx, stop := batch.Join(calls)
	defer stop()
	pipe := s.client.Pipeline()
	var wait *goredis.IntCmd
	for _, c := range calls {
		_ = pipe.Process(ctx, c.Op.cmd) // queues it
		if c.Op.write && s.waitN != nil && wait == nil {
			wait = s.waitCmd(ctx)
		}
	}
	if wait != nil {
		_ = pipe.Process(ctx, wait)
		for _, c := range calls {
			if c.Op.write {
				c.Op.wait = wait
			}
		}
	}
	_, _ = pipe.Exec(ctx) // sets every command's reply or error
}
