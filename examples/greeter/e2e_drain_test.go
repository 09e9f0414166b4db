package main

import (
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binaryDrain is the -drain of TestBinaryDrain: long enough for two
// requests on loopback, short enough not to slow the suite.
const binaryDrain = 3 * time.Second

// buildBinary builds the greeter into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
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
	return bin
}

// process is the binary running.
type process struct {
	cmd     *exec.Cmd
	stderr  *syncBuffer
	exited  chan struct{} // closed once waitErr is set
	waitErr error
}

func startBinary(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = dieWithParent()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill() // an error if it has already exited; nothing to do then
		<-p.exited
	})
	return p
}

// wait waits for the process to exit, at most bound, and returns how it
// ended: nil for exit 0.
func (p *process) wait(t *testing.T, bound time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(bound):
		t.Fatalf("the binary did not exit within %v; stderr:\n%s", bound, p.stderr.String())
		return nil
	}
}

// TestBinaryDrain: the real binary, sent SIGTERM, answers 503 on /readyz
// at once and keeps serving /greet through the drain, then exits 0.
func TestBinaryDrain(t *testing.T) {
	bin := buildBinary(t)
	addr := freeAddr(t)
	p := startBinary(t, bin, []string{"GREETER_DRAIN=" + binaryDrain.String()}, "-addr", addr)
	base := "http://" + addr
	waitUntilServing(t, base+"/readyz", p.exited)

	c := newClient(t)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	for {
		status, body, _, err := call(c, http.MethodGet, base+"/readyz", "", "", byNone)
		if err != nil {
			t.Fatalf("GET /readyz %v after SIGTERM: %v; want 503 for the -drain of %v", time.Since(began), err, binaryDrain)
		}
		if status == http.StatusServiceUnavailable {
			if body != `{"error":"draining"}`+"\n" {
				t.Errorf("GET /readyz while draining: %q", body)
			}
			break
		}
		if status != http.StatusOK {
			t.Fatalf("GET /readyz after SIGTERM: %d %q", status, body)
		}
		time.Sleep(time.Millisecond)
	}
	status, body, _, err := call(c, http.MethodGet, base+"/greet?name=Drain", "", "", byNone)
	if err != nil || status != http.StatusOK || body != `{"message":"Hello, Drain!"}`+"\n" {
		t.Errorf("GET /greet %v after SIGTERM (drain %v): %d %q %v, want Hello, Drain!", time.Since(began), binaryDrain, status, body, err)
	}
	if err := p.wait(t, binaryDrain+promptly); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0; stderr:\n%s", err, p.stderr.String())
	}
	logs := p.stderr.String()
	for _, want := range []string{"draining: /readyz answers 503", "drain=" + binaryDrain.String(), "shutting down", "greeter stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// TestBinarySignalDuringStartUp: SIGTERM while the binary opens a store
// that accepts connections and never answers ends it promptly, exit code
// 0 (or 143, killed by the signal), without an error about the store.
func TestBinarySignalDuringStartUp(t *testing.T) {
	bin := buildBinary(t)
	storeAddr, accepted := hungServer(t)
	p := startBinary(t, bin, []string{"GREETER_STORE=redis://:pa55word@" + storeAddr + "/0", "GREETER_LOG_LEVEL=debug"},
		"-addr", freeAddr(t))
	select {
	case <-accepted:
	case <-p.exited:
		t.Fatalf("exited before dialling the store: %v; stderr:\n%s", p.waitErr, p.stderr.String())
	case <-time.After(promptly):
		t.Fatalf("the store was not dialled within %v; stderr:\n%s", promptly, p.stderr.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := p.wait(t, promptly)
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM:
	default:
		t.Errorf("after SIGTERM during start-up: %v, want exit 0 or death by SIGTERM (143)", err)
	}
	logs := p.stderr.String()
	for _, blame := range []string{"store URL", "level=ERROR", "greeter: ", "pa55word"} {
		if strings.Contains(logs, blame) {
			t.Errorf("stderr holds %q:\n%s", blame, logs)
		}
	}
	if err == nil && !strings.Contains(logs, "start-up interrupted") {
		t.Errorf("stderr does not say the start-up was interrupted:\n%s", logs)
	}
}
