package storage

import (
	"encoding/binary"
	"testing"
)

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
