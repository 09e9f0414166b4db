package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// The page at GET /: the greet form, log in and out, the visit counter,
// and which instance answered. It is embedded, so the binary (and its
// FROM-scratch image) needs no files beside it, and it loads nothing from
// elsewhere: one stylesheet and one script, both from /assets/.
//
// The greet form is a plain GET form to / itself: without JavaScript the
// browser loads /?name=Alice, and the page asks /greet for the answer (the
// same handler an API client reaches, with the same rules for the name and
// the same 400s) and shows it as HTML. With JavaScript the script sends the
// form to /greet with fetch instead and shows the JSON answer in place.
// Logging in and out and counting visits take JSON requests, so they need
// the script; without it the page says so.
//
// Security headers: a Content-Security-Policy that allows scripts, styles
// and fetches from this origin only (no inline script, no eval), and no
// framing; nosniff; no Referer sent anywhere. The cross-origin protection in
// front of the Greeter's routes applies to the script's requests as to any
// other: a browser marks them Sec-Fetch-Site: same-origin.
//
// Bounds: the page keeps nothing per client. A request for it costs at most
// one call of the /greet handler in process, whose answer is read up to
// maxGreetAnswer bytes; the page it renders is the template plus a name of
// at most greeter.MaxNameLen bytes (escaped) and the instance name of at
// most maxInstanceLen.

//go:embed web
var webFS embed.FS

// pageCSP is the Content-Security-Policy of the page and its assets.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// maxGreetAnswer bounds what the page reads of /greet's answer for a
// server-side greeting: a greeting of a name of greeter.MaxNameLen bytes
// each escaped as \uXXXX is under 2 KiB.
const maxGreetAnswer = 8 << 10

var pageTemplate = template.Must(template.ParseFS(webFS, "web/index.html"))

// asset is one embedded file served under /assets/.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

var pageAssets = mustAssets(map[string]string{
	"page.css": "text/css; charset=utf-8",
	"page.js":  "text/javascript; charset=utf-8",
})

func mustAssets(types map[string]string) map[string]asset {
	out := make(map[string]asset, len(types))
	for name, ct := range types {
		b, err := fs.ReadFile(webFS, "web/"+name)
		if err != nil {
			panic(err) // embedded at build time: cannot be missing
		}
		sum := sha256.Sum256(b)
		out[name] = asset{body: b, contentType: ct, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
	}
	return out
}

// withPage serves the page at GET and HEAD / (exactly: any other path
// still reaches next, which answers 404 for an unknown one) and its assets
// at /assets/page.css and /assets/page.js, and hands every other request
// to next, the Greeter.
func withPage(next http.Handler, instance string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.Handle("GET /{$}", pageHandler{greeter: next, instance: instance})
	mux.HandleFunc("/{$}", pageMethodNotAllowed)
	for name, a := range pageAssets {
		mux.Handle("GET /assets/"+name, a)
	}
	// Only / and /assets/ need the mux: every other request (all of the
	// Greeter's) goes straight on, without a second routing.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "/" || strings.HasPrefix(p, "/assets/") {
			mux.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pageMethodNotAllowed answers a method other than GET or HEAD on /, in the
// Greeter's JSON.
func pageMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Allow", "GET, HEAD")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusMethodNotAllowed)
	// Marshal of a struct holding one string cannot fail.
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{"method " + r.Method + " is not allowed on /; allowed: GET, HEAD"})
	_, _ = w.Write(append(body, '\n'))
}

// servedBy sets X-Served-By: instance on every response of next, so a
// client behind a load balancer sees which instance answered.
func servedBy(instance string, next http.Handler) http.Handler {
	v := []string{instance}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Served-By"] = v
		next.ServeHTTP(w, r)
	})
}

// setPageHeaders sets the headers the page and its assets share.
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (a asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	setPageHeaders(h)
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	// Revalidated on each load (a 304 costs no body), so a new binary's
	// assets are never mixed with an old page.
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// pageHandler renders the page.
type pageHandler struct {
	greeter  http.Handler
	instance string
}

// pageData is what the template shows.
type pageData struct {
	Instance string
	Name     string // the name as typed, to refill the form
	Message  string // the greeting, for /?name=…
	Error    string // /greet's error for a bad name
}

func (p pageHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := pageData{Instance: p.instance}
	status := http.StatusOK
	// The form's submission, /?name=…, greets; so does a malformed query,
	// for /greet's 400 saying what is wrong with it.
	if q, err := url.ParseQuery(r.URL.RawQuery); err != nil || q.Has("name") {
		status, d.Message, d.Error = p.greet(r)
		d.Name = q.Get("name")
	}
	var body bytes.Buffer
	if err := pageTemplate.Execute(&body, d); err != nil {
		// Only a bug in the template gets here: nothing a client sends.
		http.Error(w, "page template failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	setPageHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store") // it names the instance and may greet a session's name
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body.Bytes()) // an error means the client has gone
	}
}

// greet asks the Greeter for GET /greet with r's query, cookies and
// headers, as the script would, and returns its status and its message or
// error.
func (p pageHandler) greet(r *http.Request) (status int, message, errMsg string) {
	sub := r.Clone(r.Context())
	sub.Method = http.MethodGet
	sub.URL.Path, sub.URL.RawPath = "/greet", ""
	sub.RequestURI = "/greet?" + r.URL.RawQuery
	rec := &greetRecorder{header: http.Header{}, status: http.StatusOK}
	p.greeter.ServeHTTP(rec, sub)
	var answer struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if rec.overflow || json.Unmarshal(rec.body.Bytes(), &answer) != nil {
		return http.StatusInternalServerError, "", fmt.Sprintf("the greeting could not be read (status %d)", rec.status)
	}
	if rec.status != http.StatusOK && answer.Error == "" {
		answer.Error = strings.ToLower(http.StatusText(rec.status))
	}
	return rec.status, answer.Message, answer.Error
}

// greetRecorder keeps a response of at most maxGreetAnswer bytes.
type greetRecorder struct {
	header   http.Header
	status   int
	wrote    bool
	body     bytes.Buffer
	overflow bool
}

func (r *greetRecorder) Header() http.Header { return r.header }

func (r *greetRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

func (r *greetRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.body.Len()+len(b) > maxGreetAnswer {
		r.overflow = true
		return 0, fmt.Errorf("greeting over %d bytes", maxGreetAnswer)
	}
	return r.body.Write(b)
}

// maxInstanceLen bounds -instance: it goes into a header of every response.
const maxInstanceLen = 64

// defaultInstance is -instance's default: the hostname (a container's ID
// or a pod's name), or "greeter" if it is unknown or unfit for a header.
func defaultInstance() string {
	h, err := os.Hostname()
	if err != nil || checkInstance(h) != nil {
		return "greeter"
	}
	return h
}

// checkInstance reports whether name is fit for X-Served-By: 1 to
// maxInstanceLen ASCII letters, digits and . _ - :.
func checkInstance(name string) error {
	if name == "" || len(name) > maxInstanceLen {
		return fmt.Errorf("want 1 to %d characters", maxInstanceLen)
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-', c == ':':
		default:
			return fmt.Errorf("want letters, digits and . _ - : only")
		}
	}
	return nil
}
