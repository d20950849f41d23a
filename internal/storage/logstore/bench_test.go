package logstore

import (
	"io"
	"log"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// round stages one round: per group, perGroup entries of size bytes after
// the group's last index, its hard state, and every 64 rounds a prefix
// truncation that keeps the last 64 entries (the durable applied index of
// a busy group), so that segments are dropped as they would be.
type round struct {
	groups, perGroup int
	payload, hs      []byte
	next             []uint64
	n                int
}

func newRound(groups, perGroup, size int) *round {
	r := &round{groups: groups, perGroup: perGroup, payload: make([]byte, size), hs: make([]byte, 24), next: make([]uint64, groups)}
	for i := range r.next {
		r.next[i] = 1
	}
	return r
}

func (r *round) stage(b *Batch) {
	r.n++
	for g := range r.groups {
		first := r.next[g]
		b.Append(uint64(g+1), first, r.perGroup, r.encode)
		r.next[g] += uint64(r.perGroup)
		b.SetHardState(uint64(g+1), r.hs)
		if r.n%64 == 0 && r.next[g] > 65 {
			b.TruncatePrefix(uint64(g+1), storage.LogPoint{Index: r.next[g] - 65, Term: 1})
		}
	}
}

func (r *round) encode(_ int, dst []byte) []byte { return append(dst, r.payload...) }

// BenchmarkRound: 64 groups × 4 entries of 256 bytes per round, one Write
// and one fsync per round, on a real directory. MB/s counts the frame's
// bytes. Run: go test -run '^$' -bench Round -benchtime 2000x ./internal/storage/logstore/
func BenchmarkRound(b *testing.B) {
	for _, tc := range []struct {
		name string
		sync bool
	}{{"fsync", true}, {"nosync", false}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{FS: vfs.Default})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := newRound(64, 4, 256)
			batch := NewBatch()
			r.stage(batch)
			b.SetBytes(int64(batch.Len()))
			batch.Reset()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startCPU()
			start := time.Now()
			for range b.N {
				r.stage(batch)
				if err := s.Write(batch, tc.sync); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rounds/s")
			b.ReportMetric(float64(r.groups*r.perGroup), "entries/round")
			b.ReportMetric(cpu.perOp(b.N), "cpu-µs/round")
		})
	}
}

// BenchmarkRoundPebble is BenchmarkRound's round written as the driver
// writes it today: storage.AppendLog, SetHardState and TruncateLog into
// one Pebble batch (the applied state the truncation needs staged with
// it), committed with sync — the cost the log store replaces.
func BenchmarkRoundPebble(b *testing.B) {
	for _, tc := range []struct {
		name string
		sync bool
	}{{"fsync", true}, {"nosync", false}} {
		b.Run(tc.name, func(b *testing.B) {
			log.SetOutput(io.Discard) // pebble's default logger: "Found 0 WALs" among the results
			defer log.SetOutput(os.Stderr)
			p, err := storage.OpenPebble(b.TempDir(), storage.PebbleOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			r := newRound(64, 4, 256)
			hs := make([]byte, 24)
			var applied []byte
			b.SetBytes(int64(r.groups * r.perGroup * (len(r.payload) + 24)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startCPU()
			start := time.Now()
			for range b.N {
				r.n++
				batch := p.NewBatch()
				for g := range r.groups {
					gid, first := uint64(g+1), r.next[g]
					if _, _, err := storage.AppendLog(batch, gid, first-1, first, r.perGroup, r.encode); err != nil {
						b.Fatal(err)
					}
					r.next[g] += uint64(r.perGroup)
					if err := storage.SetHardState(batch, gid, 1, hs); err != nil {
						b.Fatal(err)
					}
					if r.n%64 == 0 && r.next[g] > 65 {
						to := r.next[g] - 65
						applied = storage.EncodeAppliedState(applied[:0], storage.AppliedState{Index: to, Term: 1})
						if err := batch.Set(storage.AppliedKey(gid), applied); err != nil {
							b.Fatal(err)
						}
						if err := storage.TruncateLog(batch, gid, storage.LogPoint{Index: to, Term: 1}); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := batch.Commit(tc.sync); err != nil {
					b.Fatal(err)
				}
				batch.Close()
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rounds/s")
			b.ReportMetric(cpu.perOp(b.N), "cpu-µs/round")
		})
	}
}

// cpuClock measures the process's CPU time (user and system), the figure
// issue 17 steers by.
type cpuClock struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{cpuNow()} }

func (c cpuClock) perOp(n int) float64 {
	return float64(cpuNow()-c.start) / float64(time.Microsecond) / float64(n)
}

// TestWriteAllocs: once its groups exist, a round's Write of 64 groups'
// entries and hard states allocates (almost) nothing.
func TestWriteAllocs(t *testing.T) {
	s := open(t, vfs.NewMem(), Options{})
	defer s.Close()
	r := newRound(64, 4, 256)
	batch := NewBatch()
	for range 200 { // warm up: groups, index arrays, the batch's buffer
		r.stage(batch)
		if err := s.Write(batch, false); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		r.stage(batch)
		if err := s.Write(batch, false); err != nil {
			t.Fatal(err)
		}
	})
	if limit := 2.0; allocs > limit {
		t.Fatalf("a round of %d groups allocates %.1f times, want at most %.0f", r.groups, allocs, limit)
	}
	t.Logf("%.1f allocations per round of %d groups × %d entries", allocs, r.groups, r.perGroup)
}

// BenchmarkEntries: reading back one group's latest round (4 entries of
// 256 bytes, adjacent in a segment: one pread) while 64 groups append.
func BenchmarkEntries(b *testing.B) {
	s, err := Open(b.TempDir(), Options{FS: vfs.Default})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := newRound(64, 4, 256)
	batch := NewBatch()
	for range 100 {
		r.stage(batch)
		if err := s.Write(batch, false); err != nil {
			b.Fatal(err)
		}
	}
	last := s.LastIndex(7)
	var dst []Entry
	b.ReportAllocs()
	b.SetBytes(4 * 256)
	b.ResetTimer()
	for range b.N {
		if dst, err = s.Entries(7, last-3, last+1, 1<<20, dst[:0]); err != nil || len(dst) != 4 {
			b.Fatalf("%d entries, %v", len(dst), err)
		}
	}
}
