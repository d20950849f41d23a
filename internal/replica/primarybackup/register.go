package primarybackup

import (
	"fmt"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

// The engine registers itself as --engine primary-backup: a driver host
// whose partitions' groups run primary-backup cores and whose meta group
// (group 0) runs the registered meta engine, Raft's (driver.MetaEngine:
// the binary links raftengine, and this package imports no Raft). It needs
// the node's configuration store (HostConfig.ConfigStore): each
// partition's record lives in the meta group.
func init() {
	replica.Register(Registration(Name, Options{}))
}

// Registration is the engine's registry entry under name, its hosts'
// cores built with opts: what init registers as --engine primary-backup
// with the default options, and what a caller that sets the options
// (the cluster's stored --pb-* settings, a simulation of async mode)
// registers under a name of its own.
func Registration(name string, opts Options) replica.Engine {
	return replica.Engine{Name: name, Liveness: Liveness, ReadLog: readLog, TermsAgree: true,
		NewHost: func(cfg replica.HostConfig) (replica.Host, error) {
			if cfg.ConfigStore == nil {
				return nil, fmt.Errorf("primarybackup: the engine keeps each partition's configuration in the meta group: HostConfig.ConfigStore is required")
			}
			meta, err := driver.MetaEngine(cfg.Store)
			if err != nil {
				return nil, err
			}
			o := opts
			if o == (Options{}) {
				// The cluster's stored --pb-* settings; a caller that
				// registered options of its own (a simulation) keeps them.
				if o, err = OptionsOf(cfg); err != nil {
					return nil, err
				}
			}
			if o.Rollbacks == nil && cfg.PrimaryBackup.RollbackDir != "" {
				o.Rollbacks = &FileRollbacks{Dir: cfg.PrimaryBackup.RollbackDir, Session: cfg.PrimaryBackup.Session}
			}
			h, err := driver.NewHost(driver.ConfigOf(cfg, Engine{Options: o}, meta))
			// NB: not on a manual host: a simulation gathers its registry
			// from the goroutine that drives every node, with crashed
			// nodes' groups left locked, and Collect takes each group's
			// status lock (as /v1/cluster does on a server).
			if err == nil && cfg.Registry != nil && !cfg.Manual {
				cfg.Registry.MustRegister(newLagCollector(h))
			}
			return h, err
		}}
}

// Liveness is the engine's rule for the move planner: at least
// --pb-min-in-sync (default min(2, R)) of the group's replicas on live
// nodes, since the primary refuses writes below it. The descriptor does
// not carry the in-sync set yet, so every voter counts as a candidate.
func Liveness(d replica.Descriptor, live func(node string) bool) *replica.Shortfall {
	sf := &replica.Shortfall{Need: min(2, len(d.Voters)), Of: len(d.Voters)}
	for _, id := range d.Voters {
		m, ok := d.Replica(id)
		switch {
		case !ok:
			sf.Lost = append(sf.Lost, fmt.Sprintf("replica %d", id))
		case live(m.Node):
			sf.Live++
		default:
			sf.Lost = append(sf.Lost, m.Node)
		}
	}
	if sf.Live >= sf.Need {
		return nil
	}
	return sf
}

// readLog is the engine's replica.ReadLogFunc: the commit index and the
// committed entries a replica's store holds. An entry keeps the epoch it
// was appended in on every replica, so terms agree.
func readLog(l storage.LogReader, g replica.GroupID, from uint64) (replica.DurableLog, error) {
	var dl replica.DurableLog
	version, raw, err := l.ReadHardState(uint64(g))
	if err != nil {
		return dl, err // storage.ErrNotFound: no replica here
	}
	hs, err := decodeHardState(version, raw)
	if err != nil {
		return dl, fmt.Errorf("primarybackup: group %d: %w", g, err)
	}
	dl.Commit = hs.commit
	return driver.ReadCommitted(l, g, from, dl, func(i uint64, value []byte) (uint64, uint64, []byte, bool, error) {
		e, err := decodeEntry(value)
		if err != nil {
			return 0, 0, nil, false, fmt.Errorf("primarybackup: group %d: entry %d: %w", g, i, err)
		}
		return uint64(e.typ), e.epoch, e.data, e.typ == driver.EntryNormal, nil
	})
}
