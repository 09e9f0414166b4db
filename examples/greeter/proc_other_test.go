//go:build !linux

package main

import "syscall"

// dieWithParent: only Linux can tie a child's life to its parent's; the
// tests' cleanups stop the processes elsewhere.
func dieWithParent() *syscall.SysProcAttr { return nil }
