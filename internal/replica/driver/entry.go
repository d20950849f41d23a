package driver

import (
	"encoding/binary"
	"errors"
)

// A normal entry's data is framed by the driver:
//
//	[0]     frame version (1)
//	[1:9]   proposal ID, unique per proposing process (random base + counter)
//	[9:17]  the leader's clock stamp, Unix nanoseconds
//	[17:]   the state machine's command
//
// The ID lets the proposer's wait registry find its result; the stamp is
// the group time source for expiry. A membership change carries the same
// first 9 bytes in its context (raft: the ConfChange's Context), followed
// by the proposed descriptor (FrameConf).
//
// An entry of the driver itself (no state machine command) has its own
// frame version, so a log written before driver entries existed reads as
// it always did:
//
//	[0]      frame version (2)
//	[1:9]    proposal ID
//	[9:17]   the leader's clock stamp
//	[17]     what it is (EntryKind): 1 a consistency check
//	[18:26]  the replica that proposed it (a check's reports go to it)
//
// The state machine sees a driver entry as an empty entry: it moves the
// applied index (and group time, by its stamp) and changes nothing else.
//
// NB: these bytes are in every stored log; they never change. A new kind
// of frame takes a new version.
const (
	// FrameVersion is the first byte of a command's frame (and of a
	// membership change's context).
	FrameVersion = 1
	// FrameHeader is the length of a command frame before the command.
	FrameHeader = 17

	// EntryFrameVersion is the first byte of a driver entry's frame.
	EntryFrameVersion = 2
	// EntryFrameLen is the length of a driver entry's frame.
	EntryFrameLen = 26
)

// EntryKind is what a driver entry is for.
type EntryKind byte

// EntryCheck: every replica digests its replicated state at the entry's
// index and reports the digest to the proposer (raftengine's
// consistency.go today).
const EntryCheck EntryKind = 1

// ErrFrame: the bytes are not a frame of the kind asked for.
var ErrFrame = errors.New("driver: malformed entry frame")

// Frame frames the state machine's command cmd as proposal id, with a
// zero stamp (Stamp sets it when the leader proposes it).
func Frame(id uint64, cmd []byte) []byte {
	b := make([]byte, FrameHeader+len(cmd))
	b[0] = FrameVersion
	binary.BigEndian.PutUint64(b[1:9], id)
	copy(b[FrameHeader:], cmd)
	return b
}

// Stamp writes the leader's clock stamp now (Unix nanoseconds) into b, a
// command frame or a driver entry's frame.
func Stamp(b []byte, now int64) { binary.BigEndian.PutUint64(b[9:17], uint64(now)) }

// Unframe decodes a command frame: the proposal's ID, its stamp and the
// command. It returns ErrFrame for anything else (a driver entry too).
func Unframe(b []byte) (id uint64, at int64, cmd []byte, err error) {
	if len(b) < FrameHeader || b[0] != FrameVersion {
		return 0, 0, nil, ErrFrame
	}
	return binary.BigEndian.Uint64(b[1:9]), int64(binary.BigEndian.Uint64(b[9:17])), b[FrameHeader:], nil
}

// FrameEntry frames a driver entry of kind, proposal id, proposed by
// replica from; its stamp is zero until Stamp.
func FrameEntry(id uint64, kind EntryKind, from uint64) []byte {
	b := make([]byte, EntryFrameLen)
	b[0] = EntryFrameVersion
	binary.BigEndian.PutUint64(b[1:9], id)
	b[17] = byte(kind)
	binary.BigEndian.PutUint64(b[18:26], from)
	return b
}

// Entry is a decoded driver entry.
type Entry struct {
	ID       uint64
	At       int64 // the leader's stamp
	Kind     EntryKind
	Proposer uint64 // the replica that proposed it
}

// IsEntry says whether b is a driver entry's data (any kind, even one
// this version does not know).
func IsEntry(b []byte) bool { return len(b) > 0 && b[0] == EntryFrameVersion }

// UnframeEntry decodes a driver entry's frame; ErrFrame for anything else.
func UnframeEntry(b []byte) (Entry, error) {
	if len(b) < EntryFrameLen || b[0] != EntryFrameVersion {
		return Entry{}, ErrFrame
	}
	return Entry{
		ID:       binary.BigEndian.Uint64(b[1:9]),
		At:       int64(binary.BigEndian.Uint64(b[9:17])),
		Kind:     EntryKind(b[17]),
		Proposer: binary.BigEndian.Uint64(b[18:26]),
	}, nil
}

// FrameConf frames the context of a membership change: proposal id and
// the proposed descriptor, encoded.
func FrameConf(id uint64, desc []byte) []byte {
	b := make([]byte, 9+len(desc))
	b[0] = FrameVersion
	binary.BigEndian.PutUint64(b[1:9], id)
	copy(b[9:], desc)
	return b
}

// UnframeConf decodes a membership change's context; ok is false when b
// is not one.
func UnframeConf(b []byte) (id uint64, desc []byte, ok bool) {
	if len(b) < 9 || b[0] != FrameVersion {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(b[1:9]), b[9:], true
}

// EntryCommand returns the state machine's command carried by the data of
// a normal log entry (what Propose was given), for tools that read logs
// from storage: the simulation's checker (package sim). ok is false for an
// entry without a command frame: an empty entry, or a driver entry (a
// consistency check), which the state machine applies as an empty one.
func EntryCommand(data []byte) (cmd []byte, ok bool) {
	_, _, cmd, err := Unframe(data)
	return cmd, err == nil
}
