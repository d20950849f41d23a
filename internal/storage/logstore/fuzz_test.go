package logstore

import (
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// FuzzOpenSegment: whatever the bytes of the log's only segment, Open
// never panics, and it either refuses them or recovers the state after a
// prefix of the writes that made the original segment.
func FuzzOpenSegment(f *testing.F) {
	fs := vfs.NewMem()
	s := open(f, fs, Options{})
	h := newHistory()
	var states []string
	states = append(states, h.texts[0])
	for _, ops := range [][]mop{
		{{kind: opAppend, g: 1, a: 1, vals: []string{"a", "bb", "ccc"}}, {kind: opHardState, g: 1, state: "hs"}},
		{{kind: opSet, g: 2, a: 7, vals: []string{"seven"}}, {kind: opAppend, g: 1, a: 2, vals: []string{"B"}}},
		{{kind: opTruncPrefix, g: 1, a: 1, b: 1}, {kind: opTruncSuffix, g: 2, a: 3}, {kind: opDestroy, g: 3, a: 2}},
	} {
		b := NewBatch()
		for _, o := range ops {
			o.stage(b)
		}
		if err := s.Write(b, true); err != nil {
			f.Fatal(err)
		}
		h.write(ops, true)
		states = append(states, h.texts[0])
	}
	s.abandon()
	seg := readFile(f, fs, "log/"+segName(1))
	f.Add(seg)
	f.Add(seg[:len(seg)-5])
	f.Add(seg[:segHeaderLen])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := vfs.NewMem()
		if err := fs.MkdirAll("log", 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, fs, "log/"+segName(1), data)
		s, err := Open("log", Options{FS: fs})
		if err != nil {
			return
		}
		defer s.Close()
		got := renderStore(t, s, modelGroups)
		if !slices.Contains(states, got) {
			t.Fatalf("recovered a state no prefix of the writes gives:\n%s", got)
		}
		// What was recovered can be written after and read back.
		b := NewBatch()
		b.TruncatePrefix(1, storage.LogPoint{Index: 100})
		if err := s.Write(b, true); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDecodeBody: a frame body that passed its checksum is still decoded
// defensively; decoding arbitrary bytes never panics, and applying what
// decodes keeps the index's invariants.
func FuzzDecodeBody(f *testing.F) {
	b := NewBatch()
	appendVals(b, 1, 1, "a", "b")
	b.Set(2, 9, []byte("x"))
	b.TruncateSuffix(1, 1)
	b.TruncatePrefix(2, storage.LogPoint{Index: 3, Term: 1})
	b.SetHardState(1, []byte("hs"))
	b.Destroy(3, 1)
	b.setState(4, &group{tombstone: 2, truncated: storage.LogPoint{Index: 5}, hardState: []byte{}})
	f.Add(b.buf[frameHeaderLen:])
	f.Add([]byte{opAppend, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, ents, err := decodeBody(body, nil, nil)
		if err != nil {
			return
		}
		segs := &segments{list: []*segment{{id: 1}}}
		x := index{groups: map[uint64]*group{}, segs: segs}
		x.apply(1, 0, body, ops, ents)
		x.apply(1, 0, body, ops, ents) // twice: replacing what is there
		refs := 0
		for g, gs := range x.groups {
			if gs.empty() {
				t.Fatalf("group %d kept empty", g)
			}
			for i, l := range gs.entries {
				if l.index <= gs.truncated.Index || (i > 0 && l.index <= gs.entries[i-1].index) {
					t.Fatalf("group %d: entries %v with truncated point %v", g, gs.entries, gs.truncated)
				}
				if int(l.off)+int(l.len) > len(body) {
					t.Fatalf("group %d: entry %d at %d+%d past a body of %d", g, l.index, l.off, l.len, len(body))
				}
			}
			refs += len(gs.entries)
			for _, seg := range []uint64{gs.truncSeg, gs.hsSeg, gs.tombSeg} {
				if seg != 0 {
					refs++
				}
			}
		}
		if segs.list[0].refs != refs {
			t.Fatalf("segment counts %d references, the index holds %d", segs.list[0].refs, refs)
		}
	})
}
