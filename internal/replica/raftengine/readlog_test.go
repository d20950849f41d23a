package raftengine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
	pb "go.etcd.io/raft/v3/raftpb"
)

// The engine's ReadLog (the simulation's view of every replica) reads what
// the engine's own Log wrote: commit, truncation, entries with their
// terms, identities and commands.
func TestReadLog(t *testing.T) {
	readLog, err := replica.ReadLogOf(Name)
	if err != nil {
		t.Fatal(err)
	}
	st := storage.NewMem()
	const g = 7
	if _, err := readLog(storage.ViewLog{View: st}, g, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("no replica: %v, want storage.ErrNotFound", err)
	}
	l, err := NewLog(st, g, func(storage.View) (*pb.ConfState, error) { return &pb.ConfState{}, nil })
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
	framed := driver.Frame(42, []byte("command"))
	driver.Stamp(framed, 1234)
	ents := []*pb.Entry{
		{Index: new(uint64(11)), Term: new(uint64(6))}, // a new leader's empty entry
		{Index: new(uint64(12)), Term: new(uint64(6)), Type: pb.EntryNormal.Enum(), Data: framed},
		{Index: new(uint64(13)), Term: new(uint64(300)), Type: pb.EntryConfChangeV2.Enum(), Data: framed},
		{Index: new(uint64(14)), Term: new(uint64(300)), Type: pb.EntryNormal.Enum(), Data: []byte("uncommitted")},
	}
	b = st.NewBatch()
	if err := l.StageAppend(storage.LogOf(b), ents); err != nil {
		t.Fatal(err)
	}
	if err := l.StageHardState(storage.LogOf(b), &pb.HardState{Term: new(uint64(300)), Vote: new(uint64(2)), Commit: new(uint64(13))}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	identity := func(e *pb.Entry) []byte {
		return append(binary.AppendUvarint(nil, uint64(e.GetType())), e.GetData()...)
	}
	check := func(from uint64, wantTrunc uint64, want []*pb.Entry) {
		t.Helper()
		dl, err := readLog(storage.ViewLog{View: st}, g, from)
		if err != nil {
			t.Fatal(err)
		}
		if dl.Commit != 13 || dl.Truncated != wantTrunc || len(dl.Entries) != len(want) {
			t.Fatalf("from %d: commit %d, truncated %d, %d entries; want 13, %d, %d", from, dl.Commit, dl.Truncated, len(dl.Entries), wantTrunc, len(want))
		}
		for i, e := range want {
			got := dl.Entries[i]
			if got.Index != e.GetIndex() || got.Term != e.GetTerm() || !bytes.Equal(got.Data, identity(e)) {
				t.Errorf("from %d: entry %d read as %+v, wrote %v", from, e.GetIndex(), got, e)
			}
			wantCmd := []byte(nil)
			if e.GetIndex() == 12 {
				wantCmd = []byte("command") // a conf change's context is no command
			}
			if !bytes.Equal(got.Command, wantCmd) {
				t.Errorf("from %d: entry %d command %q, want %q", from, e.GetIndex(), got.Command, wantCmd)
			}
		}
	}
	check(0, 10, ents[:3])
	check(12, 10, ents[1:3])
	check(14, 0, nil) // nothing to read: the truncated point is not read either
	b = st.NewBatch()
	if err := b.Set(storage.AppliedKey(g), storage.EncodeAppliedState(nil, storage.AppliedState{Index: 12, Term: 6})); err != nil {
		t.Fatal(err)
	}
	if err := l.StageTruncate(storage.LogOf(b), 12); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	check(0, 12, ents[2:3])
	// A committed entry missing from the store is missing from Entries:
	// the caller reports the gap.
	b = st.NewBatch()
	if err := b.Delete(storage.LogKey(g, 13)); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	check(0, 12, nil)
}
