package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/stateless-go/stateless/store"
)

// OutcomeKey is the attribute a store span carries when the operation gave
// one of the answers the store contract defines rather than succeeding:
// "not_found", "exists" or "conflict". They are answers, not failures, so
// they leave the span's status unset.
const OutcomeKey = attribute.Key("stateless.store.outcome")

var errorTypeKey = semconv.ErrorTypeKey

var (
	outcomeNotFound = OutcomeKey.String("not_found")
	outcomeExists   = OutcomeKey.String("exists")
	outcomeConflict = OutcomeKey.String("conflict")
)

// storeOps are the operations whose span start options are made once.
var storeOps = []store.Op{
	store.OpGet, store.OpCreate, store.OpReplace, store.OpTouch,
	store.OpDelete, store.OpCompareAndDelete, store.OpCreateOrGet, store.OpPing,
}

// StoreHook returns a store.Hook, for store.WithHook, that makes a client
// span for each operation called under a recording span. system is the
// db.system.name value: "redis", "memcached", "postgresql" (DBSystem maps a
// store URL to it). The no-op provider gets a nil hook, which WithHook
// takes as none.
func (t *Tracer) StoreHook(system string) store.Hook {
	if t.off {
		return nil
	}
	sys := semconv.DBSystemNameKey.String(system)
	kind := trace.WithSpanKind(trace.SpanKindClient)
	startOpts := make(map[store.Op][]trace.SpanStartOption, len(storeOps))
	for _, op := range storeOps {
		startOpts[op] = []trace.SpanStartOption{kind, trace.WithAttributes(sys, semconv.DBOperationName(string(op)))}
	}
	return func(ctx context.Context, op store.Op) (context.Context, func(error)) {
		if !trace.SpanFromContext(ctx).IsRecording() {
			return ctx, nil
		}
		opts, ok := startOpts[op]
		if !ok {
			opts = []trace.SpanStartOption{kind, trace.WithAttributes(sys, semconv.DBOperationName(string(op)))}
		}
		ctx, span := t.tracer.Start(ctx, string(op), opts...)
		return ctx, func(err error) {
			endStoreSpan(span, err)
		}
	}
}

// Store returns s with a span around each of its operations: StoreHook
// through store.WithHook, so s keeps its optional capabilities.
func (t *Tracer) Store(s store.Store, system string) store.Store {
	return store.WithHook(s, t.StoreHook(system))
}

func endStoreSpan(span trace.Span, err error) {
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		span.SetAttributes(outcomeNotFound)
	case errors.Is(err, store.ErrExists):
		span.SetAttributes(outcomeExists)
	case errors.Is(err, store.ErrConflict):
		span.SetAttributes(outcomeConflict)
	default:
		setError(span, err)
	}
	span.End()
}

// setError marks span failed with error.type set to err's class. It never
// records err's message: an adapter's error may quote a key (a session ID,
// a token's hash) or an address.
func setError(span trace.Span, err error) {
	span.SetAttributes(errorTypeKey.String(errorClass(err)))
	span.SetStatus(codes.Error, "")
}

// errorClass names the kind of err in a few words, without its message:
// "timeout", "canceled", "closed", "too_large", else the Go type of the
// first error in err's chain that is more than a message around another
// ("*net.OpError", "*pgconn.PgError").
func errorClass(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, store.ErrClosed):
		return "closed"
	case errors.Is(err, store.ErrTooLarge):
		return "too_large"
	}
	// fmt.Errorf with one %w only puts a message around the error that
	// says what it is.
	for {
		w, ok := err.(interface{ Unwrap() error })
		if !ok || fmt.Sprintf("%T", err) != "*fmt.wrapError" || w.Unwrap() == nil {
			break
		}
		err = w.Unwrap()
	}
	return fmt.Sprintf("%T", err)
}

// DBSystem returns the db.system.name of the store a URL opens, as the
// semantic conventions spell it: "redis" for every redis scheme,
// "memcached", "postgresql"; another scheme as it is ("memory"). It reads
// only the scheme: the rest of a store URL may hold a password.
func DBSystem(storeURL string) string {
	scheme, _, ok := strings.Cut(storeURL, "://")
	if !ok {
		if u, err := url.Parse(storeURL); err == nil {
			scheme = u.Scheme
		}
	}
	scheme = strings.ToLower(scheme)
	switch {
	case strings.HasPrefix(scheme, "redis"):
		return "redis"
	case scheme == "memcache" || scheme == "memcached":
		return "memcached"
	case scheme == "postgres" || scheme == "postgresql":
		return "postgresql"
	case scheme == "":
		return "other"
	}
	return scheme
}
