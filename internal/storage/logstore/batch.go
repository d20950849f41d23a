package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/storage"
)

// Batch collects one round's writes for any number of groups, encoded as
// they are staged, so that Write sends them in one write (and one fsync).
// Operations apply in the order they are staged; a Batch is reused with
// Reset (Write resets it). A Batch is not safe for concurrent use.
type Batch struct {
	buf []byte // frame header space, then the body
	n   int    // operations staged
	err error  // the first invalid operation
}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{buf: make([]byte, frameHeaderLen, 4096)} }

// Reset empties b, keeping its memory.
func (b *Batch) Reset() {
	if b.buf == nil {
		b.buf = make([]byte, frameHeaderLen, 4096)
	}
	b.buf = b.buf[:frameHeaderLen]
	b.n = 0
	b.err = nil
}

// Empty reports whether b holds no operations.
func (b *Batch) Empty() bool { return b.n == 0 }

// Len is the size of b's encoding in bytes.
func (b *Batch) Len() int { return max(len(b.buf), frameHeaderLen) }

func (b *Batch) start(op byte, g uint64) {
	if b.buf == nil {
		b.Reset()
	}
	b.n++
	b.buf = append(b.buf, op)
	b.buf = binary.AppendUvarint(b.buf, g)
}

func (b *Batch) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// Append stages n entries at first, first+1, … of group g and drops the
// group's entries from first on (Raft's log matching: an append replaces
// the tail it conflicts with). Entry first+i is what encode(i, dst)
// appends to dst, written in place into the batch, so an append copies
// each entry once. Entries at or below the group's truncated point are
// dropped when applied. Indexes start at 1.
func (b *Batch) Append(g, first uint64, n int, encode func(i int, dst []byte) []byte) {
	if first == 0 || n < 0 {
		b.fail(fmt.Errorf("logstore: group %d: append of %d entries at %d", g, n, first))
		return
	}
	b.start(opAppend, g)
	b.buf = binary.AppendUvarint(b.buf, first)
	b.buf = binary.AppendUvarint(b.buf, uint64(n))
	for i := range n {
		at := len(b.buf)
		b.buf = append(b.buf, 0, 0, 0, 0)
		b.buf = encode(i, b.buf)
		if len(b.buf) < at+4 {
			b.fail(errors.New("logstore: an append's encoder shortened the batch"))
			return
		}
		binary.LittleEndian.PutUint32(b.buf[at:], uint32(len(b.buf)-at-4))
	}
}

// Set stages value into slot index of group g and leaves every other slot
// as it is: a Paxos acceptor fills a slot among holes. A slot at or below
// the truncated point is dropped when applied.
func (b *Batch) Set(g, index uint64, value []byte) {
	if index == 0 {
		b.fail(fmt.Errorf("logstore: group %d: set slot 0", g))
		return
	}
	b.start(opSet, g)
	b.buf = binary.AppendUvarint(b.buf, index)
	b.buf = binary.LittleEndian.AppendUint32(b.buf, uint32(len(value)))
	b.buf = append(b.buf, value...)
}

// TruncateSuffix stages the removal of group g's entries after last: a
// divergent suffix (primary-backup), or the whole log (last 0) before a
// snapshot takes its place.
func (b *Batch) TruncateSuffix(g, last uint64) {
	b.start(opTruncSuffix, g)
	b.buf = binary.AppendUvarint(b.buf, last)
}

// TruncatePrefix stages the removal of group g's entries up to and
// including to.Index and records to as its truncated point (the entry
// before the first). It only moves forward: a point at or below the
// current one changes nothing. It may pass the last entry (a snapshot
// installed past the log). The caller truncates only at or below the
// group's durable applied index (doc.go).
func (b *Batch) TruncatePrefix(g uint64, to storage.LogPoint) {
	b.start(opTruncPrefix, g)
	b.buf = binary.AppendUvarint(b.buf, to.Index)
	b.buf = binary.AppendUvarint(b.buf, to.Term)
}

// SetHardState stages group g's hard state, bytes only its engine reads.
// Stage it after the entries it covers, in the same batch: a batch is
// durable whole or not at all.
func (b *Batch) SetHardState(g uint64, state []byte) {
	b.start(opHardState, g)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(state)))
	b.buf = append(b.buf, state...)
}

// Destroy stages the destruction of replica replicaID of group g: its
// entries, hard state and truncated point go, and the group keeps a
// tombstone, the highest replica ID destroyed, which replay honours.
// Writes to g staged after it begin a new replica's log.
func (b *Batch) Destroy(g, replicaID uint64) {
	b.start(opDestroy, g)
	b.buf = binary.AppendUvarint(b.buf, replicaID)
}

// setState stages a relocated copy of group g's state (compact.go).
func (b *Batch) setState(g uint64, gs *group) {
	b.start(opState, g)
	b.buf = binary.AppendUvarint(b.buf, gs.tombstone)
	b.buf = binary.AppendUvarint(b.buf, gs.truncated.Index)
	b.buf = binary.AppendUvarint(b.buf, gs.truncated.Term)
	if gs.hardState == nil {
		b.buf = append(b.buf, 0)
		b.buf = binary.AppendUvarint(b.buf, 0)
		return
	}
	b.buf = append(b.buf, 1)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(gs.hardState)))
	b.buf = append(b.buf, gs.hardState...)
}

// op is one decoded body operation. Its fields, by kind:
//
//	opAppend       a first index; ents[e : e+n] the entries
//	opSet          a slot; ents[e] its payload (n 1)
//	opTruncSuffix  a the last index kept
//	opTruncPrefix  a, b the truncated point's index and term
//	opHardState    data the state
//	opDestroy      a the replica ID
//	opState        a tombstone; b, c truncated index and term; has, data the hard state
//
// data aliases the body; entries are offsets in it.
type op struct {
	kind    byte
	group   uint64
	a, b, c uint64
	has     bool
	data    []byte
	e, n    int
}

// entPos is an entry's payload in a body.
type entPos struct{ off, len uint32 }

// decodeBody parses a frame body into ops and ents (both reused), checking
// its structure. The same decoder serves Write and replay.
func decodeBody(body []byte, ops []op, ents []entPos) ([]op, []entPos, error) {
	ops, ents = ops[:0], ents[:0]
	d := decoder{b: body}
	for d.off < len(body) {
		o := op{kind: d.byte()}
		o.group = d.uvarint()
		switch o.kind {
		case opAppend:
			o.a = d.uvarint()
			n := d.uvarint()
			if d.err == nil && (o.a == 0 || n > uint64(len(body)) || o.a+n < o.a) {
				d.fail("bad append")
			}
			o.e = len(ents)
			for i := uint64(0); i < n && d.err == nil; i++ {
				l := d.u32()
				off := d.off
				d.skip(int(l))
				ents = append(ents, entPos{uint32(off), l})
			}
			o.n = len(ents) - o.e
		case opSet:
			o.a = d.uvarint()
			l := d.u32()
			if d.err == nil && o.a == 0 {
				d.fail("set of slot 0")
			}
			o.e = len(ents)
			ents = append(ents, entPos{uint32(d.off), l})
			d.skip(int(l))
			o.n = 1
		case opTruncSuffix, opDestroy:
			o.a = d.uvarint()
		case opTruncPrefix:
			o.a = d.uvarint()
			o.b = d.uvarint()
		case opHardState:
			o.data = d.bytes(d.uvarint())
			o.has = true
		case opState:
			o.a = d.uvarint()
			o.b = d.uvarint()
			o.c = d.uvarint()
			switch d.byte() {
			case 0:
			case 1:
				o.has = true
			default:
				d.fail("bad hard state flag")
			}
			o.data = d.bytes(d.uvarint())
		default:
			d.fail(fmt.Sprintf("unknown operation %d", o.kind))
		}
		if d.err != nil {
			return ops, ents, d.err
		}
		ops = append(ops, o)
	}
	return ops, ents, nil
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: body offset %d: %s", ErrCorrupt, d.off, why)
		d.off = len(d.b)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || d.off >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) u32() uint32 {
	if d.err != nil || len(d.b)-d.off < 4 {
		d.fail("truncated")
		return 0
	}
	d.off += 4
	return binary.LittleEndian.Uint32(d.b[d.off-4:])
}

func (d *decoder) skip(n int) {
	if d.err != nil || n < 0 || n > len(d.b)-d.off {
		d.fail("truncated")
		return
	}
	d.off += n
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil || n > uint64(len(d.b)-d.off) {
		d.fail("truncated")
		return nil
	}
	d.off += int(n)
	return d.b[d.off-int(n) : d.off]
}
