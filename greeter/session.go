package greeter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/stateless-go/stateless/session"
)

// maxLoginBody bounds POST /session's body: a name of MaxNameLen bytes,
// escaped, fits many times over.
const maxLoginBody = 4 << 10

var (
	bodyNoSession     = errorBody("no live session; log in with POST /session")
	bodyNoStore       = errorBody("sessions are not available: the greeter has no store")
	bodyStoreDown     = errorBody("session store unavailable")
	bodyBodyTooBig    = errorBody("request body is larger than " + strconv.Itoa(maxLoginBody) + " bytes")
	bodyNameMissing   = errorBody(`body must be a JSON object with a non-empty "name" string, as in {"name":"Alice"}`)
	bodyTooManyLogins = errorBody("too many logins from this address; try again after Retry-After seconds")
	headerAuth        = []string{`Session realm="greeter"`}
)

// login answers POST /session {"name":"Alice"}: it starts a session under a
// new token (any earlier token of the client dies: session fixation
// defence), sets the cookie and X-Session-Token, and answers 201
// {"name":"Alice","visits":0}.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	if h.sessions == nil {
		writeJSON(w, r, http.StatusServiceUnavailable, bodyNoStore)
		return
	}
	if h.allowLogin != nil {
		if ok, wait := h.allowLogin(r); !ok {
			secs := max(int64((wait+time.Second-1)/time.Second), 1)
			w.Header()["Retry-After"] = []string{strconv.FormatInt(secs, 10)}
			writeJSON(w, r, http.StatusTooManyRequests, bodyTooManyLogins)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLoginBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, r, http.StatusRequestEntityTooLarge, bodyBodyTooBig)
			return
		}
		writeError(w, r, http.StatusBadRequest, "could not read the request body")
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeJSON(w, r, http.StatusBadRequest, bodyNameMissing)
		return
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(body) {
		writeJSON(w, r, http.StatusBadRequest, bodyNotUTF8)
		return
	}
	var in struct {
		Name *string `json:"name"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, r, http.StatusBadRequest, "body is not the JSON object expected: "+err.Error())
		return
	}
	if dec.More() {
		writeError(w, r, http.StatusBadRequest, "body has data after the JSON object")
		return
	}
	if in.Name == nil || *in.Name == "" {
		writeJSON(w, r, http.StatusBadRequest, bodyNameMissing)
		return
	}
	if len(*in.Name) > MaxNameLen {
		writeJSON(w, r, http.StatusBadRequest, bodyTooLong)
		return
	}
	s := session.From(r.Context())
	s.Login() // a new session: nothing of the client's earlier one carries over
	s.SetString("name", *in.Name)
	s.SetInt("visits", 0)
	// Saved before the 201 goes out; if the store fails, the client gets
	// an error status instead.
	writeJSON(w, r, http.StatusCreated, sessionBody(*in.Name, 0))
}

// visit answers POST /session/visits: the session's name and its visit
// count, one more than before. It runs under session.Retry: if another
// request (on any instance) counts a visit at the same moment, this one is
// computed again on the fresh count, so no visit is lost and every answer
// shows its own number.
func (h *handler) visit(w http.ResponseWriter, r *http.Request) {
	h.showSession(w, r, 1)
}

// show answers GET and HEAD /session: the session's name and visit count,
// changing nothing.
func (h *handler) show(w http.ResponseWriter, r *http.Request) {
	h.showSession(w, r, 0)
}

func (h *handler) showSession(w http.ResponseWriter, r *http.Request, add int64) {
	s, name, ok := h.loggedIn(w, r)
	if !ok {
		return
	}
	visits, _ := s.GetInt64("visits")
	visits += add
	if add != 0 {
		s.SetInt64("visits", visits)
	}
	writeJSON(w, r, http.StatusOK, sessionBody(name, visits))
}

// logout answers DELETE /session: 204, the session deleted from the store
// (its token is refused by every instance from now on) and the cookie
// cleared. Without a live session it is still a 204: the client is logged
// out either way.
func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	if h.sessions == nil {
		writeJSON(w, r, http.StatusServiceUnavailable, bodyNoStore)
		return
	}
	if !h.revokeTokens(w, r) {
		return
	}
	session.From(r.Context()).Destroy()
	w.Header()["Cache-Control"] = headerNoStore
	w.WriteHeader(http.StatusNoContent)
}

// sessionName is the name of the request's session, if it has one. A store
// that cannot be reached reads as no session (package session logs the
// failure): /greet degrades to "World" rather than failing.
func (h *handler) sessionName(r *http.Request) (string, bool) {
	if h.sessions == nil {
		return "", false
	}
	return session.From(r.Context()).GetString("name")
}

func sessionBody(name string, visits int64) []byte {
	b := append(make([]byte, 0, len(name)+40), `{"name":"`...)
	b = appendJSONString(b, name)
	b = append(b, `","visits":`...)
	b = strconv.AppendInt(b, visits, 10)
	return append(b, "}\n"...)
}

// loggedIn returns the request's live session and its name, or answers
// for it: 503 without sessions or with the store down, 401 without a
// logged-in session.
func (h *handler) loggedIn(w http.ResponseWriter, r *http.Request) (*session.Session, string, bool) {
	if h.sessions == nil {
		writeJSON(w, r, http.StatusServiceUnavailable, bodyNoStore)
		return nil, "", false
	}
	s := session.From(r.Context())
	live, err := s.Live()
	if err != nil {
		writeJSON(w, r, http.StatusServiceUnavailable, bodyStoreDown)
		return nil, "", false
	}
	name, ok := s.GetString("name")
	if !live || !ok {
		w.Header()["Www-Authenticate"] = headerAuth
		writeJSON(w, r, http.StatusUnauthorized, bodyNoSession)
		return nil, "", false
	}
	return s, name, true
}
