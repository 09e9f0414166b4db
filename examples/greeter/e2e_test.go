package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary builds the real binary, serves /greet from it and stops it with
// SIGTERM, as an operator would.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped in -short mode")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH to build the binary")
	}
	bin := filepath.Join(t.TempDir(), "greeter")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	addr := freeAddr(t)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-addr", addr, "-login-rate", "0")
	cmd.Stderr = &stderr
	cmd.Env = []string{"STORE_URL=memory://?max_entries=1000"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{}) // closed once waitErr is set
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // an error if it has already exited; nothing to do then
		<-exited
	})

	base := "http://" + addr
	waitUntilServing(t, base+"/healthz", exited)

	resp, err := http.Get(base + "/greet?name=Alice")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"message":"Hello, Alice!"}`+"\n" {
		t.Errorf("GET /greet?name=Alice: %d %q", resp.StatusCode, body)
	}

	// GOGC unset: the heap floor (gcfloor.go) has raised the collector's
	// percentage, which the Go collector's metric shows.
	if got := gogcPercent(t, base); got != "200" {
		t.Errorf("without GOGC, go_gc_gogc_percent is %s, want 200 (the heap floor's)", got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-exited
	if waitErr != nil {
		t.Errorf("after SIGTERM: %v, want exit 0; stderr:\n%s", waitErr, stderr.String())
	}
	logs := stderr.String()
	for _, want := range []string{"greeter listening", "addr=" + addr, "max_entries=1000", "login_rate=0", "path=/greet status=200", "greeter stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// TestBinaryGOGC: with GOGC set, the binary leaves the collector to it
// (no heap floor).
func TestBinaryGOGC(t *testing.T) {
	bin := buildBinary(t)
	addr := freeAddr(t)
	p := startBinary(t, bin, []string{"GOGC=100"}, "-addr", addr)
	base := "http://" + addr
	waitUntilServing(t, base+"/healthz", p.exited)
	// The floor, were it on, would have set its percentage at once.
	if got := gogcPercent(t, base); got != "100" {
		t.Errorf("with GOGC=100, go_gc_gogc_percent is %s, want 100", got)
	}
}

// gogcPercent scrapes base's /metrics for go_gc_gogc_percent.
func gogcPercent(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "go_gc_gogc_percent "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/metrics has no go_gc_gogc_percent:\n%s", body)
	return ""
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. Another process could take it before the binary does; that would
// fail the test loudly, not falsely pass it.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitUntilServing polls url until it answers 200, or fails if the process
// exits first.
func waitUntilServing(t *testing.T, url string, exited <-chan struct{}) {
	t.Helper()
	for {
		select {
		case <-exited:
			t.Fatal("the binary exited before serving")
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			t.Fatalf("GET %s: %d", url, resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
