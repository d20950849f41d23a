package raftengine

import (
	"encoding/binary"
	"fmt"

	"github.com/cairnkv/cairn/internal/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// Raft's values of the log keys (storage/keys.go), which storage keeps as
// opaque bytes. Each starts with a version byte.
//
//	entry:     1, flags, uvarint term (if flagTerm), uvarint type (if flagType), data (rest)
//	hardstate: 1, term, vote, commit (8 bytes big-endian each)
//
// The hard state's version byte is the one storage.SetHardState frames it
// with; the truncated point's encoding is storage's own (storage/log.go).
// NB: these bytes are on disk: data directories written before must read
// the same (TestLogCodecFormat).
//
// An entry's index is its key's; flags keep which optional fields were set,
// so a decoded entry is proto.Equal to the one encoded (unknown fields
// aside) and proto.Size, which raft uses to limit Entries, agrees.
const (
	logCodecVersion = 1

	flagTerm = 1 << 0
	flagType = 1 << 1
	flagData = 1 << 2
)

func encodeEntry(dst []byte, e *raftpb.Entry) []byte {
	var flags byte
	if e.Term != nil {
		flags |= flagTerm
	}
	if e.Type != nil {
		flags |= flagType
	}
	if e.Data != nil {
		flags |= flagData
	}
	dst = append(dst, logCodecVersion, flags)
	if e.Term != nil {
		dst = binary.AppendUvarint(dst, *e.Term)
	}
	if e.Type != nil {
		dst = binary.AppendUvarint(dst, uint64(uint32(*e.Type)))
	}
	return append(dst, e.Data...)
}

// decodeEntry decodes an entry stored at index. Data aliases b unless
// copyData.
func decodeEntry(index uint64, b []byte, copyData bool) (*raftpb.Entry, error) {
	if len(b) < 2 || b[0] != logCodecVersion || b[1]&^(flagTerm|flagType|flagData) != 0 {
		return nil, fmt.Errorf("%w: raft entry %d: bad header", storage.ErrCorrupt, index)
	}
	flags := b[1]
	b = b[2:]
	e := &raftpb.Entry{Index: new(index)}
	if flags&flagTerm != 0 {
		t, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("%w: raft entry %d: bad term", storage.ErrCorrupt, index)
		}
		e.Term, b = new(t), b[n:]
	}
	if flags&flagType != 0 {
		t, n := binary.Uvarint(b)
		if n <= 0 || t > 1<<32-1 {
			return nil, fmt.Errorf("%w: raft entry %d: bad type", storage.ErrCorrupt, index)
		}
		e.Type, b = raftpb.EntryType(int32(uint32(t))).Enum(), b[n:]
	}
	if flags&flagData != 0 {
		if copyData {
			e.Data = append(make([]byte, 0, len(b)), b...)
		} else {
			e.Data = b[:len(b):len(b)]
		}
	} else if len(b) != 0 {
		return nil, fmt.Errorf("%w: raft entry %d: %d trailing bytes", storage.ErrCorrupt, index, len(b))
	}
	return e, nil
}

// decodeEntryTerm reads only the term of an encoded entry.
func decodeEntryTerm(index uint64, b []byte) (uint64, error) {
	if len(b) < 2 || b[0] != logCodecVersion {
		return 0, fmt.Errorf("%w: raft entry %d: bad header", storage.ErrCorrupt, index)
	}
	if b[1]&flagTerm == 0 {
		return 0, nil
	}
	t, n := binary.Uvarint(b[2:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: raft entry %d: bad term", storage.ErrCorrupt, index)
	}
	return t, nil
}

// hardStateVersion is the version storage.SetHardState stores the encoding below
// with; hardStateLen is the encoding's length without it.
const (
	hardStateVersion = logCodecVersion
	hardStateLen     = 24
)

// encodeHardState appends hs's encoding, without the version byte, to dst.
func encodeHardState(dst []byte, hs *raftpb.HardState) []byte {
	dst = binary.BigEndian.AppendUint64(dst, hs.GetTerm())
	dst = binary.BigEndian.AppendUint64(dst, hs.GetVote())
	return binary.BigEndian.AppendUint64(dst, hs.GetCommit())
}

// decodeHardState decodes what storage.ReadHardState returns.
func decodeHardState(version byte, b []byte) (*raftpb.HardState, error) {
	if len(b) != hardStateLen || version != hardStateVersion {
		return nil, fmt.Errorf("%w: hard state of %d bytes", storage.ErrCorrupt, 1+len(b))
	}
	return &raftpb.HardState{
		Term:   new(binary.BigEndian.Uint64(b[0:])),
		Vote:   new(binary.BigEndian.Uint64(b[8:])),
		Commit: new(binary.BigEndian.Uint64(b[16:])),
	}, nil
}
