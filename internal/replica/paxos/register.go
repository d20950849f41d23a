package paxos

import (
	"fmt"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

// The engine registers itself as --engine paxos: a driver host whose
// partitions' groups run Paxos cores and whose meta group (group 0) runs
// the registered meta engine, Raft's (driver.MetaEngine: the binary links
// raftengine, and this package imports no Raft).
func init() {
	replica.Register(replica.Engine{Name: Name, Liveness: replica.Majority, ReadLog: readLog,
		NewHost: func(cfg replica.HostConfig) (replica.Host, error) {
			meta, err := driver.MetaEngine(cfg.Store)
			if err != nil {
				return nil, err
			}
			h, err := driver.NewHost(driver.ConfigOf(cfg, Engine{}, meta))
			if err != nil {
				return nil, err
			}
			return h, nil
		}})
}

// Joint implements driver.CoreEngine: one voter changes per step.
func (Engine) Joint() bool { return false }

// Serves implements driver.CoreEngine: every read mode.
func (Engine) Serves(replica.ReadMode) error { return nil }

// readLog is the engine's replica.ReadLogFunc: the commit index and the
// chosen slots a replica's store holds. An entry's identity is its type
// and value, not the ballot it was last accepted at (a value chosen at a
// slot may be accepted again under a higher ballot).
func readLog(l storage.LogReader, g replica.GroupID, from uint64) (replica.DurableLog, error) {
	var dl replica.DurableLog
	version, raw, err := l.ReadHardState(uint64(g))
	if err != nil {
		return dl, err // storage.ErrNotFound: no replica here
	}
	hs, err := decodeHardState(version, raw)
	if err != nil {
		return dl, fmt.Errorf("paxos: group %d: %w", g, err)
	}
	dl.Commit = hs.commit
	return driver.ReadCommitted(l, g, from, dl, func(i uint64, value []byte) (uint64, uint64, []byte, bool, error) {
		s, err := decodeSlot(value)
		if err != nil {
			return 0, 0, nil, false, fmt.Errorf("paxos: group %d: slot %d: %w", g, i, err)
		}
		return uint64(s.typ), s.ballot.Int(), s.data, s.typ == driver.EntryNormal, nil
	})
}
