package raftengine

import (
	"encoding/binary"
	"errors"
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
// An entry's Data is its type (uvarint) followed by its data, so that a
// conf change never equals a normal entry; its Term is raft's term, which
// the applied state records.
func readLog(v storage.View, g replica.GroupID, from uint64) (replica.DurableLog, error) {
	var dl replica.DurableLog
	gid := uint64(g)
	// NB: v.Get, not storage.ReadHardState, whose wrapped error costs more
	// than the read: a store holds no replica of most groups asked about.
	b, err := v.Get(storage.HardStateKey(gid))
	if err != nil {
		return dl, err // storage.ErrNotFound: no replica here
	}
	if dl.Commit, err = hardStateCommit(b); err != nil {
		return dl, fmt.Errorf("raftengine: group %d: %w", g, err)
	}
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
		e, err := decodeEntry(i, value, false)
		if err != nil {
			return dl, fmt.Errorf("raftengine: group %d: %w", g, err)
		}
		typ := e.GetType()
		data := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen32+len(e.Data)), uint64(uint32(typ)))
		n := len(data)
		data = append(data, e.Data...)
		le := replica.LogEntry{Index: i, Term: e.GetTerm(), Data: data}
		if typ == raftpb.EntryNormal && len(e.Data) > 0 {
			if cmd, ok := driver.EntryCommand(data[n:]); ok {
				le.Command = cmd
			}
		}
		dl.Entries = append(dl.Entries, le)
	}
	return dl, nil
}

// hardStateCommit is the commit index of a stored hard state (the version
// byte, then encodeHardState's term, vote, commit), read without
// decodeHardState's allocations.
func hardStateCommit(b []byte) (uint64, error) {
	if len(b) != 1+hardStateLen || b[0] != hardStateVersion {
		return 0, fmt.Errorf("%w: hard state of %d bytes", storage.ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b[1+16:]), nil
}

// EntryCommand returns the state machine's command carried by the data of
// a normal log entry; ok is false for an empty entry or a driver entry.
// The frame is the driver's: this is driver.EntryCommand, kept for the
// callers of raftengine's API.
func EntryCommand(data []byte) (cmd []byte, ok bool) { return driver.EntryCommand(data) }
