package paxos

import (
	"encoding/binary"
	"errors"
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

// readLog is the engine's replica.ReadLogFunc: the commit index and the
// chosen slots a replica's store holds. An entry's identity is its type
// and value, not the ballot it was last accepted at (a value chosen at a
// slot may be accepted again under a higher ballot).
func readLog(v storage.View, g replica.GroupID, from uint64) (replica.DurableLog, error) {
	var dl replica.DurableLog
	gid := uint64(g)
	version, raw, err := storage.ReadHardState(v, gid)
	if err != nil {
		return dl, err // storage.ErrNotFound: no replica here
	}
	hs, err := decodeHardState(version, raw)
	if err != nil {
		return dl, fmt.Errorf("paxos: group %d: %w", g, err)
	}
	dl.Commit = hs.commit
	if from > dl.Commit {
		return dl, nil
	}
	trunc, err := storage.ReadTruncated(v, gid)
	if err != nil {
		return dl, err
	}
	dl.Truncated = trunc.Index
	lo := max(from, trunc.Index+1)
	if lo > dl.Commit {
		return dl, nil
	}
	dl.Entries = make([]replica.LogEntry, 0, dl.Commit-lo+1)
	for i := lo; i <= dl.Commit; i++ {
		value, err := storage.ReadLogSlot(v, gid, i)
		if errors.Is(err, storage.ErrNotFound) {
			continue // a gap, which the caller reports
		} else if err != nil {
			return dl, err
		}
		s, err := decodeSlot(value)
		if err != nil {
			return dl, fmt.Errorf("paxos: group %d: slot %d: %w", g, i, err)
		}
		data := binary.AppendUvarint(make([]byte, 0, 1+len(s.data)), uint64(s.typ))
		data = append(data, s.data...)
		le := replica.LogEntry{Index: i, Term: s.ballot.Int(), Data: data}
		if s.typ == driver.EntryNormal && len(s.data) > 0 {
			if cmd, ok := driver.EntryCommand(s.data); ok {
				le.Command = cmd
			}
		}
		dl.Entries = append(dl.Entries, le)
	}
	return dl, nil
}
