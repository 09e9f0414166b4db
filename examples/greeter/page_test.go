package main

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// checkPageHeaders checks the security headers the page and its assets
// carry.
func checkPageHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "data:", "http:", "https:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: Content-Security-Policy %q allows %q", what, csp, bad)
		}
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %s %q, want %q", what, name, got, want)
		}
	}
}

var (
	scriptTag  = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	inlineAttr = regexp.MustCompile(`(?i)<[^>]*\s(on[a-z]+|style)\s*=`)
	jsURL      = regexp.MustCompile(`(?i)(href|src|action)\s*=\s*["']?\s*javascript:`)
)

// checkNoUnhashedInline checks that every inline script of page is allowed
// by its hash in csp, and that the page has no inline event handler, style
// attribute or javascript: URL, which the CSP would block.
func checkNoUnhashedInline(t *testing.T, page, csp string) {
	t.Helper()
	scripts := scriptTag.FindAllStringSubmatch(page, -1)
	if len(scripts) == 0 {
		t.Errorf("the page has no <script> at all; want the external page.js")
	}
	for _, m := range scripts {
		attrs, body := m[1], m[2]
		if strings.Contains(attrs, "src=") {
			if strings.TrimSpace(body) != "" {
				t.Errorf("<script%s> has both src and a body", attrs)
			}
			if strings.Contains(attrs, "//") {
				t.Errorf("<script%s> loads from another origin", attrs)
			}
			continue
		}
		sum := sha256.Sum256([]byte(body))
		hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if !strings.Contains(csp, hash) {
			t.Errorf("inline <script> without its hash %s in the CSP: %.80q", hash, body)
		}
	}
	if m := inlineAttr.FindString(page); m != "" {
		t.Errorf("inline handler or style attribute: %q", m)
	}
	if m := jsURL.FindString(page); m != "" {
		t.Errorf("javascript: URL: %q", m)
	}
}

func TestPageSecurityHeaders(t *testing.T) {
	s := start(t, hooks{}, "-instance", "page-a")
	resp, body := fetch(t, http.DefaultClient, mustRequest(t, http.MethodGet, s.url+"/", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("GET /: Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("GET /: Cache-Control %q, want no-store", cc)
	}
	checkPageHeaders(t, "GET /", resp.Header)
	checkNoUnhashedInline(t, body, resp.Header.Get("Content-Security-Policy"))
	for _, want := range []string{`<form id="greet-form" action="/" method="get">`, `src="/assets/page.js"`, `href="/assets/page.css"`,
		`<code id="page-instance" class="instance">page-a</code>`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /: the page lacks %s", want)
		}
	}

	for _, a := range []struct{ path, ctype, holds string }{
		{"/assets/page.js", "text/javascript; charset=utf-8", "X-Served-By"},
		{"/assets/page.css", "text/css; charset=utf-8", ".instance"},
	} {
		resp, body := fetch(t, http.DefaultClient, mustRequest(t, http.MethodGet, s.url+a.path, nil))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != a.ctype || !strings.Contains(body, a.holds) {
			t.Errorf("GET %s: %d %q, %d bytes", a.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		checkPageHeaders(t, "GET "+a.path, resp.Header)
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", a.path)
			continue
		}
		req := mustRequest(t, http.MethodGet, s.url+a.path, nil)
		req.Header.Set("If-None-Match", etag)
		if resp, _ := fetch(t, http.DefaultClient, req); resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match its ETag: %d, want 304", a.path, resp.StatusCode)
		}
	}
}

func mustRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestServedByEveryResponse: X-Served-By names the instance on the page,
// the API's answers, its errors and the probes alike.
func TestServedByEveryResponse(t *testing.T) {
	s := start(t, hooks{}, "-instance", "web-7")
	for _, r := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/", 200},
		{"HEAD", "/", 200},
		{"GET", "/assets/page.css", 200},
		{"GET", "/greet?name=Al", 200},
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 200},
		{"GET", "/session", 401},
		{"GET", "/nosuch", 404},
		{"GET", "/assets/nosuch.js", 404},
		{"POST", "/", 405},
		{"DELETE", "/greet", 405},
	} {
		resp, body := fetch(t, http.DefaultClient, mustRequest(t, r.method, s.url+r.path, nil))
		if resp.StatusCode != r.status {
			t.Errorf("%s %s: %d %q, want %d", r.method, r.path, resp.StatusCode, body, r.status)
		}
		if got := resp.Header.Get("X-Served-By"); got != "web-7" {
			t.Errorf("%s %s: X-Served-By %q, want web-7", r.method, r.path, got)
		}
		if r.status >= 400 {
			checkJSONError(t, r.method+" "+r.path, body)
		}
	}
	resp, _ := fetch(t, http.DefaultClient, mustRequest(t, http.MethodPost, s.url+"/", nil))
	if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
		t.Errorf("POST /: Allow %q, want GET, HEAD", allow)
	}
	resp, body := fetch(t, http.DefaultClient, mustRequest(t, http.MethodHead, s.url+"/", nil))
	if body != "" || resp.ContentLength <= 0 {
		t.Errorf("HEAD /: body %q, Content-Length %d; want no body and the page's length", body, resp.ContentLength)
	}
}

// TestPageGreetsWithoutScript: the greet form's submission, /?name=…, is
// answered with the greeting in the HTML, for a browser without JavaScript,
// by /greet's rules (its 400s included).
func TestPageGreetsWithoutScript(t *testing.T) {
	s := start(t, hooks{}, "-instance", "page-a")
	for _, tc := range []struct {
		query      string
		status     int
		want, lack []string
	}{
		{"name=Alice", 200, []string{`<span id="greet-message" class="message">Hello, Alice!</span>`, `value="Alice"`}, []string{"greet-error"}},
		{"name=Ann+Lee", 200, []string{"Hello, Ann Lee!"}, nil},
		{"name=", 200, []string{"Hello, !"}, nil},
		{"name=%3Cscript%3Ealert(1)%3C%2Fscript%3E", 200, []string{"Hello, &lt;script&gt;alert(1)&lt;/script&gt;!"}, []string{"<script>alert"}},
		{"name=%22%3E%3Cb%3E", 200, []string{`value="&#34;&gt;&lt;b&gt;"`}, []string{`"><b>`}},
		{"name=%zz", 400, []string{`<span id="greet-error" class="error">malformed query string`}, []string{"greet-message"}},
		{"name=" + strings.Repeat("a", 300), 400, []string{"longer than 256 bytes"}, []string{"greet-message"}},
		{"name=%ff", 400, []string{"not valid UTF-8"}, nil},
		{"other=1", 200, nil, []string{"greet-message", "greet-error"}},
	} {
		resp, body := fetch(t, http.DefaultClient, mustRequest(t, http.MethodGet, s.url+"/?"+tc.query, nil))
		if resp.StatusCode != tc.status {
			t.Errorf("GET /?%.40s: %d, want %d", tc.query, resp.StatusCode, tc.status)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET /?%.40s: Content-Type %q", tc.query, ct)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET /?%.40s: the page lacks %q", tc.query, w)
			}
		}
		for _, l := range tc.lack {
			if strings.Contains(body, l) {
				t.Errorf("GET /?%.40s: the page has %q", tc.query, l)
			}
		}
	}

}

// TestPageCrossOrigin: the page's requests pass the cross-origin
// protection as a browser sends them; a cross-site one does not.
func TestPageCrossOrigin(t *testing.T) {
	s := start(t, hooks{}, "-login-rate", "0")
	for _, tc := range []struct {
		site   string
		status int
	}{{"same-origin", 201}, {"cross-site", 403}} {
		req := mustRequest(t, http.MethodPost, s.url+"/session", strings.NewReader(`{"name":"Cy"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sec-Fetch-Site", tc.site)
		req.Header.Set("Origin", s.url)
		if resp, body := fetch(t, http.DefaultClient, req); resp.StatusCode != tc.status {
			t.Errorf("POST /session with Sec-Fetch-Site %s: %d %q, want %d", tc.site, resp.StatusCode, body, tc.status)
		}
	}
}

func TestInstanceFlag(t *testing.T) {
	cfg, err := parseConfig(nil, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if checkInstance(host) != nil {
		host = "greeter"
	}
	if cfg.instance != host {
		t.Errorf("default -instance %q, want the hostname %q", cfg.instance, host)
	}
	for _, bad := range []string{"a b", "x\r\nSet-Cookie: a=b", strings.Repeat("n", maxInstanceLen+1), "é"} {
		line := checkOneLine(t, []string{"-instance", bad}, env())
		if !strings.Contains(line, "-instance") {
			t.Errorf("-instance %q: %q does not name the flag", bad, line)
		}
		checkOneLine(t, nil, env(envName("instance"), bad))
	}
	if _, err := parseConfig([]string{"-instance", strings.Repeat("n", maxInstanceLen)}, env(), io.Discard); err != nil {
		t.Errorf("-instance of %d characters: %v", maxInstanceLen, err)
	}
}
