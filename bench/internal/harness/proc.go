// Package harness starts and stops what the bench drivers need: the two
// server binaries, a Redis and a PostgreSQL server of their own on
// loopback, and it logs in sessions. Every process it starts is a child it
// tracks by pid; StopAll ends exactly those.
package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process started by Start.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	stopSig os.Signal
}

var (
	mu      sync.Mutex
	started []*Proc
)

// Start runs argv in the background with its stdout and stderr going to
// logPath. cred, if not nil, runs it as another user (PostgreSQL refuses to
// run as root).
func Start(name, logPath string, argv []string, cred *syscall.Credential) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		os.Chown(logPath, int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a Ctrl-C in the terminal reaches the driver,
	// which then stops its children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{}), stopSig: syscall.SIGTERM}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	mu.Lock()
	started = append(started, p)
	mu.Unlock()
	return p, nil
}

// Pid is the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// LogTail returns the last lines of the process's log, for error messages.
func (p *Proc) LogTail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop signals the process (SIGTERM, or what SetStopSignal chose) and
// waits up to 15 seconds, then kills it.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	// A connection our client opened but never used is "new" to a
	// server, and http.Server.Shutdown waits 5s for such connections.
	Client.CloseIdleConnections()
	p.cmd.Process.Signal(p.stopSig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// SetStopSignal sets the signal Stop sends first.
func (p *Proc) SetStopSignal(s os.Signal) { p.stopSig = s }

// StopAll stops every process Start started that is still running, newest
// first (servers before the stores they use).
func StopAll() {
	mu.Lock()
	ps := started
	started = nil
	mu.Unlock()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].Stop()
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WaitHTTP polls url until it answers 200, p exits, or timeout passes.
func WaitHTTP(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for {
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited: %s", p.Name, p.LogTail(5))
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			return fmt.Errorf("%s not ready at %s after %v: %v", nameOf(p), url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func nameOf(p *Proc) string {
	if p == nil {
		return "server"
	}
	return p.Name
}

// Build compiles the main package pkg of the module in dir into out.
func Build(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s in %s: %v\n%s", pkg, dir, err, b)
	}
	return nil
}

// ModuleDir walks up from dir to the directory whose go.mod declares
// module path.
func ModuleDir(dir, path string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if fs := strings.Fields(sc.Text()); len(fs) == 2 && fs[0] == "module" && fs[1] == path {
					f.Close()
					return dir, nil
				}
			}
			f.Close()
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module " + path + " above the current directory")
		}
		dir = parent
	}
}
