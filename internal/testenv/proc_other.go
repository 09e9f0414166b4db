//go:build !linux

package testenv

import (
	"os"
	"syscall"
)

// dieWithParent: only Linux can tie a child's life to its parent's; Main
// stops the processes elsewhere.
func dieWithParent() *syscall.SysProcAttr { return nil }

// goCommandStderr: only Linux can find the go command's standard error;
// elsewhere the skip summary goes to this binary's (seen with -v, or when
// one package is tested).
func goCommandStderr() *os.File { return nil }
