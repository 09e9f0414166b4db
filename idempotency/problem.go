package idempotency

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// The "type" URIs of the problem details (RFC 9457) the middleware
// answers with. Each names its own documentation: the constant's entry on
// pkg.go.dev.
const (
	problemBase = "https://pkg.go.dev/github.com/stateless-go/stateless/idempotency#"

	// ProblemInvalidKey (400): the Idempotency-Key header is malformed, a
	// list, or given twice.
	ProblemInvalidKey = problemBase + "ProblemInvalidKey"
	// ProblemKeyRequired (400): Options.Required and no key.
	ProblemKeyRequired = problemBase + "ProblemKeyRequired"
	// ProblemInvalidBody (400): the request body could not be read.
	ProblemInvalidBody = problemBase + "ProblemInvalidBody"
	// ProblemScope (403): Options.Scope could not name the principal.
	ProblemScope = problemBase + "ProblemScope"
	// ProblemInFlight (409, Retry-After): a request with this key is being
	// processed; retry later for its outcome.
	ProblemInFlight = problemBase + "ProblemInFlight"
	// ProblemNotReplayable (409): the request with this key completed, but
	// its response could not be kept (too large, streamed, hijacked); the
	// member "original_status" is the status it had. Retrying does not
	// help: the request took effect.
	ProblemNotReplayable = problemBase + "ProblemNotReplayable"
	// ProblemAbandoned (409): Options.StrictAtMostOnce, and the request with
	// this key was abandoned by its owner mid-way; it may or may not have
	// taken effect, and it is not run again.
	ProblemAbandoned = problemBase + "ProblemAbandoned"
	// ProblemTooLarge (413): the request body is over
	// Options.MaxRequestBody.
	ProblemTooLarge = problemBase + "ProblemTooLarge"
	// ProblemMismatch (422): the key was used for a different request
	// (method, path, query, body or fingerprinted headers).
	ProblemMismatch = problemBase + "ProblemMismatch"
	// ProblemUnavailable (503, Retry-After): the key store did not answer.
	ProblemUnavailable = problemBase + "ProblemUnavailable"
)

// problem is an RFC 9457 problem details object.
type problem struct {
	Type           string `json:"type"`
	Title          string `json:"title"`
	Status         int    `json:"status"`
	Detail         string `json:"detail,omitempty"`
	OriginalStatus int    `json:"original_status,omitempty"`

	retryAfter bool
}

var (
	probKeyRequired = &problem{Type: ProblemKeyRequired, Title: "Idempotency-Key required", Status: http.StatusBadRequest,
		Detail: "this request must carry an Idempotency-Key header"}
	probInvalidBody = &problem{Type: ProblemInvalidBody, Title: "Unreadable request body", Status: http.StatusBadRequest,
		Detail: "the request body could not be read"}
	probScope = &problem{Type: ProblemScope, Title: "Idempotency-Key not allowed", Status: http.StatusForbidden,
		Detail: "the key cannot be bound to a principal for this request"}
	probInFlight = &problem{Type: ProblemInFlight, Title: "Request in progress", Status: http.StatusConflict,
		Detail: "a request with this Idempotency-Key is being processed; retry later for its outcome", retryAfter: true}
	probAbandoned = &problem{Type: ProblemAbandoned, Title: "Outcome unknown", Status: http.StatusConflict,
		Detail: "the request with this Idempotency-Key was abandoned while it was being processed; it may have taken effect and will not be run again"}
	probTooLarge = &problem{Type: ProblemTooLarge, Title: "Request body too large", Status: http.StatusRequestEntityTooLarge}
	probMismatch = &problem{Type: ProblemMismatch, Title: "Idempotency-Key reused", Status: http.StatusUnprocessableEntity,
		Detail: "this Idempotency-Key was used for a different request"}
	probUnavailable = &problem{Type: ProblemUnavailable, Title: "Idempotency store unavailable", Status: http.StatusServiceUnavailable,
		Detail: "the request was not run; retry later", retryAfter: true}
)

func invalidKey(err error) *problem {
	return &problem{Type: ProblemInvalidKey, Title: "Invalid Idempotency-Key", Status: http.StatusBadRequest, Detail: err.Error()}
}

func tooLarge(limit int64) *problem {
	p := *probTooLarge
	p.Detail = "the request body is over " + strconv.FormatInt(limit, 10) + " bytes"
	return &p
}

func notReplayable(status int, why reason) *problem {
	return &problem{Type: ProblemNotReplayable, Title: "Response not replayable", Status: http.StatusConflict,
		Detail: "the request with this Idempotency-Key completed, but its response cannot be replayed: " + why.String(), OriginalStatus: status}
}

// write answers with p as application/problem+json, never cached.
func (p *problem) write(w http.ResponseWriter) {
	body, err := json.Marshal(p)
	if err != nil { // cannot happen: strings and ints
		body = []byte(`{"title":"Internal Server Error","status":500}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if p.retryAfter {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(p.Status)
	w.Write(body)
}
