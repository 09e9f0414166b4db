package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

// The browser tests drive a real headless Chromium through chromedp and
// assert on the DOM, never on pixels. They skip without a browser (Debian:
// apt-get install chromium), unless TEST_REQUIRE_BROWSER=1, as CI sets.
//
// Screenshots go to $GREETER_SCREENSHOTS, or to a temporary directory; the
// test logs where. README's screenshot is two-instances.png:
//
//	GREETER_SCREENSHOTS=/tmp/shots go test ./examples/greeter -run '^TestBrowser$' -v
//	cp /tmp/shots/two-instances.png docs/greeter-page.png

// browserExec finds Chromium or Chrome, or skips (fails with
// TEST_REQUIRE_BROWSER=1).
func browserExec(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no chromium, chromium-browser or google-chrome in PATH (Debian: apt-get install -y chromium)"
	if os.Getenv("TEST_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; TEST_REQUIRE_BROWSER=1 makes this a failure")
	}
	t.Skip(msg + "; the browser tests are SKIPPED (TEST_REQUIRE_BROWSER=1 makes this a failure)")
	return ""
}

// startBrowser starts one headless browser for the test and returns its
// context; each flow opens a tab of its own in a fresh browser context
// (its own cookies) with newTab.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := browserExec(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // Chromium refuses to run as root with its sandbox
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(900, 1000),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, without a timeout
		t.Fatalf("starting %s: %v", exe, err)
	}
	t.Logf("%s started in %v", exe, time.Since(start).Round(time.Millisecond))
	return ctx
}

// newTab opens a tab in a browser context of its own, bounded to a minute.
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancelTimeout := context.WithTimeout(browser, time.Minute)
	ctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(func() {
		cancel()
		cancelTimeout()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return ctx
}

// screenshots is the folder screenshots are written to.
func screenshots(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GREETER_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shoot writes a PNG of the whole page to dir/name.
func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Error(err)
		return
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
}

// must runs actions, failing the test on error.
func must(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor waits until the JavaScript expression is true, or fails with
// what the page shows. It polls from Go, so that a navigation in between
// (a form submitted) is only a failed try.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		var ok bool
		if ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool](withShown(expr))); err == nil && ok {
			return
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	t.Fatalf("waiting for %s (%s): last error %v; the page shows:\n%s", what, expr, err, body)
}

// withShown wraps a JavaScript expression so that it can call shown(id):
// whether the element is rendered (not hidden by an attribute, by CSS or
// by an ancestor), as a user would see it.
func withShown(expr string) string {
	return `(() => { const shown = (id) => document.getElementById(id).checkVisibility(); return (` + expr + `); })()`
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).textContent`, sel))
}

// sessionToken reads the session cookie the browser holds for base (it is
// HttpOnly, so the page's script cannot).
func sessionToken(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatalf("reading the browser's cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == sessionCookie {
			if !c.HTTPOnly {
				t.Errorf("the session cookie is not HttpOnly")
			}
			return c.Value
		}
	}
	return ""
}

// sessionOn reads GET /session on base with token, from outside the
// browser: status and visits.
func sessionOn(t *testing.T, base, token string) (int, int64) {
	t.Helper()
	req := mustRequest(t, http.MethodGet, base+"/session", nil)
	req.Header.Set(tokenHeader, token)
	resp, body := fetch(t, http.DefaultClient, req)
	if resp.StatusCode != 200 {
		return resp.StatusCode, -1
	}
	var v visitBody
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Visits == nil {
		t.Fatalf("GET /session: %q", body)
	}
	return resp.StatusCode, *v.Visits
}

// loginInPage logs name in through the page's form.
func loginInPage(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	waitFor(t, ctx, "the page's script to ask for the session", `document.body.dataset.ready === "true"`)
	waitFor(t, ctx, "the login form", `shown("login-form")`)
	must(t, ctx, "log in",
		chromedp.SendKeys(chromedp.CSS("#login-name"), name),
		chromedp.Click(chromedp.CSS("#login")),
	)
	waitFor(t, ctx, "logged in", `shown("logged-in") && !shown("login-form")`)
	if got := text(t, ctx, "#session-name"); got != name {
		t.Errorf("logged in as %q, want %q", got, name)
	}
}

// greetInPage greets name through the page's form (with the script on)
// and returns the answer's text and the instance that served it.
func greetInPage(t *testing.T, ctx context.Context, name string) (msg, by string) {
	t.Helper()
	eval[string](t, ctx, `document.getElementById("name").value = ""`)
	must(t, ctx, "greet",
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.Click(chromedp.CSS("#greet-form button")),
	)
	want := "Hello, " + name + "!"
	waitFor(t, ctx, "the greeting", fmt.Sprintf(`(document.querySelector("#greet-answer .message") || {}).textContent === %q`, want))
	return want, eval[string](t, ctx, `document.getElementById("greet-answer").dataset.servedBy`)
}

// countVisit clicks "Count a visit" and waits for the counter to show want.
func countVisit(t *testing.T, ctx context.Context, want int) string {
	t.Helper()
	must(t, ctx, "count a visit", chromedp.Click(chromedp.CSS("#visit")))
	waitFor(t, ctx, "visits "+strconv.Itoa(want), fmt.Sprintf(
		`document.getElementById("visits").textContent === %q && !document.getElementById("visit").disabled`, strconv.Itoa(want)))
	return eval[string](t, ctx, `document.getElementById("session-answer").dataset.servedBy`)
}

// answersBy returns the instances the answers list shows, by request.
func answersBy(t *testing.T, ctx context.Context, prefix string) []string {
	t.Helper()
	return eval[[]string](t, ctx, fmt.Sprintf(`Array.from(document.querySelectorAll("#answers li"))
		.filter(li => li.querySelector(".what").textContent.startsWith(%q)).map(li => li.dataset.servedBy)`, prefix))
}

func TestBrowser(t *testing.T) {
	began := time.Now()
	browser := startBrowser(t)
	shots := screenshots(t)
	t.Cleanup(func() { t.Logf("browser test took %v", time.Since(began).Round(time.Millisecond)) })

	// One instance, the real program: log in, greet, count, log out.
	t.Run("flows", func(t *testing.T) {
		s := start(t, hooks{}, "-instance", "solo", "-login-rate", "0")
		ctx := newTab(t, browser)
		must(t, ctx, "open the page", chromedp.Navigate(s.url+"/"))
		if got := text(t, ctx, "#page-instance"); got != "solo" {
			t.Errorf("page served by %q, want solo", got)
		}
		loginInPage(t, ctx, "Alice")
		token := sessionToken(t, ctx, s.url)
		if token == "" {
			t.Fatal("no session cookie in the browser after logging in")
		}

		msg, by := greetInPage(t, ctx, "Bob")
		if by != "solo" {
			t.Errorf("%s served by %q, want solo", msg, by)
		}

		for i := 1; i <= 3; i++ {
			if by := countVisit(t, ctx, i); by != "solo" {
				t.Errorf("visit %d served by %q, want solo", i, by)
			}
		}
		// Each click counted exactly once: the store says 3, and the page
		// sent three POSTs.
		if status, n := sessionOn(t, s.url, token); status != 200 || n != 3 {
			t.Errorf("GET /session after 3 clicks: %d, %d visits; want 200, 3", status, n)
		}
		if posts := answersBy(t, ctx, "POST /session/visits → 200"); len(posts) != 3 {
			t.Errorf("%d POST /session/visits answers, want 3", len(posts))
		}
		// A reload reads the session, and counts nothing.
		must(t, ctx, "reload", chromedp.Navigate(s.url+"/"))
		waitFor(t, ctx, "logged in after a reload", `shown("logged-in")`)
		if got := text(t, ctx, "#visits"); got != "3" {
			t.Errorf("visits after a reload: %q, want 3", got)
		}
		shoot(t, ctx, shots, "logged-in.png")

		must(t, ctx, "log out", chromedp.Click(chromedp.CSS("#logout")))
		waitFor(t, ctx, "logged out", `shown("login-form") && !shown("logged-in")`)
		if status, _ := sessionOn(t, s.url, token); status != http.StatusUnauthorized {
			t.Errorf("GET /session with the token after logging out in the page: %d, want 401", status)
		}
		// Nothing the page sent was refused as cross-origin.
		if refused := answersBy(t, ctx, "POST /session → 403"); len(refused) > 0 {
			t.Errorf("the cross-origin protection refused the page's own login")
		}
		checkLogs(t, s, token)
	})

	// Two instances over one store behind a proxy that alternates between
	// them: one session, served by both, its counter carrying on.
	t.Run("two-instances", func(t *testing.T) {
		st := memory.New(nil)
		t.Cleanup(func() { st.Close() })
		a, b := inProcessInstance(t, st, "alpha"), inProcessInstance(t, st, "beta")
		lb := alternate(t, a.URL, b.URL)
		ctx := newTab(t, browser)
		must(t, ctx, "open the page", chromedp.Navigate(lb.URL+"/"))
		loginInPage(t, ctx, "Carol")
		seen := map[string]int{}
		for i := 1; i <= 4; i++ {
			seen[countVisit(t, ctx, i)]++
		}
		_, by := greetInPage(t, ctx, "Carol")
		seen[by]++
		if seen["alpha"] == 0 || seen["beta"] == 0 {
			t.Errorf("answers served by %v, want both alpha and beta", seen)
		}
		if all := answersBy(t, ctx, "POST /session/visits"); len(all) != 4 {
			t.Errorf("%d POST /session/visits answers (%v), want 4", len(all), all)
		}
		token := sessionToken(t, ctx, lb.URL)
		for _, inst := range []*httptest.Server{a, b} {
			if status, n := sessionOn(t, inst.URL, token); status != 200 || n != 4 {
				t.Errorf("GET /session on %s directly: %d, %d visits; want 200, 4", inst.URL, status, n)
			}
		}
		shoot(t, ctx, shots, "two-instances.png")
	})

	// With JavaScript off the greet form still greets: the browser submits
	// it to / and the page shows the answer.
	t.Run("no-javascript", func(t *testing.T) {
		s := start(t, hooks{}, "-instance", "plain")
		ctx := newTab(t, browser)
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("disabling JavaScript: %v", err)
		}
		must(t, ctx, "open the page", chromedp.Navigate(s.url+"/"))
		// The script did not run: the session part stays hidden.
		if hidden := eval[bool](t, ctx, withShown(`!shown("session") && document.body.dataset.ready === undefined`)); !hidden {
			t.Fatal("the page's script ran: JavaScript is not off")
		}
		must(t, ctx, "submit the greet form",
			chromedp.SendKeys(chromedp.CSS("#name"), "Dora Lee"),
			chromedp.Click(chromedp.CSS("#greet-form button")),
		)
		waitFor(t, ctx, "the greeting page", `!!document.getElementById("greet-message")`)
		if got := text(t, ctx, "#greet-message"); got != "Hello, Dora Lee!" {
			t.Errorf("greeting %q, want Hello, Dora Lee!", got)
		}
		loc := eval[string](t, ctx, `location.pathname + location.search`)
		if loc != "/?name=Dora+Lee" {
			t.Errorf("the form went to %q, want /?name=Dora+Lee", loc)
		}
		if got := text(t, ctx, "#greet-answer .served .instance"); got != "plain" {
			t.Errorf("greeting served by %q, want plain", got)
		}
		if v := eval[string](t, ctx, `document.getElementById("name").value`); v != "Dora Lee" {
			t.Errorf("the form's name after the greeting: %q, want Dora Lee", v)
		}
		shoot(t, ctx, shots, "no-javascript.png")
	})

	// The benchmark chart README embeds has its bars.
	t.Run("chart", func(t *testing.T) {
		svg, err := filepath.Abs(filepath.Join("..", "..", "docs", "load.svg"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(svg); err != nil {
			t.Fatalf("the chart README embeds: %v (cd bench && go run ./cmd/chart makes it)", err)
		}
		ctx := newTab(t, browser)
		must(t, ctx, "open the chart", chromedp.Navigate((&url.URL{Scheme: "file", Path: svg}).String()))
		type bar struct {
			Server, Store, Scenario, Placement string
			Value, Height                      float64
		}
		bars := eval[[]bar](t, ctx, `Array.from(document.querySelectorAll("rect[data-server]")).map(r => ({
			Server: r.dataset.server, Store: r.dataset.store, Scenario: r.dataset.scenario, Placement: r.dataset.placement,
			Value: Number(r.dataset.value), Height: r.getBBox().height}))`)
		count := map[string]int{}
		for _, b := range bars {
			count[b.Server]++
			count[b.Placement]++
			if !(b.Value > 0) || !(b.Height > 0) {
				t.Errorf("bar %+v: want a positive value and height", b)
			}
		}
		if count["ours"] == 0 || count["ours"] != count["scs"] {
			t.Errorf("bars: %d ours, %d scs; want as many of each, and some", count["ours"], count["scs"])
		}
		if count["pinned"] == 0 || count["shared"] == 0 {
			t.Errorf("bars: %d pinned, %d shared; want both placements", count["pinned"], count["shared"])
		}
		t.Logf("chart: %d bars", len(bars))
		shoot(t, ctx, shots, "chart.png")
	})
}

// inProcessInstance serves the Greeter with the page over st, as the
// program assembles it, named name.
func inProcessInstance(t *testing.T, st store.Store, name string) *httptest.Server {
	t.Helper()
	sessions, err := session.New(st, greeter.SessionOptions())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(servedBy(name, withPage(greeter.New(st, &greeter.Options{Sessions: sessions}), name)))
	t.Cleanup(srv.Close)
	return srv
}

// alternate is a reverse proxy that sends each request to the next of
// backends in turn, keeping the Host the browser sent.
func alternate(t *testing.T, backends ...string) *httptest.Server {
	t.Helper()
	var proxies []*httputil.ReverseProxy
	for _, b := range backends {
		u, err := url.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		proxies = append(proxies, &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		}})
	}
	var n atomic.Uint64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxies[(n.Add(1)-1)%uint64(len(proxies))].ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}
