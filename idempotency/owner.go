package idempotency

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/stateless-go/stateless/store"
)

// ErrLeaseLost is the cause (context.Cause) with which a handler's context
// is cancelled when its request stops owning the key: another instance
// took the key over, the record vanished, or the store could not be
// reached to renew the lease before it lapsed. Whatever the handler then
// answers is not recorded.
var ErrLeaseLost = errors.New("idempotency: the lease on the Idempotency-Key was lost")

// owner is a request that holds a key's lease while its handler runs. It
// is also the handler's context: the request's, cancelled with
// ErrLeaseLost when the lease is lost, and answering Attempt.
type owner struct {
	context.Context
	cancel context.CancelCauseFunc
	req    context.Context // the request's own, for the writes that must outlive it
	m      *Middleware
	key    string
	fp     [32]byte

	attempt uint64

	mu        sync.Mutex // held across a renewal, so completion waits for it
	version   uint64     // of the record as the owner last wrote it
	heldUntil time.Time  // the lease deadline last written
	timer     *time.Timer
	lost      bool
	done      bool
}

type ownerKey struct{}

func (o *owner) Value(k any) any {
	if k == (ownerKey{}) {
		return o
	}
	return o.Context.Value(k)
}

// Attempt reports which execution of its Idempotency-Key the request
// running under ctx is: 1 for the first, 2 and more when it took over a
// key whose earlier owner stopped renewing its lease (and so may have run
// part or all of the handler). It is 0 for a request that does not own a
// key (no key, a method not covered, or FailOpen).
func Attempt(ctx context.Context) int {
	o, _ := ctx.Value(ownerKey{}).(*owner)
	if o == nil {
		return 0
	}
	return int(o.attempt)
}

// startLease arms the first renewal, Lease/3 after the lease began.
func (o *owner) startLease(from time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.heldUntil = from.Add(o.m.c.lease)
	o.timer = time.AfterFunc(o.m.c.lease/3, o.renew)
}

// renew extends the lease by compare-and-swap on the owner's version. A
// conflict or a missing record means another instance owns the key now
// (or the record is gone): the handler is cancelled at once. Any other
// failure is retried every Lease/6 while the lease last written still has
// that long to run, and then counts as lost too, before another instance
// can take over.
func (o *owner) renew() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done || o.lost {
		return
	}
	m := o.m
	deadline := m.c.now().Add(m.c.lease)
	ctx, cancel := m.opCtx(context.WithoutCancel(o.req))
	v, err := m.st.Replace(ctx, o.key, encodeInFlight(&o.fp, o.attempt, deadline.UnixMilli()), m.c.inFlightTTL(), o.version)
	cancel()
	switch {
	case err == nil:
		o.version, o.heldUntil = v, deadline
		o.timer.Reset(m.c.lease / 3)
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		o.lose(err)
	default:
		retry := m.c.lease / 6
		if !m.c.now().Add(retry).Before(o.heldUntil) {
			o.lose(err)
			return
		}
		m.storeError(o.req, "idempotency: lease renewal failed; retrying", err)
		o.timer.Reset(retry)
	}
}

// lose gives the lease up: called with mu held.
func (o *owner) lose(err error) {
	o.lost = true
	o.cancel(ErrLeaseLost)
	o.m.c.log.LogAttrs(o.req, slog.LevelWarn, "idempotency: lease lost; the handler is cancelled and its outcome will not be recorded",
		slog.Uint64("attempt", o.attempt), slog.String("error", err.Error()))
}

// stop ends the renewals and reports the version to complete on, or
// held=false if the lease was lost.
func (o *owner) stop() (version uint64, held bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = true
	if o.timer != nil {
		o.timer.Stop()
	}
	return o.version, !o.lost
}
