package storage

import (
	"encoding/binary"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

// BenchmarkRaftLogAppend stages 64 entries of 300 bytes and commits them
// with sync, on Pebble on disk.
func BenchmarkRaftLogAppend(b *testing.B) {
	s, err := OpenPebble(b.TempDir(), PebbleOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	l, err := NewRaftLog(s, 1, func(View) (*pb.ConfState, error) { return nil, nil })
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 300)
	ents := make([]*pb.Entry, 64)
	next := uint64(1)
	b.SetBytes(64 * 300)
	b.ReportAllocs()
	for b.Loop() {
		for i := range ents {
			ents[i] = &pb.Entry{Index: new(next), Term: new(uint64(1)), Data: data}
			next++
		}
		batch := s.NewBatch()
		if err := l.StageAppend(batch, ents); err != nil {
			b.Fatal(err)
		}
		if err := batch.Commit(true); err != nil {
			b.Fatal(err)
		}
		batch.Close()
	}
}

func benchKey(i int) []byte {
	return binary.BigEndian.AppendUint64([]byte("/r/data/"), uint64(i)*2654435761%(1<<32))
}

func BenchmarkMemSet(b *testing.B) {
	m := NewMem()
	defer m.Close()
	v := make([]byte, 100)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		batch := m.NewBatch()
		if err := batch.Set(benchKey(i%50000), v); err != nil {
			b.Fatal(err)
		}
		if err := batch.Commit(false); err != nil {
			b.Fatal(err)
		}
		batch.Close()
		i++
	}
}

func BenchmarkMemGet(b *testing.B) {
	m := NewMem()
	defer m.Close()
	batch := m.NewBatch()
	for i := range 50000 {
		if err := batch.Set(benchKey(i), make([]byte, 100)); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Commit(false); err != nil {
		b.Fatal(err)
	}
	batch.Close()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Get(benchKey(i % 50000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
