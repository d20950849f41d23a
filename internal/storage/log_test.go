package storage

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

const logGroup = 3

// slots is group logGroup's log in v as "index=value", in order.
func slots(t *testing.T, v View) []string {
	t.Helper()
	var out []string
	err := ScanLog(v, logGroup, 0, math.MaxUint64, func(index uint64, value []byte) (bool, error) {
		out = append(out, fmt.Sprintf("%d=%s", index, value))
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantSlots(t *testing.T, v View, want ...string) {
	t.Helper()
	if got := slots(t, v); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("log = %v, want %v", got, want)
	}
}

// stageOK commits one batch of f's writes, failing the test on an error.
func stageOK(t *testing.T, s Store, f func(b Batch) error) {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	if err := f(b); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
}

// appendValues appends values at first, after prevLast.
func appendValues(b Batch, prevLast, first uint64, values ...string) (added, removed uint64, err error) {
	return AppendLog(b, logGroup, prevLast, first, len(values), func(i int, dst []byte) []byte {
		return append(dst, values[i]...)
	})
}

func TestAppendLog(t *testing.T) {
	for _, tc := range []struct {
		name            string
		prevLast, first uint64
		values          []string
		want            []string
		removed         []string // values of the slots replaced or deleted
	}{
		{"extend", 3, 4, []string{"d"}, []string{"1=a", "2=b", "3=c", "4=d"}, nil},
		{"same length", 3, 2, []string{"B", "C"}, []string{"1=a", "2=B", "3=C"}, []string{"b", "c"}},
		{"shorter: the tail goes", 3, 2, []string{"B"}, []string{"1=a", "2=B"}, []string{"b", "c"}},
		{"longer", 3, 3, []string{"C", "D"}, []string{"1=a", "2=b", "3=C", "4=D"}, []string{"c"}},
		{"nothing", 3, 2, nil, []string{"1=a", "2=b", "3=c"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, s Store) {
				stageOK(t, s, func(b Batch) error {
					_, _, err := appendValues(b, 0, 1, "a", "b", "c")
					return err
				})
				stageOK(t, s, func(b Batch) error {
					added, removed, err := appendValues(b, tc.prevLast, tc.first, tc.values...)
					var wantAdded, wantRemoved uint64
					for _, v := range tc.values {
						wantAdded += LogSlotSize(len(v))
					}
					for _, v := range tc.removed {
						wantRemoved += LogSlotSize(len(v))
					}
					if added != wantAdded || removed != wantRemoved {
						t.Errorf("added %d removed %d, want %d %d", added, removed, wantAdded, wantRemoved)
					}
					return err
				})
				wantSlots(t, s, tc.want...)
			})
		})
	}
}

// TestAppendLogSeesBatch: an append measures and replaces slots staged
// earlier in the same batch, as a round that appends twice does.
func TestAppendLogSeesBatch(t *testing.T) {
	s := NewMem()
	stageOK(t, s, func(b Batch) error {
		if _, _, err := appendValues(b, 0, 1, "a", "b", "c"); err != nil {
			return err
		}
		_, removed, err := appendValues(b, 3, 2, "B")
		if removed != 2*LogSlotSize(1) {
			t.Errorf("removed %d, want %d", removed, 2*LogSlotSize(1))
		}
		return err
	})
	wantSlots(t, s, "1=a", "2=B")
}

// TestSetLogSlot: one slot is written and nothing after it moves: holes
// stay holes, and a later slot survives a write below it.
func TestSetLogSlot(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		stageOK(t, s, func(b Batch) error {
			for _, i := range []uint64{5, 2, 9} {
				if err := SetLogSlot(b, logGroup, i, []byte(fmt.Sprint("v", i))); err != nil {
					return err
				}
			}
			return nil
		})
		stageOK(t, s, func(b Batch) error { return SetLogSlot(b, logGroup, 5, []byte("w5")) })
		wantSlots(t, s, "2=v2", "5=w5", "9=v9")
		if v, err := ReadLogSlot(s, logGroup, 9); err != nil || string(v) != "v9" {
			t.Fatalf("ReadLogSlot(9) = %q, %v", v, err)
		}
		if _, err := ReadLogSlot(s, logGroup, 3); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ReadLogSlot of a hole: %v, want ErrNotFound", err)
		}
	})
}

func TestScanLog(t *testing.T) {
	s := NewMem()
	stageOK(t, s, func(b Batch) error {
		for _, g := range []uint64{logGroup - 1, logGroup, logGroup + 1} { // neighbours stay out
			for i := uint64(1); i <= 5; i++ {
				if err := SetLogSlot(b, g, i, []byte(fmt.Sprint(g, ".", i))); err != nil {
					return err
				}
			}
		}
		return SetLogSlot(b, logGroup, math.MaxUint64, []byte("max"))
	})
	scan := func(lo, hi uint64, stopAfter int) (out []string) {
		err := ScanLog(s, logGroup, lo, hi, func(index uint64, value []byte) (bool, error) {
			out = append(out, fmt.Sprintf("%d=%s", index, value))
			return len(out) != stopAfter, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		lo, hi    uint64
		stopAfter int
		want      string
	}{
		{"whole log", 0, math.MaxUint64, -1, "[1=3.1 2=3.2 3=3.3 4=3.4 5=3.5 18446744073709551615=max]"},
		{"range", 2, 4, -1, "[2=3.2 3=3.3]"},
		{"empty range", 4, 4, -1, "[]"},
		{"stopped", 1, 6, 2, "[1=3.1 2=3.2]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fmt.Sprint(scan(tc.lo, tc.hi, tc.stopAfter)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	boom := errors.New("boom")
	if err := ScanLog(s, logGroup, 0, 9, func(uint64, []byte) (bool, error) { return true, boom }); err != boom {
		t.Fatalf("f's error came back as %v", err)
	}
}

func TestTruncateLog(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		stageOK(t, s, func(b Batch) error {
			_, _, err := appendValues(b, 0, 1, "a", "b", "c", "d")
			return err
		})
		// Applied 2 (staged in the same batch counts): 3 is refused.
		b := s.NewBatch()
		if err := b.Set(AppliedKey(logGroup), EncodeAppliedState(nil, AppliedState{Index: 2, Term: 1})); err != nil {
			t.Fatal(err)
		}
		if err := TruncateLog(b, logGroup, LogPoint{3, 1}); err == nil || !strings.Contains(err.Error(), "past applied index 2") {
			t.Fatalf("truncate past applied: %v", err)
		}
		if err := TruncateLog(b, logGroup, LogPoint{2, 1}); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(true); err != nil {
			t.Fatal(err)
		}
		b.Close()
		wantSlots(t, s, "3=c", "4=d")
		if p, err := ReadTruncated(s, logGroup); err != nil || p != (LogPoint{2, 1}) {
			t.Fatalf("truncated = %v, %v", p, err)
		}
	})
}

func TestSetSnapshotPoint(t *testing.T) {
	for _, tc := range []struct {
		keep LogKeep
		want []string
	}{
		{KeepNone, nil},
		{KeepAbove, []string{"5=e", "6=f"}},
	} {
		t.Run(fmt.Sprint(tc.keep), func(t *testing.T) {
			forEachStore(t, func(t *testing.T, s Store) {
				stageOK(t, s, func(b Batch) error {
					_, _, err := appendValues(b, 0, 1, "a", "b", "c", "d", "e", "f")
					return err
				})
				stageOK(t, s, func(b Batch) error { return SetSnapshotPoint(b, logGroup, LogPoint{4, 7}, tc.keep) })
				wantSlots(t, s, tc.want...)
				if p, err := ReadTruncated(s, logGroup); err != nil || p != (LogPoint{4, 7}) {
					t.Fatalf("truncated = %v, %v", p, err)
				}
			})
		})
	}
	b := NewMem().NewBatch()
	defer b.Close()
	if err := SetSnapshotPoint(b, logGroup, LogPoint{4, 7}, LogKeep(9)); err == nil {
		t.Fatal("an unknown LogKeep was accepted")
	}
}

func TestHardState(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		if _, _, err := ReadHardState(s, logGroup); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no hard state yet: %v, want ErrNotFound", err)
		}
		b := s.NewBatch()
		defer b.Close()
		if err := SetHardState(b, logGroup, 0, []byte("x")); err == nil {
			t.Fatal("version 0 accepted")
		}
		if err := SetHardState(b, logGroup, 2, []byte("state")); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(true); err != nil {
			t.Fatal(err)
		}
		if v, st, err := ReadHardState(s, logGroup); v != 2 || string(st) != "state" || err != nil {
			t.Fatalf("ReadHardState = %d, %q, %v", v, st, err)
		}
		b2 := s.NewBatch()
		defer b2.Close()
		if err := b2.Set(HardStateKey(logGroup), nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ReadHardState(b2, logGroup); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("empty hard state: %v, want ErrCorrupt", err)
		}
	})
}

// TestLogFormat pins the keys and values the log operations write, byte for
// byte: data directories written before must read the same.
func TestLogFormat(t *testing.T) {
	s := NewMem()
	stageOK(t, s, func(b Batch) error {
		if err := SetHardState(b, 1, 1, []byte{0xaa, 0xbb}); err != nil {
			return err
		}
		if err := SetLogSlot(b, 1, 11, []byte("x")); err != nil {
			return err
		}
		return SetSnapshotPoint(b, 1, LogPoint{10, 5}, KeepAbove)
	})
	it, err := s.NewIter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var got []string
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, hex.EncodeToString(it.Key())+" "+hex.EncodeToString(it.Value()))
	}
	want := []string{
		hex.EncodeToString([]byte("/u/\x00\x00\x00\x00\x00\x00\x00\x01/hardstate")) + " 01aabb",
		hex.EncodeToString([]byte("/u/\x00\x00\x00\x00\x00\x00\x00\x01/log/\x00\x00\x00\x00\x00\x00\x00\x0b")) + " 78",
		hex.EncodeToString([]byte("/u/\x00\x00\x00\x00\x00\x00\x00\x01/truncated")) + " 01000000000000000a0000000000000005",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := LogSlotSize(0); n != uint64(len(LogKey(1, 11))) {
		t.Fatalf("LogSlotSize(0) = %d, a log key is %d bytes", n, len(LogKey(1, 11)))
	}
}

func TestBatchLogDeleteLogAfter(t *testing.T) {
	s := NewMem()
	defer s.Close()
	stageOK(t, s, func(b Batch) error {
		for i := uint64(1); i <= 5; i++ {
			if err := LogOf(b).SetLogSlot(logGroup, i, []byte{'a' + byte(i)}); err != nil {
				return err
			}
		}
		return LogOf(b).SetLogSlot(logGroup+1, 4, []byte("x"))
	})
	stageOK(t, s, func(b Batch) error { return LogOf(b).DeleteLogAfter(logGroup, math.MaxUint64) })
	wantSlots(t, s, "1=b", "2=c", "3=d", "4=e", "5=f")
	stageOK(t, s, func(b Batch) error { return LogOf(b).DeleteLogAfter(logGroup, 2) })
	wantSlots(t, s, "1=b", "2=c")
	if _, err := ReadLogSlot(s, logGroup+1, 4); err != nil {
		t.Fatalf("another group's slot: %v", err)
	}
	stageOK(t, s, func(b Batch) error { return LogOf(b).DeleteLogAfter(logGroup, 0) })
	wantSlots(t, s)
}
