package greeter

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Header values shared by every response. They are assigned to the header
// map directly, which skips canonicalisation and a slice allocation per
// request; http.Header.Set and Add replace or append, never write into them.
var (
	headerJSON    = []string{"application/json"}
	headerNosniff = []string{"nosniff"}
	headerNoStore = []string{"no-store"}
)

// Bodies that never change, encoded once.
var (
	bodyWorld       = greeting(nil, "World")
	bodyOK          = []byte(`{"status":"ok"}` + "\n")
	bodyNotFound    = errorBody("not found")
	bodyNotReady    = errorBody("store not ready")
	bodyCrossOrigin = errorBody("cross-origin request refused")
)

// writeJSON sends body, which must be one JSON value ending in a newline,
// with the given status and the headers every response of this package
// carries. For HEAD it sends the headers only, Content-Length included, as
// GET would.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["X-Content-Type-Options"] = headerNosniff
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		// A write error means the client has gone; there is no one left
		// to tell.
		_, _ = w.Write(body)
	}
}

// writeError sends {"error":msg} with status.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeJSON(w, r, status, errorBody(msg))
}

func errorBody(msg string) []byte {
	// Marshal of a struct holding one string cannot fail.
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return append(b, '\n')
}
