//go:build !linux

package testenv

import "syscall"

// dieWithParent: only Linux can tie a child's life to its parent's; Main
// stops the processes elsewhere.
func dieWithParent() *syscall.SysProcAttr { return nil }
