package testenv

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// dieWithParent makes a child process die with the test binary, so a
// binary killed by a panic or a -timeout leaves no redis-server behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// goCommandStderr opens the standard error of the go command that runs
// this test binary, when it does (its parent is named "go"): "go test
// ./..." shows a passing package's own output only with -v, and a line
// written there is seen without it. Nil when there is no such parent.
func goCommandStderr() *os.File {
	ppid := os.Getppid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return nil
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/2", ppid), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil
	}
	return f
}
