package runner

import "syscall"

// sysProcAttr puts a server in its own process group, so a terminal's
// Ctrl-C reaches only the harness, and has the kernel SIGKILL it if the
// harness dies first (see spawner).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
