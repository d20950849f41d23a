package raftengine

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/cairnkv/cairn/internal/storage"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func FuzzDecodeEntry(f *testing.F) {
	f.Add(uint64(1), encodeEntry(nil, logEnt(1, 2)))
	f.Add(uint64(3), encodeEntry(nil, &raftpb.Entry{Index: new(uint64(3))}))
	f.Add(uint64(3), encodeEntry(nil, &raftpb.Entry{Term: new(uint64(1 << 60)), Type: raftpb.EntryType(-1).Enum(), Data: []byte{}}))
	f.Add(uint64(0), []byte{1, 7, 0xff})
	f.Fuzz(func(t *testing.T, index uint64, b []byte) {
		e, err := decodeEntry(index, b, false)
		term, terr := decodeEntryTerm(index, b)
		if err != nil {
			return
		}
		if terr != nil || term != e.GetTerm() {
			t.Fatalf("decodeEntryTerm = %d, %v; entry term %d", term, terr, e.GetTerm())
		}
		if e.GetIndex() != index {
			t.Fatalf("index %d, want %d", e.GetIndex(), index)
		}
		again, err := decodeEntry(index, encodeEntry(nil, e), true)
		if err != nil || !proto.Equal(again, e) {
			t.Fatalf("round trip of %v: %v, %v", e, again, err)
		}
	})
}

func FuzzDecodeHardState(f *testing.F) {
	f.Add(byte(hardStateVersion), encodeHardState(nil, &raftpb.HardState{Term: new(uint64(5)), Commit: new(uint64(10))}))
	f.Add(byte(1), []byte{})
	f.Fuzz(func(t *testing.T, version byte, b []byte) {
		hs, err := decodeHardState(version, b)
		if err != nil {
			return
		}
		if got := encodeHardState(nil, hs); version != hardStateVersion || !bytes.Equal(got, b) {
			t.Fatalf("re-encoding %d %x gave %d %x", version, b, hardStateVersion, got)
		}
	})
}

// BenchmarkLogAppend stages 64 entries of 300 bytes and commits them
// with sync, on Pebble on disk.
func BenchmarkLogAppend(b *testing.B) {
	s, err := storage.OpenPebble(b.TempDir(), storage.PebbleOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	l, err := NewLog(s, 1, func(storage.View) (*raftpb.ConfState, error) { return nil, nil })
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 300)
	ents := make([]*raftpb.Entry, 64)
	next := uint64(1)
	b.SetBytes(64 * 300)
	b.ReportAllocs()
	for b.Loop() {
		for i := range ents {
			ents[i] = &raftpb.Entry{Index: new(next), Term: new(uint64(1)), Data: data}
			next++
		}
		batch := s.NewBatch()
		if err := l.StageAppend(storage.LogOf(batch), ents); err != nil {
			b.Fatal(err)
		}
		if err := batch.Commit(true); err != nil {
			b.Fatal(err)
		}
		batch.Close()
	}
}

// TestLogCodecFormat pins the bytes a Log stores for raft's entries and
// hard state: data directories written before must read the same.
func TestLogCodecFormat(t *testing.T) {
	st := storage.NewMem()
	const g = 7
	l, err := NewLog(st, g, func(storage.View) (*raftpb.ConfState, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	defer b.Close()
	if err := l.Bootstrap(b, 10, 5); err != nil {
		t.Fatal(err)
	}
	if err := l.StageAppend(storage.LogOf(b), []*raftpb.Entry{
		{Index: new(uint64(11)), Term: new(uint64(6))},
		{Index: new(uint64(12)), Term: new(uint64(6)), Type: raftpb.EntryNormal.Enum(), Data: []byte("command")},
		{Index: new(uint64(13)), Term: new(uint64(300)), Type: raftpb.EntryConfChangeV2.Enum(), Data: []byte{1, 2, 3}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.StageHardState(storage.LogOf(b), &raftpb.HardState{Term: new(uint64(300)), Vote: new(uint64(2)), Commit: new(uint64(13))}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key  []byte
		want string
	}{
		{storage.LogKey(g, 11), "010106"},
		{storage.LogKey(g, 12), "010706" + "00" + hex.EncodeToString([]byte("command"))},
		{storage.LogKey(g, 13), "0107" + "ac02" + "02" + "010203"},
		{storage.HardStateKey(g), "01" + "000000000000012c" + "0000000000000002" + "000000000000000d"},
		{storage.TruncatedKey(g), "01" + "000000000000000a" + "0000000000000005"},
		{storage.AppliedKey(g), "01" + "000000000000000a" + "0000000000000005" + "0000000000000000"},
	}
	for _, tc := range want {
		got, err := st.Get(tc.key)
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("%q = %x, %v; want %s", tc.key, got, err, tc.want)
		}
	}
	it, err := st.NewIter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if n != len(want) {
		t.Errorf("the store holds %d keys, want %d", n, len(want))
	}
}
