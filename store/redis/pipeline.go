package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/batch"
)

// Gets, compare-and-swaps and Touches that arrive while others are in
// flight are sent together as one pipeline: one write and one read on the
// client, and on the server, for the lot, instead of one each. A call that
// finds a free slot (MaxPipelines of them) is sent at once, alone, exactly
// as without batching, so a quiet store pays nothing; only calls that would
// otherwise queue for the network wait for the pipeline ahead of them.
// Every command keeps its own reply and error, and its own key: a
// pipeline is not a transaction, and on a Cluster go-redis splits it by
// node. Create and Delete are rarer and always go alone.

// MaxPipelines is how many pipelines (or lone commands) one Store has in
// flight at once. Fewer, deeper pipelines cost the server (one thread)
// less than many shallow ones; two keep one in flight while the next
// gathers.
const MaxPipelines = 2

// maxPipeline is the most commands one pipeline carries, and
// maxPipelineBytes the most bytes of values past its first command; a
// command carrying pipeAloneSize bytes or more goes alone.
const (
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

// process sends cmd, which carries size bytes of value, possibly in a
// pipeline with others. It returns nil when cmd's reply (or error) is in
// cmd; an error, and cmd must then be left alone (a pipeline may still
// write to it), when ctx ended first: before cmd was sent, or while its
// pipeline was in flight, its outcome then unknown.
func (s *Store) process(ctx context.Context, cmd goredis.Cmder, size int) error {
	return s.pipe.Do(&pipeCall{Ctx: ctx, Op: pipeOp{cmd: cmd, size: size}})
}

// runPipeline sends calls: a lone one as itself, more as one pipeline.
func (s *Store) runPipeline(calls []*pipeCall) {
	if len(calls) == 1 {
		_ = s.client.Process(calls[0].Ctx, calls[0].Op.cmd)
		return
	}
	s.pipelines.Add(1)
	ctx, stop := batch.Join(calls)
	defer stop()
	pipe := s.client.Pipeline()
	for _, c := range calls {
		_ = pipe.Process(ctx, c.Op.cmd) // queues it
	}
	_, _ = pipe.Exec(ctx) // sets every command's reply or error
}
