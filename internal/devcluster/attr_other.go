//go:build !linux

package devcluster

import "syscall"

// childAttr: see attr_linux.go; there is no Pdeathsig here, so pid files
// alone find servers an earlier cairn dev left behind.
func childAttr(pgid int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
}
