package raftengine

import (
	"encoding/binary"
	"fmt"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// readLog is the engine's replica.ReadLogFunc, for the simulation's
// checker: a replica's commit index from its hard state and its committed
// entries, decoded with the log's own codec (logcodec.go) straight from
// the store. It opens no Log, which would scan the group's whole log and
// fill a cache; the checker asks every node for every group after every
// step, and reads a few new entries at a time.
//
// Entries are read by driver.ReadCommitted: an entry's Data is its type
// (uvarint) followed by its data, so that a conf change never equals a
// normal entry; its Term is raft's term, which the applied state records.
func readLog(l storage.LogReader, g replica.GroupID, from uint64) (replica.DurableLog, error) {
	var dl replica.DurableLog
	gid := uint64(g)
	version, b, err := l.ReadHardState(gid)
	if err != nil {
		return dl, err // storage.ErrNotFound: no replica here
	}
	if dl.Commit, err = hardStateCommit(version, b); err != nil {
		return dl, fmt.Errorf("raftengine: group %d: %w", g, err)
	}
	return driver.ReadCommitted(l, g, from, dl, func(i uint64, value []byte) (uint64, uint64, []byte, bool, error) {
		e, err := decodeEntry(i, value, false)
		if err != nil {
			return 0, 0, nil, false, fmt.Errorf("raftengine: group %d: %w", g, err)
		}
		return uint64(uint32(e.GetType())), e.GetTerm(), e.Data, e.GetType() == raftpb.EntryNormal, nil
	})
}

// hardStateCommit is the commit index of a stored hard state (its
// version, then encodeHardState's term, vote, commit), read without
// decodeHardState's allocations.
func hardStateCommit(version byte, b []byte) (uint64, error) {
	if len(b) != hardStateLen || version != hardStateVersion {
		return 0, fmt.Errorf("%w: hard state version %d of %d bytes", storage.ErrCorrupt, version, len(b))
	}
	return binary.BigEndian.Uint64(b[16:]), nil
}

// EntryCommand returns the state machine's command carried by the data of
// a normal log entry; ok is false for an empty entry or a driver entry.
// The frame is the driver's: this is driver.EntryCommand, kept for the
// callers of raftengine's API.
func EntryCommand(data []byte) (cmd []byte, ok bool) { return driver.EntryCommand(data) }
