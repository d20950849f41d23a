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
const (
	frameVersion = 1
	frameHeader  = 17
)

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
// entry without a driver frame (an empty entry).
func EntryCommand(data []byte) (cmd []byte, ok bool) {
	_, _, cmd, err := unframe(data)
	return cmd, err == nil
}
