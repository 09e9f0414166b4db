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
// the value it carries (0 for Get and Touch).
type pipeOp struct {
	cmd  goredis.Cmder
	size int
}

type pipeCall = batch.Call[pipeOp]

// process sends cmd, which carries size bytes of value: alone if batching
// is off, else possibly in a pipeline with others. It returns nil when
// cmd's reply (or error) is in cmd; an error, and cmd must then be left
// alone (a pipeline may still write to it), when ctx ended first: before
// cmd was sent, or while its pipeline was in flight, its outcome then
// unknown.
func (s *Store) process(ctx context.Context, cmd goredis.Cmder, size int) error {
	if !s.batching {
		_ = s.client.Process(ctx, cmd) // the reply or error is in cmd
		return nil
	}
	return s.pipe.Do(&pipeCall{Ctx: ctx, Op: pipeOp{cmd: cmd, size: size}})
}

// runPipeline sends calls: a lone one as itself, more as one pipeline.
func (s *Store) runPipeline(calls []*pipeCall) {
	if len(calls) == 1 {
		_ = s.client.Process(calls[0].Ctx, calls[0].Op.cmd)
		return
	}
	ctx, stop := batch.Join(calls)
	defer stop()
	pipe := s.client.Pipeline()
	for _, c := range calls {
		_ = pipe.Process(ctx, c.Op.cmd) // queues it
	}
	_, _ = pipe.Exec(ctx) // sets every command's reply or error
}
