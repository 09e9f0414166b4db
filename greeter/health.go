package greeter

import (
	"context"
	"log/slog"
	"net/http"
)

// healthz answers GET /healthz: 200 while the process can serve at all. It
// checks nothing else, so an orchestrator restarts the process only when
// the process itself is stuck, never because the store is down.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header()["Cache-Control"] = headerNoStore
	writeJSON(w, r, http.StatusOK, bodyOK)
}

// readyz answers GET /readyz: 200 when the store answers a ping within the
// ready timeout, else 503, so a load balancer stops sending traffic to an
// instance that cannot reach its store. The store's error goes to the log,
// not to the response: it may name hosts the client has no business
// knowing.
//
// The bound relies on the Store contract that Ping honours its
// context.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header()["Cache-Control"] = headerNoStore
	if h.store != nil {
		ctx, cancel := context.WithTimeout(r.Context(), h.readyTimeout)
		err := h.store.Ping(ctx)
		cancel()
		if err != nil {
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "greeter: store not ready",
				slog.String("error", err.Error()), slog.Duration("timeout", h.readyTimeout))
			writeJSON(w, r, http.StatusServiceUnavailable, bodyNotReady)
			return
		}
	}
	writeJSON(w, r, http.StatusOK, bodyOK)
}
