package driver

import (
	"encoding/binary"
	"errors"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// ReadCommitted fills in dl (whose Commit the engine read from its hard
// state) with what a replica.ReadLogFunc returns: the truncation point and
// the committed entries at from and above that the log l holds, each
// slot decoded by decode into its type, generation (Term), data and
// whether it is a normal entry (one that may carry a command). An
// entry's Data is its type (uvarint) followed by its data, so that a
// membership change never equals a normal entry; Command is the state
// machine's command of a normal entry. A missing slot is left out (a
// gap, which the caller reports).
func ReadCommitted(l storage.LogReader, g replica.GroupID, from uint64, dl replica.DurableLog,
	decode func(index uint64, value []byte) (typ, term uint64, data []byte, normal bool, err error)) (replica.DurableLog, error) {
	if from > dl.Commit {
		return dl, nil
	}
	gid := uint64(g)
	trunc, err := l.ReadTruncated(gid)
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
		value, err := l.ReadLogSlot(gid, i)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		} else if err != nil {
			return dl, err
		}
		typ, term, body, normal, err := decode(i, value)
		if err != nil {
			return dl, err
		}
		data := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen32+len(body)), typ)
		data = append(data, body...)
		le := replica.LogEntry{Index: i, Term: term, Data: data}
		if normal && len(body) > 0 {
			le.Command, _ = EntryCommand(body)
		}
		dl.Entries = append(dl.Entries, le)
	}
	return dl, nil
}
