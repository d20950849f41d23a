package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The checker reads every node's raft log straight from its store, without
// a raftengine.Log (which scans a group's whole log when it opens). These
// decoders mirror raftengine/logcodec.go and storage/log.go; codec_test.go
// writes through the engine's own Log and reads back with them, so a
// change of the format fails there rather than here.

// storedEntry is what the checker needs of one log entry.
type storedEntry struct {
	term uint64
	typ  uint64 // raftpb.EntryType
	data []byte
}

// decodeStoredEntry decodes a LogKey value:
//
//	1, flags, uvarint term (if flags&1), uvarint type (if flags&2), data (rest)
func decodeStoredEntry(b []byte) (storedEntry, error) {
	var e storedEntry
	if len(b) < 2 || b[0] != 1 || b[1]&^7 != 0 {
		return e, errors.New("sim: stored entry: bad header")
	}
	flags := b[1]
	b = b[2:]
	if flags&1 != 0 {
		t, n := binary.Uvarint(b)
		if n <= 0 {
			return e, errors.New("sim: stored entry: bad term")
		}
		e.term, b = t, b[n:]
	}
	if flags&2 != 0 {
		t, n := binary.Uvarint(b)
		if n <= 0 {
			return e, errors.New("sim: stored entry: bad type")
		}
		e.typ, b = t, b[n:]
	}
	e.data = b
	return e, nil
}

// decodeHardStateCommit returns the commit index of a HardStateKey value:
// 1, term, vote, commit (8 bytes big-endian each).
func decodeHardStateCommit(b []byte) (uint64, error) {
	if len(b) != 25 || b[0] != 1 {
		return 0, fmt.Errorf("sim: hard state of %d bytes", len(b))
	}
	return binary.BigEndian.Uint64(b[17:]), nil
}

// decodeTruncatedIndex returns the index of a TruncatedKey value:
// 1, index, term (8 bytes big-endian each).
func decodeTruncatedIndex(b []byte) (uint64, error) {
	if len(b) != 17 || b[0] != 1 {
		return 0, fmt.Errorf("sim: truncated state of %d bytes", len(b))
	}
	return binary.BigEndian.Uint64(b[1:]), nil
}
