package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/stateless-go/stateless/auth"
)

// AuthResultKey is the attribute an "auth.verify" span carries: auth.Result
// of the verification ("ok", "expired", "revoked", …), never anything of
// the token.
const AuthResultKey = attribute.Key("stateless.auth.result")

// AuthObserver returns an auth.Observer, for auth.VerifierOptions.Observer
// and auth.RevocationOptions.Observer, that traces under a recording span:
// verifications ("auth.verify", with stateless.auth.result) and
// revocations ("auth.revoke") as spans, cache hits and misses as span
// events. A refused token is the client's error and leaves the status
// unset; a verification that could not be made (keys or revocations
// unavailable) sets it to Error. The no-op provider gets nil.
func (t *Tracer) AuthObserver() auth.Observer {
	if t.off {
		return nil
	}
	internal := trace.WithSpanKind(trace.SpanKindInternal)
	return func(ctx context.Context, ev auth.Event) (context.Context, func(error)) {
		parent := trace.SpanFromContext(ctx)
		if !parent.IsRecording() {
			return ctx, nil
		}
		switch ev {
		case auth.EventVerify:
			ctx, span := t.tracer.Start(ctx, "auth.verify", internal)
			return ctx, func(err error) {
				result := auth.Result(err)
				span.SetAttributes(AuthResultKey.String(result))
				switch result {
				case "revocation_unavailable", "keys_unavailable", "error":
					span.SetStatus(codes.Error, "")
				}
				span.End()
			}
		case auth.EventRevoke:
			ctx, span := t.tracer.Start(ctx, "auth.revoke", internal)
			return ctx, func(err error) {
				if err != nil {
					setError(span, err)
				}
				span.End()
			}
		}
		name := "auth." + string(ev)
		return ctx, func(error) { parent.AddEvent(name) }
	}
}
