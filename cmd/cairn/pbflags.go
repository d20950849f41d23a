package main

import (
	"fmt"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/spf13/pflag"
)

// addPBFlags adds the primary-backup engine's settings (DESIGN.md, Flags),
// fixed at creation like --engine.
func addPBFlags(f *pflag.FlagSet) {
	f.String(cluster.FlagPBMode, cluster.DefaultPBMode, "with --engine primary-backup, fixed at creation: sync (a write is acknowledged once every in-sync replica has it durably; no acknowledged write is lost on a failover) or async (acknowledged on the primary's fsync; a failover loses what the backups lacked, within --pb-max-lag)")
	f.Int(cluster.FlagPBMinInSync, 0, "with --engine primary-backup, fixed at creation: below this many in-sync replicas (the primary among them) writes are refused (default min(2, --replicas))")
	f.Duration(cluster.FlagPBMaxLag, cluster.DefaultPBMaxLag, "with --engine primary-backup --pb-mode async, fixed at creation: the primary refuses writes when no backup acknowledged within this long, which bounds what a failover can lose")
	f.Duration(cluster.FlagPBLease, cluster.DefaultPBLease, "with --engine primary-backup, fixed at creation: the primary's lease, renewed through the meta group; a backup takes over only once it ran out, so a dead primary's partition takes writes again after about this long")
}

// pbSettings sets the primary-backup settings given explicitly (on the
// command line or as CAIRN_PB_*) into s; the others stay zero, so that the
// cluster's defaults (or, on a restart, its stored values) apply. The
// cluster's Validate judges them and names the flag.
func pbSettings(f *pflag.FlagSet, explicit map[string]bool, s *cluster.Settings) error {
	if explicit[cluster.FlagPBMode] {
		s.PBMode, _ = f.GetString(cluster.FlagPBMode)
	}
	if explicit[cluster.FlagPBMinInSync] {
		s.PBMinInSync, _ = f.GetInt(cluster.FlagPBMinInSync)
		if s.PBMinInSync <= 0 {
			return usageError{fmt.Errorf("--%s %d: must be positive", cluster.FlagPBMinInSync, s.PBMinInSync)}
		}
	}
	if explicit[cluster.FlagPBMaxLag] {
		s.PBMaxLag, _ = f.GetDuration(cluster.FlagPBMaxLag)
		if s.PBMaxLag <= 0 {
			return usageError{fmt.Errorf("--%s %v: must be positive", cluster.FlagPBMaxLag, s.PBMaxLag)}
		}
	}
	if explicit[cluster.FlagPBLease] {
		s.PBLease, _ = f.GetDuration(cluster.FlagPBLease)
		if s.PBLease <= 0 {
			return usageError{fmt.Errorf("--%s %v: must be positive", cluster.FlagPBLease, s.PBLease)}
		}
	}
	return nil
}
