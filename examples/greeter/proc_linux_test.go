package main

import "syscall"

// dieWithParent makes a child process die with the test binary, so a
// binary killed by a panic or a -timeout leaves no redis-server behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
