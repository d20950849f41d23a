package raftengine

import (
	"encoding/binary"
	"fmt"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// readLog is the engine's replica.ReadLogFunc, for the simulation's
// checker: a replica's commit index from its hard state and its committed
// entries, decoded with the log's own codec (logcodec.go) straight from
// the store. It opens no Log, which would scan the group's whole log and
// fill a cache; the checker reads a few new entries at a time.
//
// An entry's Data is its type (uvarint) followed by its data, so that a
// conf change never equals a normal entry; its Term is raft's term, which
// the applied state records.
func readLog(v storage.View, g replica.GroupID, from uint64) (replica.DurableLog, error) {
	var dl replica.DurableLog
	gid := uint64(g)
	version, b, err := storage.ReadHardState(v, gid)
	if err != nil {
		return dl, err // wraps storage.ErrNotFound when no replica is here
	}
	hs, err := decodeHardState(version, b)
	if err != nil {
		return dl, fmt.Errorf("raftengine: group %d: %w", g, err)
	}
	dl.Commit = hs.GetCommit()
	trunc, err := storage.ReadTruncated(v, gid)
	if err != nil {
		return dl, err
	}
	dl.Truncated = trunc.Index
	lo := max(from, trunc.Index+1)
	if lo > dl.Commit {
		return dl, nil
	}
	err = storage.ScanLog(v, gid, lo, dl.Commit+1, func(index uint64, value []byte) (bool, error) {
		e, err := decodeEntry(index, value, false)
		if err != nil {
			return false, fmt.Errorf("raftengine: group %d: %w", g, err)
		}
		typ := e.GetType()
		data := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen32+len(e.Data)), uint64(uint32(typ)))
		n := len(data)
		data = append(data, e.Data...)
		le := replica.LogEntry{Index: index, Term: e.GetTerm(), Data: data}
		if typ == raftpb.EntryNormal && len(e.Data) > 0 {
			if cmd, ok := EntryCommand(data[n:]); ok {
				le.Command = cmd
			}
		}
		dl.Entries = append(dl.Entries, le)
		return true, nil
	})
	return dl, err
}
