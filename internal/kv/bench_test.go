package kv

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/storage"
)

// BenchmarkApply applies 64 entries per Apply call, each a session PUT of
// an 8-byte key and a 256-byte value, into one batch over the test store.
func BenchmarkApply(b *testing.B) {
	s := newMemStore()
	m := New(testGroup)
	value := make([]byte, 256)
	es := make([]Entry, 64)
	var index, seq uint64
	b.ReportAllocs()
	b.SetBytes(64 * (8 + 256))
	for b.Loop() {
		for i := range es {
			index++
			seq++
			key := binary.BigEndian.AppendUint64(nil, index%4096)
			c := NewCommand(Put(key, value)).WithSession(1, seq, seq)
			es[i] = Entry{Index: index, Term: 1, Time: t0, Data: c.Encode()}
		}
		b.StopTimer()
		bt := s.NewBatch()
		b.StartTimer()
		if _, err := m.Apply(es, bt, bt); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := bt.Commit(false); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func benchCommand() Command {
	return NewCommand(Put([]byte("user:12345678"), make([]byte, 256)).WithTTL(time.Minute).IfVersion(42)).WithSession(7, 1000, 990)
}

func BenchmarkCommandEncode(b *testing.B) {
	c := benchCommand()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.AppendEncode(buf[:0])
	}
}

func BenchmarkCommandDecode(b *testing.B) {
	c := benchCommand()
	data := c.Encode()
	var d Command
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResultEncode(b *testing.B) {
	rep := Reply{GroupTime: t0, Responses: []Response{{Code: CodeOK, Version: 123456, Deadline: t0 + int64(time.Minute)}}}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = rep.AppendEncode(buf[:0])
	}
}

func BenchmarkResultDecode(b *testing.B) {
	rep := Reply{GroupTime: t0, Responses: []Response{{Code: CodeOK, Version: 123456, Deadline: t0 + int64(time.Minute)}}}
	data := rep.Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResult(data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCodecAllocs counts what the hot path allocates: decoding into a
// reused Command and encoding into a buffer with room allocate nothing.
func TestCodecAllocs(t *testing.T) {
	c := benchCommand()
	data := c.Encode()
	var d Command
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { _ = d.Decode(data) }); n != 0 {
		t.Errorf("Command.Decode allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = c.AppendEncode(buf[:0]) }); n != 0 {
		t.Errorf("Command.AppendEncode allocates %v times", n)
	}
}

// BenchmarkApplyPebble is BenchmarkApply over a real Pebble store whose
// memtable already holds 100,000 keys: the apply path's reads go through
// pebble's indexed batch, as on a node.
func BenchmarkApplyPebble(b *testing.B) {
	s, err := storage.OpenPebble(b.TempDir(), storage.PebbleOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := New(testGroup)
	value := make([]byte, 256)
	const keys = 100_000
	es := make([]Entry, 64)
	var index, seq uint64
	apply := func() {
		bt := s.NewBatch()
		defer bt.Close()
		if _, err := m.Apply(es, bt, bt); err != nil {
			b.Fatal(err)
		}
		if err := bt.Commit(false); err != nil {
			b.Fatal(err)
		}
	}
	fill := func(key func(i uint64) uint64) {
		for i := range es {
			index++
			seq++
			k := binary.BigEndian.AppendUint64(nil, key(index))
			c := NewCommand(Put(k, value)).WithSession(1, seq, seq)
			es[i] = Entry{Index: index, Term: 1, Time: t0, Data: c.Encode()}
		}
	}
	for index < keys {
		fill(func(i uint64) uint64 { return i })
		apply()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.SetBytes(64 * (8 + 256))
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		fill(func(uint64) uint64 { return rng.Uint64N(keys) })
		b.StartTimer()
		apply()
	}
}

// BenchmarkEvalGet is a one-key get query, as a GET on any door reads it,
// over a Pebble store holding 10,000 keys.
func BenchmarkEvalGet(b *testing.B) {
	s, err := storage.OpenPebble(b.TempDir(), storage.PebbleOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := New(testGroup)
	const keys = 10_000
	var es []Entry
	for i := range uint64(keys) {
		c := NewCommand(Put(binary.BigEndian.AppendUint64(nil, i), make([]byte, 256)))
		es = append(es, Entry{Index: i + 1, Term: 1, Time: t0, Data: c.Encode()})
	}
	bt := s.NewBatch()
	if _, err := m.Apply(es, bt, bt); err != nil {
		b.Fatal(err)
	}
	if err := bt.Commit(false); err != nil {
		b.Fatal(err)
	}
	bt.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	key := make([]byte, 8)
	b.ReportAllocs()
	for b.Loop() {
		binary.BigEndian.PutUint64(key, rng.Uint64N(keys))
		rep, err := Eval(s, testGroup, GetQuery(key))
		if err != nil || rep.Responses[0].Code != CodeOK {
			b.Fatal(rep, err)
		}
	}
}
