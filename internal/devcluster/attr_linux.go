package devcluster

import "syscall"

// childAttr puts a child in the dev cluster's own process group (pgid 0:
// a new group led by this child), away from the terminal's, so Ctrl-C
// reaches cairn dev alone and it stops the children in order; and asks
// the kernel to send the child SIGTERM if cairn dev dies first (kill -9,
// a closed terminal), so no server outlives it holding the ports.
//
// NB: Pdeathsig fires when the thread that started the child exits, not
// the process; Go threads live as long as the process unless a goroutine
// locked to one ends, which cairn dev's never do.
func childAttr(pgid int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pgid: pgid, Pdeathsig: syscall.SIGTERM}
}
