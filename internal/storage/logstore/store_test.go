package logstore

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func open(t tb, fs vfs.FS, opts Options) *Store {
	t.Helper()
	opts.FS = fs
	s, err := Open("log", opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func write(t tb, s *Store, sync bool, f func(b *Batch)) {
	t.Helper()
	b := NewBatch()
	f(b)
	if err := s.Write(b, sync); err != nil {
		t.Fatal(err)
	}
}

// appendVals stages vals as entries first, first+1, … of g.
func appendVals(b *Batch, g, first uint64, vals ...string) {
	b.Append(g, first, len(vals), func(i int, dst []byte) []byte { return append(dst, vals[i]...) })
}

// dump is g's entries as "index=value" strings.
func dump(t tb, s *Store, g uint64) []string {
	t.Helper()
	es, err := s.Entries(g, s.FirstIndex(g), math.MaxUint64, math.MaxUint64, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%d=%s", e.Index, e.Data))
	}
	return out
}

func wantLog(t tb, s *Store, g uint64, first, last uint64, want ...string) {
	t.Helper()
	if got := dump(t, s, g); !slices.Equal(got, want) {
		t.Fatalf("group %d: entries %q, want %q", g, got, want)
	}
	if f, l := s.FirstIndex(g), s.LastIndex(g); f != first || l != last {
		t.Fatalf("group %d: first %d last %d, want %d %d", g, f, l, first, last)
	}
}

// reopen closes s and opens its directory again.
func reopen(t tb, s *Store, fs vfs.FS, opts Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return open(t, fs, opts)
}

func TestAppendAndTailReplacement(t *testing.T) {
	fs := vfs.NewMem()
	s := open(t, fs, Options{})
	write(t, s, true, func(b *Batch) {
		appendVals(b, 1, 1, "a", "b", "c", "d")
		appendVals(b, 2, 1, "x")
	})
	wantLog(t, s, 1, 1, 4, "1=a", "2=b", "3=c", "4=d")
	// Raft's conflict: an append at 3 drops 3 and 4, shorter or not.
	write(t, s, true, func(b *Batch) { appendVals(b, 1, 3, "C") })
	wantLog(t, s, 1, 1, 3, "1=a", "2=b", "3=C")
	write(t, s, false, func(b *Batch) { appendVals(b, 1, 2, "B", "C2", "D", "E") })
	wantLog(t, s, 1, 1, 5, "1=a", "2=B", "3=C2", "4=D", "5=E")
	wantLog(t, s, 2, 1, 1, "1=x")
	s = reopen(t, s, fs, Options{})
	defer s.Close()
	wantLog(t, s, 1, 1, 5, "1=a", "2=B", "3=C2", "4=D", "5=E")
	wantLog(t, s, 2, 1, 1, "1=x")
	wantLog(t, s, 3, 1, 0)
}

func TestPaxosSlotsAmongHoles(t *testing.T) {
	fs := vfs.NewMem()
	s := open(t, fs, Options{})
	write(t, s, true, func(b *Batch) {
		b.Set(7, 5, []byte("five"))
		b.Set(7, 2, []byte("two"))
		b.Set(7, 9, []byte("nine"))
	})
	wantLog(t, s, 7, 1, 9, "2=two", "5=five", "9=nine")
	write(t, s, true, func(b *Batch) { b.Set(7, 5, []byte("FIVE")) }) // a re-accept
	wantLog(t, s, 7, 1, 9, "2=two", "5=FIVE", "9=nine")
	es, err := s.Entries(7, 3, 9, math.MaxUint64, nil)
	if err != nil || len(es) != 1 || es[0].Index != 5 {
		t.Fatalf("Entries [3,9): %v %v, want slot 5 alone", es, err)
	}
	write(t, s, true, func(b *Batch) { b.TruncatePrefix(7, storage.LogPoint{Index: 4, Term: 1}) })
	wantLog(t, s, 7, 5, 9, "5=FIVE", "9=nine")
	s = reopen(t, s, fs, Options{})
	defer s.Close()
	wantLog(t, s, 7, 5, 9, "5=FIVE", "9=nine")
	// A slot at or below the truncated point is dropped.
	write(t, s, true, func(b *Batch) { b.Set(7, 3, []byte("late")) })
	wantLog(t, s, 7, 5, 9, "5=FIVE", "9=nine")
}

func TestTruncateSuffix(t *testing.T) {
	fs := vfs.NewMem()
	s := open(t, fs, Options{})
	write(t, s, true, func(b *Batch) { appendVals(b, 1, 1, "a", "b", "c", "d") })
	write(t, s, true, func(b *Batch) { b.TruncateSuffix(1, 2) })
	wantLog(t, s, 1, 1, 2, "1=a", "2=b")
	s = reopen(t, s, fs, Options{})
	defer s.Close()
	wantLog(t, s, 1, 1, 2, "1=a", "2=b")
	write(t, s, true, func(b *Batch) { b.TruncateSuffix(1, 0) })
	wantLog(t, s, 1, 1, 0)
}

func TestTruncatePrefix(t *testing.T) {
	fs := vfs.NewMem()
	s := open(t, fs, Options{})
	write(t, s, true, func(b *Batch) { appendVals(b, 1, 1, "a", "b", "c", "d") })
	write(t, s, true, func(b *Batch) { b.TruncatePrefix(1, storage.LogPoint{Index: 2, Term: 3}) })
	wantLog(t, s, 1, 3, 4, "3=c", "4=d")
	if _, err := s.Entries(1, 2, 5, math.MaxUint64, nil); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entries below the truncated point: %v, want ErrCompacted", err)
	}
	// Backwards changes nothing.
	write(t, s, true, func(b *Batch) { b.TruncatePrefix(1, storage.LogPoint{Index: 1, Term: 1}) })
	if p := s.Truncated(1); p != (storage.LogPoint{Index: 2, Term: 3}) {
		t.Fatalf("truncated point %v after a lower truncation", p)
	}
	// A snapshot past the log: Raft's KeepNone is a suffix and a prefix truncation.
	write(t, s, true, func(b *Batch) {
		b.TruncateSuffix(1, 0)
		b.TruncatePrefix(1, storage.LogPoint{Index: 10, Term: 4})
	})
	wantLog(t, s, 1, 11, 10)
	s = reopen(t, s, fs, Options{})
	defer s.Close()
	wantLog(t, s, 1, 11, 10)
	if p := s.Truncated(1); p != (storage.LogPoint{Index: 10, Term: 4}) {
		t.Fatalf("truncated point %v after reopen", p)
	}
	write(t, s, true, func(b *Batch) { appendVals(b, 1, 11, "k") })
	wantLog(t, s, 1, 11, 11, "11=k")
}

func TestHardStateAndDestroy(t *testing.T) {
	fs := vfs.NewMem()
	s := open(t, fs, Options{})
	if _, ok := s.HardState(1); ok {
		t.Fatal("hard state of a new group")
	}
	write(t, s, true, func(b *Batch) {
		appendVals(b, 1, 1, "a", "b")
		b.SetHardState(1, []byte("hs1"))
		b.SetHardState(1, []byte("hs2"))
		b.TruncatePrefix(1, storage.LogPoint{Index: 1, Term: 1})
	})
	if hs, ok := s.HardState(1); !ok || string(hs) != "hs2" {
		t.Fatalf("hard state %q %v", hs, ok)
	}
	write(t, s, true, func(b *Batch) { b.Destroy(1, 3) })
	wantLog(t, s, 1, 1, 0)
	if _, ok := s.HardState(1); ok || s.Tombstone(1) != 3 || s.Truncated(1) != (storage.LogPoint{}) {
		t.Fatal("destroy left state behind")
	}
	s = reopen(t, s, fs, Options{})
	if _, ok := s.HardState(1); ok || s.Tombstone(1) != 3 || len(dump(t, s, 1)) != 0 {
		t.Fatal("replay did not honour the destroy")
	}
	// A new replica of the group after the destroy; the tombstone stays.
	write(t, s, true, func(b *Batch) {
		appendVals(b, 1, 1, "new")
		b.SetHardState(1, []byte("hs-new"))
		b.Destroy(1, 2) // an older replica's destroy lowers nothing
	})
	s = reopen(t, s, fs, Options{})
	defer s.Close()
	if s.Tombstone(1) != 3 || len(dump(t, s, 1)) != 0 {
		t.Fatalf("tombstone %d entries %v", s.Tombstone(1), dump(t, s, 1))
	}
	if got := s.Groups(); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("groups %v", got)
	}
}

func TestEntriesMaxBytes(t *testing.T) {
	s := open(t, vfs.NewMem(), Options{})
	defer s.Close()
	write(t, s, true, func(b *Batch) { appendVals(b, 1, 1, "aaaa", "bbbb", "cccc") })
	write(t, s, true, func(b *Batch) { appendVals(b, 1, 4, "dddd") })
	for _, tc := range []struct {
		max  uint64
		want int
	}{{0, 1}, {4, 1}, {7, 1}, {8, 2}, {100, 4}} {
		es, err := s.Entries(1, 1, 5, tc.max, nil)
		if err != nil || len(es) != tc.want {
			t.Fatalf("maxBytes %d: %d entries (%v), want %d", tc.max, len(es), err, tc.want)
		}
		for i, e := range es {
			if want := strings.Repeat(string(rune('a'+i)), 4); string(e.Data) != want {
				t.Fatalf("entry %d = %q, want %q", e.Index, e.Data, want)
			}
		}
	}
}

// TestSegmentsDropped: segments rotate, and once every group has truncated
// past them (and a sync made that durable) they are removed.
func TestSegmentsDropped(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{SegmentSize: 1024, CompactAfter: 1000, ForceCompactAfter: 1000}
	s := open(t, fs, opts)
	val := strings.Repeat("v", 200)
	for i := uint64(1); i <= 40; i++ {
		write(t, s, true, func(b *Batch) { appendVals(b, 1, i, val) })
	}
	if n := s.Stats().Segments; n < 8 {
		t.Fatalf("%d segments after 8 KiB in 1 KiB segments", n)
	}
	write(t, s, true, func(b *Batch) { b.TruncatePrefix(1, storage.LogPoint{Index: 39, Term: 1}) })
	if st := s.Stats(); st.Segments > 2 {
		t.Fatalf("%d segments left after truncating all but one entry: %+v", st.Segments, st)
	}
	s = reopen(t, s, fs, opts)
	defer s.Close()
	wantLog(t, s, 1, 40, 40, "40="+val)
}

// TestIdleGroupDoesNotPin: a group that wrote once and then sat idle has
// its few records moved forward, so the old segments go.
func TestIdleGroupDoesNotPin(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{SegmentSize: 1024, CompactAfter: 3, ForceCompactAfter: 6}
	s := open(t, fs, opts)
	write(t, s, true, func(b *Batch) {
		appendVals(b, 9, 1, "idle")
		b.SetHardState(9, []byte("idle-hs"))
		b.TruncatePrefix(9, storage.LogPoint{Index: 0})
	})
	val := strings.Repeat("v", 200)
	for i := uint64(1); i <= 200; i++ {
		write(t, s, true, func(b *Batch) {
			appendVals(b, 1, i, val)
			if i > 2 {
				b.TruncatePrefix(1, storage.LogPoint{Index: i - 2, Term: 1})
			}
		})
	}
	if st := s.Stats(); st.Segments > opts.CompactAfter+2 {
		t.Fatalf("%d segments: the idle group pins them (%+v)", st.Segments, st)
	}
	s = reopen(t, s, fs, opts)
	defer s.Close()
	wantLog(t, s, 9, 1, 1, "1=idle")
	if hs, _ := s.HardState(9); string(hs) != "idle-hs" {
		t.Fatalf("idle group's hard state %q after compaction", hs)
	}
	wantLog(t, s, 1, 199, 200, "199="+val, "200="+val)
}

// TestLongLogForcedCompaction: a group that keeps a long log while another
// writes and truncates pins the oldest segment, until ForceCompactAfter
// copies its records forward; the log stays within twice what is live.
func TestLongLogForcedCompaction(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{SegmentSize: 1024, CompactAfter: 2, ForceCompactAfter: 5}
	s := open(t, fs, opts)
	val := strings.Repeat("v", 100)
	var want []string
	for i := uint64(1); i <= 300; i++ {
		write(t, s, true, func(b *Batch) {
			appendVals(b, 2, i, val)
			b.TruncatePrefix(2, storage.LogPoint{Index: i, Term: 1})
			if i%10 == 0 {
				appendVals(b, 1, i/10, val)
				want = append(want, fmt.Sprintf("%d=%s", i/10, val))
			}
		})
		st := s.Stats()
		if limit := max(int64(opts.ForceCompactAfter+3)*opts.SegmentSize, 2*st.LiveBytes+3*opts.SegmentSize); st.Bytes > limit {
			t.Fatalf("%d bytes in %d segments after %d appends, %d live", st.Bytes, st.Segments, i, st.LiveBytes)
		}
	}
	if st := s.Stats(); st.Segments >= 300*130/1024 {
		t.Fatalf("%d segments: nothing was dropped", st.Segments)
	}
	s = reopen(t, s, fs, opts)
	defer s.Close()
	wantLog(t, s, 1, 1, 30, want...)
}

func TestBadBatch(t *testing.T) {
	s := open(t, vfs.NewMem(), Options{})
	defer s.Close()
	b := NewBatch()
	b.Set(1, 0, nil)
	if err := s.Write(b, true); err == nil {
		t.Fatal("a set of slot 0 was written")
	}
	b.Append(1, 0, 1, func(int, []byte) []byte { return nil })
	if err := s.Write(b, true); err == nil {
		t.Fatal("an append at 0 was written")
	}
	write(t, s, true, func(b *Batch) { appendVals(b, 1, 1, "ok") }) // the store still works
}

func TestClosed(t *testing.T) {
	s := open(t, vfs.NewMem(), Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(NewBatch(), true); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{SegmentSize: 10}, {SegmentSize: 2 << 30}, {CompactAfter: -1}, {CompactAfter: 10, ForceCompactAfter: 5}} {
		o.FS = vfs.NewMem()
		if _, err := Open("log", o); err == nil {
			t.Fatalf("Open with %+v succeeded", o)
		}
	}
}

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// abandon releases s's files and lock without syncing: a process crash.
func (s *Store) abandon() {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.closed = true
	for _, sg := range s.mu.segs.list {
		sg.f.Close()
	}
	s.lock.Close()
}

// TestConcurrentReads: readers run beside the writer (under -race), and
// what they read is always an entry that was written, while segments
// rotate, are dropped and are compacted under them.
func TestConcurrentReads(t *testing.T) {
	s := open(t, vfs.NewMem(), Options{SegmentSize: 2048, CompactAfter: 2, ForceCompactAfter: 3})
	defer s.Close()
	done := make(chan struct{})
	errs := make(chan error, 2)
	for g := uint64(1); g <= 2; g++ {
		go func() {
			var buf []Entry
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				var err error
				buf, err = s.Entries(g, s.FirstIndex(g), math.MaxUint64, math.MaxUint64, buf[:0])
				if err != nil && !errors.Is(err, ErrCompacted) { // truncated between the two calls
					errs <- err
					return
				}
				for _, e := range buf {
					if want := fmt.Sprintf("g%d-%d", g, e.Index); string(e.Data) != want {
						errs <- fmt.Errorf("read %q at %d, want %q", e.Data, e.Index, want)
						return
					}
				}
			}
		}()
	}
	for i := uint64(1); i <= 300; i++ {
		write(t, s, i%3 == 0, func(b *Batch) {
			for g := uint64(1); g <= 2; g++ {
				appendVals(b, g, i, fmt.Sprintf("g%d-%d", g, i))
				if i > 5 && g == 1 {
					b.TruncatePrefix(g, storage.LogPoint{Index: i - 5, Term: 1})
				}
			}
		})
	}
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestLargeWriteAndPinning: a Write larger than a segment gets a segment
// of its own; Stats names the groups that hold the oldest segment.
func TestLargeWriteAndPinning(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{SegmentSize: 1024, CompactAfter: 100, ForceCompactAfter: 100}
	s := open(t, fs, opts)
	write(t, s, true, func(b *Batch) { appendVals(b, 5, 1, "small") })
	big := strings.Repeat("B", 5000)
	write(t, s, true, func(b *Batch) { appendVals(b, 6, 1, big) })
	write(t, s, true, func(b *Batch) { appendVals(b, 6, 2, "after") })
	st := s.Stats()
	if st.Segments != 3 || !slices.Equal(st.Pinning, []uint64{5}) {
		t.Fatalf("stats %+v: want 3 segments, the first pinned by group 5", st)
	}
	s = reopen(t, s, fs, opts)
	defer s.Close()
	wantLog(t, s, 6, 1, 2, "1="+big, "2=after")
	wantLog(t, s, 5, 1, 1, "1=small")
}
