package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The on-disk format (doc.go has the prose). Everything is little-endian.
//
// Segment header, segHeaderLen bytes:
//
//	0  magic "CAIRNLOG"
//	8  format version (FormatVersion)
//	9  3 zero bytes
//	12 CRC32-C of bytes [0,12) and [16,32)
//	16 segment ID (the number in the file name)
//	24 prevEnd: the valid length of the previous segment, 0 for none
//
// Frame (one Write), frameHeaderLen bytes then the body:
//
//	0  CRC32-C of the segment ID (8 bytes), bytes [4,16) and the body
//	4  body length
//	8  frame version (frameVersion)
//	9  3 zero bytes
//	12 synced: the offset in this segment up to which the writer knew the
//	   segment durable when it wrote this frame
const (
	segHeaderLen   = 32
	frameHeaderLen = 16
	frameVersion   = 1
	// FormatVersion is the segment format this binary reads and writes.
	FormatVersion = 1
	// maxBody bounds a frame's body so that offsets fit in 32 bits.
	maxBody = 1 << 30
	// sectorSize is the unit a disk writes atomically: a torn write leaves
	// whole sectors unwritten (zero past a file's synced end).
	sectorSize = 512
)

var segMagic = [8]byte{'C', 'A', 'I', 'R', 'N', 'L', 'O', 'G'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Body operations, each an op byte then its fields (u: uvarint, 4: a
// 4-byte length, so that Append's encoder can write a payload in place).
const (
	opAppend      = 1 // group u, first u, n u, n × (len 4, payload): drop ≥ first, put first…
	opSet         = 2 // group u, index u, len 4, payload: put one slot
	opTruncSuffix = 3 // group u, last u: drop > last
	opTruncPrefix = 4 // group u, index u, term u: drop ≤ index, truncated := (index, term) if higher
	opHardState   = 5 // group u, len u, state
	opDestroy     = 6 // group u, replica u: drop everything, tombstone := max(tombstone, replica)
	opState       = 7 // group u, tombstone u, index u, term u, has byte, len u, state: set as given (relocation)
)

// ErrCorrupt is matched (errors.Is) by every *CorruptError.
var ErrCorrupt = errors.New("logstore: corrupt log")

// ErrFormat is matched by every *FormatError.
var ErrFormat = errors.New("logstore: unknown log format")

// CorruptError stops a node: a record the log synced fails its check, so
// a write that was acknowledged may be lost. It names the file and offset.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("logstore: %s at offset %d: %s; the log is damaged before its last synced write, refusing to start (restore this node from its peers)", e.File, e.Offset, e.Reason)
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// FormatError refuses a directory whose files this binary does not read,
// naming what it found.
type FormatError struct {
	File  string
	Found string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("logstore: %s: found %s, this binary reads log segments of format %d; is this the right directory, or a newer cairn's?", e.File, e.Found, FormatVersion)
}

func (e *FormatError) Is(target error) bool { return target == ErrFormat }

func segName(id uint64) string { return fmt.Sprintf("%016x.log", id) }

// parseSegName returns the ID of a segment file name, or false.
func parseSegName(name string) (uint64, bool) {
	if len(name) != 20 || name[16:] != ".log" {
		return 0, false
	}
	var id uint64
	for _, c := range name[:16] {
		switch {
		case c >= '0' && c <= '9':
			id = id<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			id = id<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return id, id != 0
}

func encodeSegHeader(id, prevEnd uint64) []byte {
	h := make([]byte, segHeaderLen)
	copy(h, segMagic[:])
	h[8] = FormatVersion
	binary.LittleEndian.PutUint64(h[16:], id)
	binary.LittleEndian.PutUint64(h[24:], prevEnd)
	binary.LittleEndian.PutUint32(h[12:], segHeaderCRC(h))
	return h
}

func segHeaderCRC(h []byte) uint32 {
	c := crc32.Update(0, castagnoli, h[:12])
	return crc32.Update(c, castagnoli, h[16:segHeaderLen])
}

// errTornHeader marks a header that was never made durable: a file shorter
// than a header, or one whose header is all zeros.
var errTornHeader = errors.New("torn segment header")

// decodeSegHeader checks the header of segment file name, whose ID is id.
func decodeSegHeader(name string, id uint64, b []byte) (prevEnd uint64, err error) {
	if len(b) < segHeaderLen {
		if isZero(b) {
			return 0, errTornHeader
		}
		return 0, &FormatError{File: name, Found: fmt.Sprintf("%d bytes, shorter than a segment header", len(b))}
	}
	h := b[:segHeaderLen]
	if isZero(h) {
		return 0, errTornHeader
	}
	if !bytes.Equal(h[:8], segMagic[:]) {
		return 0, &FormatError{File: name, Found: fmt.Sprintf("magic %q, not a cairn log segment", h[:8])}
	}
	if h[8] != FormatVersion {
		return 0, &FormatError{File: name, Found: fmt.Sprintf("log segment format %d", h[8])}
	}
	if binary.LittleEndian.Uint32(h[12:]) != segHeaderCRC(h) {
		return 0, &CorruptError{File: name, Offset: 0, Reason: "segment header checksum mismatch"}
	}
	if got := binary.LittleEndian.Uint64(h[16:]); got != id {
		return 0, &CorruptError{File: name, Offset: 16, Reason: fmt.Sprintf("header names segment %d", got)}
	}
	return binary.LittleEndian.Uint64(h[24:]), nil
}

// frameCRC is the checksum of a frame: seeded with its segment's ID, so
// that bytes copied from another segment never pass as this one's.
func frameCRC(seg uint64, frame []byte) uint32 {
	var idb [8]byte
	binary.LittleEndian.PutUint64(idb[:], seg)
	c := crc32.Update(0, castagnoli, idb[:])
	return crc32.Update(c, castagnoli, frame[4:])
}

// sealFrame fills in the header of frame (header and body) for segment seg.
func sealFrame(seg uint64, frame []byte, synced uint32) {
	binary.LittleEndian.PutUint32(frame[4:], uint32(len(frame)-frameHeaderLen))
	frame[8] = frameVersion
	frame[9], frame[10], frame[11] = 0, 0, 0
	binary.LittleEndian.PutUint32(frame[12:], synced)
	binary.LittleEndian.PutUint32(frame[0:], frameCRC(seg, frame))
}

// frameAt reads the frame at off in data, a segment's bytes. ok is false
// when no valid frame starts there; reason says why.
func frameAt(seg uint64, data []byte, off int) (body []byte, synced uint32, end int, reason string) {
	rest := data[off:]
	if len(rest) < frameHeaderLen {
		return nil, 0, 0, "frame header cut short by the end of the file"
	}
	n := binary.LittleEndian.Uint32(rest[4:])
	if rest[8] != frameVersion {
		return nil, 0, 0, fmt.Sprintf("frame version %d", rest[8])
	}
	if rest[9]|rest[10]|rest[11] != 0 {
		return nil, 0, 0, "reserved frame header bytes set"
	}
	if n > maxBody || int(n) > len(rest)-frameHeaderLen {
		return nil, 0, 0, fmt.Sprintf("frame of %d bytes runs past the end of the file", n)
	}
	frame := rest[:frameHeaderLen+int(n)]
	if binary.LittleEndian.Uint32(frame) != frameCRC(seg, frame) {
		return nil, 0, 0, "frame checksum mismatch"
	}
	return frame[frameHeaderLen:], binary.LittleEndian.Uint32(frame[12:]), off + len(frame), ""
}

// tornAt reports whether the invalid frame at off in data looks like a torn
// write rather than damage: its header is all zeros, it runs past the end
// of the file, or some sector it covers is zero over all of its bytes in
// it (a write that never reached that sector). A frame that was written
// whole and fails its checksum anyway is damage.
func tornAt(data []byte, off int) bool {
	rest := data[off:]
	if len(rest) < frameHeaderLen || isZero(rest[:frameHeaderLen]) {
		return true
	}
	n := binary.LittleEndian.Uint32(rest[4:])
	if n > maxBody || int(n) > len(rest)-frameHeaderLen {
		return true
	}
	end := off + frameHeaderLen + int(n)
	for s := off; s < end; {
		next := min((s/sectorSize+1)*sectorSize, end)
		if isZero(data[s:next]) {
			return true
		}
		s = next
	}
	return false
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
