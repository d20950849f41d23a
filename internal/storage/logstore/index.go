package logstore

import (
	"slices"

	"github.com/cairnkv/cairn/internal/storage"
)

// loc is where an entry's payload lives.
type loc struct {
	index uint64
	seg   uint64
	off   uint32
	len   uint32
}

// group is one group's part of the in-memory index.
//
// Invariants: entries is sorted by index, holds no index <= truncated.Index;
// each of truncSeg, hsSeg, tombSeg is the segment of the record that set
// the field, or 0 when the field is at its zero value.
type group struct {
	entries   []loc
	truncated storage.LogPoint
	hardState []byte // nil: none
	tombstone uint64

	truncSeg, hsSeg, tombSeg uint64
	hsLen                    uint32
}

func (g *group) empty() bool {
	return len(g.entries) == 0 && g.truncated == (storage.LogPoint{}) && g.hardState == nil && g.tombstone == 0
}

// lastIndex is the index of the last entry, or the truncated point's.
func (g *group) lastIndex() uint64 {
	if n := len(g.entries); n > 0 {
		return g.entries[n-1].index
	}
	return g.truncated.Index
}

// search is the position of the first entry with an index >= i.
func (g *group) search(i uint64) int {
	n := len(g.entries)
	if n == 0 || g.entries[n-1].index < i {
		return n
	}
	k, _ := slices.BinarySearchFunc(g.entries, i, func(l loc, i uint64) int {
		switch {
		case l.index < i:
			return -1
		case l.index > i:
			return 1
		}
		return 0
	})
	return k
}

// stateOverhead is what a state record (hard state, truncated point,
// tombstone) is counted as in a segment's live bytes, beyond its payload.
const stateOverhead = 16

// index is every group's state plus the segments' reference counts.
type index struct {
	groups map[uint64]*group
	segs   *segments
}

func (x *index) group(g uint64) *group {
	gs := x.groups[g]
	if gs == nil {
		gs = &group{}
		x.groups[g] = gs
	}
	return gs
}

func (x *index) forgetIfEmpty(g uint64, gs *group) {
	if gs.empty() {
		delete(x.groups, g)
	}
}

func (x *index) ref(seg uint64, bytes uint32) {
	s := x.segs.get(seg)
	s.refs++
	s.live += int64(bytes)
}

func (x *index) unref(seg uint64, bytes uint32) {
	if seg == 0 {
		return
	}
	s := x.segs.get(seg)
	s.refs--
	s.live -= int64(bytes)
}

// put sets entry l of gs, replacing one at the same index.
func (x *index) put(gs *group, l loc) {
	if l.index <= gs.truncated.Index {
		return
	}
	x.ref(l.seg, l.len+stateOverhead)
	k := gs.search(l.index)
	if k < len(gs.entries) && gs.entries[k].index == l.index {
		old := gs.entries[k]
		x.unref(old.seg, old.len+stateOverhead)
		gs.entries[k] = l
		return
	}
	gs.entries = slices.Insert(gs.entries, k, l)
}

// dropFrom removes gs's entries with index >= i.
func (x *index) dropFrom(gs *group, i uint64) {
	k := gs.search(i)
	for _, l := range gs.entries[k:] {
		x.unref(l.seg, l.len+stateOverhead)
	}
	gs.entries = gs.entries[:k]
}

// dropThrough removes gs's entries with index <= i.
func (x *index) dropThrough(gs *group, i uint64) {
	k := gs.search(i + 1)
	if i == ^uint64(0) {
		k = len(gs.entries)
	}
	if k == 0 {
		return
	}
	for _, l := range gs.entries[:k] {
		x.unref(l.seg, l.len+stateOverhead)
	}
	// Copy what stays to the front: the array is reused, so a group that
	// truncates as it appends never reallocates it.
	n := copy(gs.entries, gs.entries[k:])
	gs.entries = gs.entries[:n]
}

func (x *index) setTruncated(gs *group, p storage.LogPoint, seg uint64) {
	x.unref(gs.truncSeg, stateOverhead)
	gs.truncated, gs.truncSeg = p, 0
	if p != (storage.LogPoint{}) {
		gs.truncSeg = seg
		x.ref(seg, stateOverhead)
	}
}

func (x *index) setHardState(gs *group, hs []byte, has bool, seg uint64) {
	x.unref(gs.hsSeg, gs.hsLen+stateOverhead)
	buf := gs.hardState
	gs.hardState, gs.hsSeg, gs.hsLen = nil, 0, 0
	if has {
		if buf == nil {
			buf = make([]byte, 0, len(hs))
		}
		// Reused: HardState hands out copies, never this array.
		gs.hardState = append(buf[:0], hs...)
		gs.hsSeg, gs.hsLen = seg, uint32(len(hs))
		x.ref(seg, gs.hsLen+stateOverhead)
	}
}

func (x *index) setTombstone(gs *group, t, seg uint64) {
	x.unref(gs.tombSeg, stateOverhead)
	gs.tombstone, gs.tombSeg = t, 0
	if t != 0 {
		gs.tombSeg = seg
		x.ref(seg, stateOverhead)
	}
}

// apply applies a decoded frame whose body starts at bodyOff in segment
// seg. It is the one place that gives operations their meaning, for Write
// and for replay alike.
func (x *index) apply(seg uint64, bodyOff uint32, body []byte, ops []op, ents []entPos) {
	for i := range ops {
		o := &ops[i]
		gs := x.group(o.group)
		switch o.kind {
		case opAppend:
			x.dropFrom(gs, o.a)
			for j, e := range ents[o.e : o.e+o.n] {
				x.put(gs, loc{index: o.a + uint64(j), seg: seg, off: bodyOff + e.off, len: e.len})
			}
		case opSet:
			e := ents[o.e]
			x.put(gs, loc{index: o.a, seg: seg, off: bodyOff + e.off, len: e.len})
		case opTruncSuffix:
			if o.a < ^uint64(0) {
				x.dropFrom(gs, o.a+1)
			}
		case opTruncPrefix:
			if o.a > gs.truncated.Index {
				x.dropThrough(gs, o.a)
				x.setTruncated(gs, storage.LogPoint{Index: o.a, Term: o.b}, seg)
			}
		case opHardState:
			x.setHardState(gs, o.data, true, seg)
		case opDestroy:
			x.dropFrom(gs, 0)
			x.setTruncated(gs, storage.LogPoint{}, seg)
			x.setHardState(gs, nil, false, seg)
			if o.a > gs.tombstone {
				x.setTombstone(gs, o.a, seg)
			}
		case opState:
			x.setTombstone(gs, o.a, seg)
			x.setTruncated(gs, storage.LogPoint{Index: o.b, Term: o.c}, seg)
			x.dropThrough(gs, o.b)
			x.setHardState(gs, o.data, o.has, seg)
		}
		x.forgetIfEmpty(o.group, gs)
	}
}
