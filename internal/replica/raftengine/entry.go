package raftengine

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
// the group time source for expiry. A conf change carries the same first 9
// bytes in its Context, followed by the proposed descriptor.
//
// An entry of the driver itself (no state machine command) has its own
// frame version, so a log written before driver entries existed reads as
// it always did:
//
//	[0]      frame version (2)
//	[1:9]    proposal ID
//	[9:17]   the leader's clock stamp
//	[17]     what it is: 1 a consistency check
//	[18:26]  the replica that proposed it (a check's reports go to it)
//
// The state machine sees a driver entry as an empty entry: it moves the
// applied index (and group time, by its stamp) and changes nothing else.
const (
	frameVersion = 1
	frameHeader  = 17

	driverFrameVersion = 2
	driverFrameLen     = 26
)

// driverKind is what a driver entry is for.
type driverKind byte

// kindCheck: every replica digests its replicated state at the entry's
// index and reports the digest to the proposer (consistency.go).
const kindCheck driverKind = 1

var errFrame = errors.New("raftengine: malformed entry frame")

func frame(id uint64, cmd []byte) []byte {
	b := make([]byte, frameHeader+len(cmd))
	b[0] = frameVersion
	binary.BigEndian.PutUint64(b[1:9], id)
	copy(b[frameHeader:], cmd)
	return b
}

func stamp(b []byte, now int64) { binary.BigEndian.PutUint64(b[9:17], uint64(now)) }

func unframe(b []byte) (id uint64, at int64, cmd []byte, err error) {
	if len(b) < frameHeader || b[0] != frameVersion {
		return 0, 0, nil, errFrame
	}
	return binary.BigEndian.Uint64(b[1:9]), int64(binary.BigEndian.Uint64(b[9:17])), b[frameHeader:], nil
}

// driverFrame frames a driver entry of kind proposed by replica from.
func driverFrame(id uint64, kind driverKind, from uint64) []byte {
	b := make([]byte, driverFrameLen)
	b[0] = driverFrameVersion
	binary.BigEndian.PutUint64(b[1:9], id)
	b[17] = byte(kind)
	binary.BigEndian.PutUint64(b[18:26], from)
	return b
}

// driverEntry is a decoded driver frame.
type driverEntry struct {
	id       uint64
	at       int64
	kind     driverKind
	proposer uint64
}

// isDriverFrame says whether b is a driver entry's data (any kind, even
// one this version does not know).
func isDriverFrame(b []byte) bool { return len(b) > 0 && b[0] == driverFrameVersion }

func undriverFrame(b []byte) (driverEntry, error) {
	if len(b) < driverFrameLen || b[0] != driverFrameVersion {
		return driverEntry{}, errFrame
	}
	return driverEntry{
		id:       binary.BigEndian.Uint64(b[1:9]),
		at:       int64(binary.BigEndian.Uint64(b[9:17])),
		kind:     driverKind(b[17]),
		proposer: binary.BigEndian.Uint64(b[18:26]),
	}, nil
}

func confContext(id uint64, desc []byte) []byte {
	b := make([]byte, 9+len(desc))
	b[0] = frameVersion
	binary.BigEndian.PutUint64(b[1:9], id)
	copy(b[9:], desc)
	return b
}

func unconfContext(b []byte) (id uint64, desc []byte, ok bool) {
	if len(b) < 9 || b[0] != frameVersion {
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
	_, _, cmd, err := unframe(data)
	return cmd, err == nil
}
