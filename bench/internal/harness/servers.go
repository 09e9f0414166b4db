package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Binaries are the servers, built from source by BuildServers.
type Binaries struct {
	Ours    string // examples/greeter of the stateless module
	Peer    string // bench/cmd/peer (scs)
	JWTPeer string // bench/cmd/jwtpeer (go-chi/jwtauth)
	Bare    string // bench/cmd/bare (net/http only)
}

// BuildServers builds the server binaries into dir. repo is the stateless
// module's root, bench the bench module's.
func BuildServers(ctx context.Context, repo, bench, dir string) (Binaries, error) {
	b := Binaries{Ours: filepath.Join(dir, "greeter"), Peer: filepath.Join(dir, "peer"), JWTPeer: filepath.Join(dir, "jwtpeer")}
	if err := Build(ctx, repo, "./examples/greeter", b.Ours); err != nil {
		return b, err
	}
	if err := Build(ctx, bench, "./cmd/peer", b.Peer); err != nil {
		return b, err
	}
	if err := Build(ctx, bench, "./cmd/jwtpeer", b.JWTPeer); err != nil {
		return b, err
	}
	b.Bare = filepath.Join(dir, "bare")
	if err := Build(ctx, bench, "./cmd/bare", b.Bare); err != nil {
		return b, err
	}
	return b, nil
}

// Bin is the binary of a server kind (see StartServer).
func (b Binaries) Bin(kind string) string {
	switch kind {
	case "scs":
		return b.Peer
	case "jwtauth":
		return b.JWTPeer
	case "bare", "bare-headers", "bare-gogc200":
		return b.Bare
	}
	return b.Ours
}

// Server is one running server under test.
type Server struct {
	Name string // its kind: "ours", "ours-nocache", "scs" or "jwtauth"
	Base string // http://127.0.0.1:PORT
	Proc *Proc
}

// Kinds are the servers StartServer knows.
// ours-nometrics is ours with -metrics=false, ours-logged ours with its
// default access log (and metrics) on, ours-logged-all the same with
// every line written (no sampling: -log-sample-initial 0), bare the seed's greeter on
// net/http alone (GET /greet only), bare-headers the same with the two
// response headers the example server adds (bench/cmd/bare -headers).
// Two kinds set the garbage collector: bare-gogc200 is bare with
// GOGC=200, whose minimum heap target (8 MiB) is the one the example
// server keeps by itself when GOGC is unset (examples/greeter/gcfloor.go);
// ours-logged-gogc100 is ours-logged with GOGC=100, Go's defaults, which
// turns that floor off.
var Kinds = []string{"ours", "ours-nocache", "ours-nometrics", "ours-logged", "ours-logged-all", "ours-logged-gogc100", "scs", "jwtauth", "bare", "bare-headers", "bare-gogc200"}

// HasSessions reports whether a server kind serves /session (all but
// jwtauth); HasTokens whether it serves Bearer tokens on GET /greet (all
// but scs).
func HasSessions(kind string) bool { return kind != "jwtauth" && !strings.HasPrefix(kind, "bare") }

// HasTokens: see HasSessions.
func HasTokens(kind string) bool { return kind != "scs" && !strings.HasPrefix(kind, "bare") }

// StartServer starts a server binary on a free loopback port over
// storeURL and waits for /healthz. kind is
//
//   - "ours" (examples/greeter: store URLs as given, per-request logging
//     off, and the per-address login limit off, since the drivers log in
//     hundreds of sessions from loopback; its verified-token cache at its
//     default size);
//   - "ours-nocache": the same with -token-cache -1, so that every Bearer
//     token is verified in full;
//   - "scs" (bench/cmd/peer: "memory://" means memstore; it has no login
//     limit);
//   - "jwtauth" (bench/cmd/jwtpeer: no store; extra must give it -jwks).
//
// extra is appended to the server's arguments (for ours, -token-secret or
// -token-lifetime). prefix, if not empty, runs the binary under it (for
// example taskset -c 0).
func StartServer(ctx context.Context, kind, bin, storeURL, logDir string, instance int, prefix []string, extra ...string) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var argv, env []string
	switch kind {
	case "ours", "ours-nocache", "ours-nometrics", "ours-logged", "ours-logged-all", "ours-logged-gogc100":
		argv = []string{bin, "-addr", addr, "-store", storeURL, "-log-level", "warn", "-login-rate", "0"}
		switch kind {
		case "ours-nocache":
			argv = append(argv, "-token-cache", "-1")
		case "ours-nometrics":
			argv = append(argv, "-metrics=false")
		case "ours-logged":
			argv[6] = "info" // the default: one access-log line per request, sampled beyond 1,000 a second
		case "ours-logged-all":
			argv[6] = "info"
			argv = append(argv, "-log-sample-initial", "0") // every line
		case "ours-logged-gogc100":
			argv[6] = "info"
			env = []string{"GOGC=100"} // Go's defaults: no heap floor
		}
	case "bare":
		argv = []string{bin, "-addr", addr}
	case "bare-headers":
		argv = []string{bin, "-addr", addr, "-headers"}
	case "bare-gogc200":
		argv = []string{bin, "-addr", addr}
		env = []string{"GOGC=200"}
	case "scs":
		if storeURL == "memory://" {
			storeURL = "memory"
		}
		argv = []string{bin, "-addr", addr, "-store", storeURL}
	case "jwtauth":
		argv = []string{bin, "-addr", addr}
	default:
		return nil, fmt.Errorf("unknown server kind %q", kind)
	}
	if env != nil { // env(1) sets them and execs the server: one process
		argv = append(append([]string{"env"}, env...), argv...)
	}
	argv = append(append(append([]string{}, prefix...), argv...), extra...)
	name := fmt.Sprintf("%s#%d", kind, instance)
	p, err := Start(name, filepath.Join(logDir, fmt.Sprintf("%s-%d-%d.log", kind, instance, port)), argv, nil)
	if err != nil {
		return nil, err
	}
	s := &Server{Name: kind, Base: "http://" + addr, Proc: p}
	if err := WaitHTTP(ctx, p, s.Base+"/healthz", 15*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return s, nil
}

// Client is the HTTP client the drivers use for set-up and checks: enough
// idle connections for their concurrency, and never a proxy.
var Client = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	},
}

// Login does POST /session {"name":name} and returns the session token,
// checking the contract: 201, the expected body, and the same token in the
// "session" cookie and the X-Session-Token header.
func Login(ctx context.Context, base, name string) (string, error) {
	body, _ := json.Marshal(map[string]string{"name": name})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/session", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := Client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s/session: status %d: %s", base, resp.StatusCode, b)
	}
	var out SessionBody
	if err := json.Unmarshal(b, &out); err != nil || out.Name != name || out.Visits != 0 {
		return "", fmt.Errorf("POST %s/session: body %s", base, b)
	}
	tok := resp.Header.Get("X-Session-Token")
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			cookie = c.Value
		}
	}
	if tok == "" || tok != cookie {
		return "", fmt.Errorf("POST %s/session: the X-Session-Token header (present: %v) and the session cookie (present: %v) differ", base, tok != "", cookie != "")
	}
	return tok, nil
}

// SessionBody is GET /session's answer.
type SessionBody struct {
	Name   string `json:"name"`
	Visits int64  `json:"visits"`
}

// Get does GET base+path with the session cookie tok (none if empty) and
// returns the status and body.
func Get(ctx context.Context, base, path, tok string) (int, []byte, error) {
	return Do(ctx, http.MethodGet, base, path, tok)
}

// Do is Get with another method (a request without a body).
func Do(ctx context.Context, method, base, path, tok string) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
	if tok != "" {
		req.Header.Set("Cookie", "session="+tok)
	}
	resp, err := Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Visits does GET /session, which only reads, and returns the visits it
// reports.
func Visits(ctx context.Context, base, tok string) (int64, error) {
	code, b, err := Get(ctx, base, "/session", tok)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET %s/session: status %d: %s", base, code, b)
	}
	var out SessionBody
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, fmt.Errorf("GET %s/session: body %s", base, b)
	}
	return out.Visits, nil
}

// TokenBody is POST /token's answer.
type TokenBody struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// IssueToken does POST /token with the session cookie tok and returns the
// access token, checking the contract: 200, token_type Bearer, a positive
// expires_in, a token of three dot-separated parts, Cache-Control
// no-store.
func IssueToken(ctx context.Context, base, tok string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/token", nil)
	req.Header.Set("Cookie", "session="+tok)
	resp, err := Client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s/token: status %d: %s", base, resp.StatusCode, b)
	}
	var out TokenBody
	if err := json.Unmarshal(b, &out); err != nil || out.TokenType != "Bearer" || out.ExpiresIn <= 0 || strings.Count(out.AccessToken, ".") != 2 {
		return "", fmt.Errorf("POST %s/token: body %.200s", base, b)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		return "", fmt.Errorf("POST %s/token: Cache-Control %q, want no-store", base, cc)
	}
	return out.AccessToken, nil
}

// GetBearer does GET base+path with Authorization: Bearer token and
// returns the status and body.
func GetBearer(ctx context.Context, base, path, token string) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Greeting is GET /greet's body for name (a name that JSON needs not
// escape).
func Greeting(name string) string { return `{"message":"Hello, ` + name + `!"}` + "\n" }
