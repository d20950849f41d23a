package sim

import (
	"bytes"
	"testing"

	"github.com/cairnkv/cairn/internal/replica/raftengine"
	"github.com/cairnkv/cairn/internal/storage"
	pb "go.etcd.io/raft/v3/raftpb"
)

// The checker's decoders read what the engine's own log (raftengine.Log, on
// storage's log operations) wrote: a change of the stored format fails here.
func TestDecodersReadStorageFormat(t *testing.T) {
	st := storage.NewMem()
	const g = 7
	l, err := raftengine.NewLog(st, g, func(storage.View) (*pb.ConfState, error) { return &pb.ConfState{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	if err := l.Bootstrap(b, 10, 5); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	ents := []*pb.Entry{
		{Index: new(uint64(11)), Term: new(uint64(6))}, // a new leader's empty entry
		{Index: new(uint64(12)), Term: new(uint64(6)), Type: pb.EntryNormal.Enum(), Data: []byte("command")},
		{Index: new(uint64(13)), Term: new(uint64(300)), Type: pb.EntryConfChangeV2.Enum(), Data: []byte{1, 2, 3}},
	}
	b = st.NewBatch()
	if err := l.StageAppend(b, ents); err != nil {
		t.Fatal(err)
	}
	if err := l.StageHardState(b, &pb.HardState{Term: new(uint64(300)), Vote: new(uint64(2)), Commit: new(uint64(13))}); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(storage.AppliedKey(g), storage.EncodeAppliedState(nil, storage.AppliedState{Index: 12, Term: 6})); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		raw, err := st.Get(storage.LogKey(g, e.GetIndex()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeStoredEntry(raw)
		if err != nil {
			t.Fatalf("entry %d: %v", e.GetIndex(), err)
		}
		if got.term != e.GetTerm() || got.typ != uint64(e.GetType()) || !bytes.Equal(got.data, e.GetData()) {
			t.Errorf("entry %d: decoded %+v, wrote %v", e.GetIndex(), got, e)
		}
	}
	raw, err := st.Get(storage.HardStateKey(g))
	if err != nil {
		t.Fatal(err)
	}
	if commit, err := decodeHardStateCommit(raw); err != nil || commit != 13 {
		t.Errorf("hard state commit = %d, %v; want 13", commit, err)
	}
	b = st.NewBatch()
	if err := l.StageTruncate(b, 12); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	raw, err = st.Get(storage.TruncatedKey(g))
	if err != nil {
		t.Fatal(err)
	}
	if idx, err := decodeTruncatedIndex(raw); err != nil || idx != 12 {
		t.Errorf("truncated index = %d, %v; want 12", idx, err)
	}
}
