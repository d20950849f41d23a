//go:build !linux

package runner

import "syscall"

// sysProcAttr puts a server in its own process group, so a terminal's
// Ctrl-C reaches only the harness. NB: only Linux has Pdeathsig; elsewhere
// a harness killed with SIGKILL leaves its servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
