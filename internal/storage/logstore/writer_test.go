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

// renderLog is group g's log read through r: its truncated point, hard
// state and slots, every slot also read alone.
func renderLog(t *testing.T, r storage.LogReader, g uint64) string {
	t.Helper()
	trunc, err := r.ReadTruncated(g)
	if err != nil {
		t.Fatal(err)
	}
	var ents []string
	err = r.ScanLog(g, 0, math.MaxUint64, func(index uint64, value []byte) (bool, error) {
		one, err := r.ReadLogSlot(g, index)
		if err != nil || string(one) != string(value) {
			t.Fatalf("slot %d alone: %q, %v; scanned %q", index, one, err, value)
		}
		ents = append(ents, fmt.Sprintf("%d=%s", index, value))
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadLogSlot(g, trunc.Index); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("slot %d at the truncated point: err %v, want ErrNotFound", trunc.Index, err)
	}
	hs := "none"
	version, state, err := r.ReadHardState(g)
	switch {
	case err == nil:
		hs = fmt.Sprintf("v%d:%s", version, state)
	case !errors.Is(err, storage.ErrNotFound):
		t.Fatal(err)
	}
	return fmt.Sprintf("trunc %v hs %s [%s]", trunc, hs, strings.Join(ents, " "))
}

// TestWriterMatchesBatchLog stages the same rounds of every LogWriter
// operation into the store's keyspace (storage.BatchLog) and into a log
// store (Writer), and checks the two logs agree after each round.
func TestWriterMatchesBatchLog(t *testing.T) {
	const g = 5
	mem := storage.NewMem()
	defer mem.Close()
	s := open(t, vfs.NewMem(), Options{})
	defer s.Close()

	durable := uint64(0)
	lw := Writer{Store: s, Batch: NewBatch(), Durable: func(uint64) uint64 { return durable }}
	vals := func(vs ...string) func(i int, dst []byte) []byte {
		return func(i int, dst []byte) []byte { return append(dst, vs[i]...) }
	}
	if got, want := renderLog(t, Reader{s}, g), renderLog(t, storage.ViewLog{View: mem}, g); got != want {
		t.Fatalf("empty:\nlog store %s\nkeyspace  %s", got, want)
	}
	rounds := []struct {
		name    string
		applied uint64 // the applied index both sides know
		f       func(w storage.LogWriter, prevLast uint64) error
	}{
		{"bootstrap", 10, func(w storage.LogWriter, _ uint64) error {
			if err := w.SetSnapshotPoint(g, storage.LogPoint{Index: 10, Term: 5}, storage.KeepNone); err != nil {
				return err
			}
			return w.SetHardState(g, 1, []byte("t5c10"))
		}},
		{"append", 10, func(w storage.LogWriter, prevLast uint64) error {
			_, _, err := w.AppendLog(g, prevLast, 11, 4, vals("a", "b", "c", "d"))
			return err
		}},
		{"replace the tail", 10, func(w storage.LogWriter, prevLast uint64) error {
			_, _, err := w.AppendLog(g, prevLast, 13, 1, vals("C"))
			return err
		}},
		{"slot among holes", 10, func(w storage.LogWriter, _ uint64) error {
			if err := w.SetLogSlot(g, 16, []byte("f")); err != nil {
				return err
			}
			return w.SetLogSlot(g, 18, []byte("h"))
		}},
		{"divergent suffix", 10, func(w storage.LogWriter, _ uint64) error {
			if err := w.DeleteLogAfter(g, 16); err != nil {
				return err
			}
			return w.SetHardState(g, 2, []byte("e6c16"))
		}},
		{"truncate", 12, func(w storage.LogWriter, _ uint64) error {
			return w.TruncateLog(g, storage.LogPoint{Index: 12, Term: 5})
		}},
		{"snapshot keeping above", 12, func(w storage.LogWriter, _ uint64) error {
			return w.SetSnapshotPoint(g, storage.LogPoint{Index: 14, Term: 6}, storage.KeepAbove)
		}},
		{"snapshot keeping none", 12, func(w storage.LogWriter, _ uint64) error {
			return w.SetSnapshotPoint(g, storage.LogPoint{Index: 20, Term: 7}, storage.KeepNone)
		}},
	}
	for _, r := range rounds {
		b := mem.NewBatch()
		if err := b.Set(storage.AppliedKey(g), storage.EncodeAppliedState(nil, storage.AppliedState{Index: r.applied})); err != nil {
			t.Fatal(err)
		}
		durable = r.applied
		prevLast := s.LastIndex(g)
		if err := r.f(storage.LogOf(b), prevLast); err != nil {
			t.Fatalf("%s: BatchLog: %v", r.name, err)
		}
		if err := b.Commit(true); err != nil {
			t.Fatal(err)
		}
		b.Close()
		if err := r.f(lw, prevLast); err != nil {
			t.Fatalf("%s: Writer: %v", r.name, err)
		}
		if err := s.Write(lw.Batch, true); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if got, want := renderLog(t, Reader{s}, g), renderLog(t, storage.ViewLog{View: mem}, g); got != want {
			t.Fatalf("after %s:\nlog store %s\nkeyspace  %s", r.name, got, want)
		}
	}
}

// TestWriterTruncatesOnlyDurable: a truncation past the durable applied
// index, or with none known, is refused and stages nothing.
func TestWriterTruncatesOnlyDurable(t *testing.T) {
	s := open(t, vfs.NewMem(), Options{})
	defer s.Close()
	w := Writer{Store: s, Batch: NewBatch()}
	if err := w.TruncateLog(1, storage.LogPoint{Index: 1}); err == nil {
		t.Fatal("a truncation with no durable applied index known was staged")
	}
	w.Durable = func(g uint64) uint64 { return 3 }
	if err := w.TruncateLog(1, storage.LogPoint{Index: 4}); err == nil || !strings.Contains(err.Error(), "durable applied index 3") {
		t.Fatalf("truncation past the durable applied index: err %v", err)
	}
	if !w.Batch.Empty() {
		t.Fatal("a refused truncation staged an operation")
	}
	if err := w.TruncateLog(1, storage.LogPoint{Index: 3}); err != nil {
		t.Fatal(err)
	}
}

// TestWriterAppendSizes: AppendLog reports the slot sizes it added and
// the stored slots it replaced, as storage.AppendLog does.
func TestWriterAppendSizes(t *testing.T) {
	s := open(t, vfs.NewMem(), Options{})
	defer s.Close()
	w := Writer{Store: s, Batch: NewBatch()}
	enc := func(vs ...string) func(i int, dst []byte) []byte {
		return func(i int, dst []byte) []byte { return append(dst, vs[i]...) }
	}
	added, removed, err := w.AppendLog(1, 0, 1, 3, enc("aa", "bbb", "c"))
	if err != nil {
		t.Fatal(err)
	}
	want := storage.LogSlotSize(2) + storage.LogSlotSize(3) + storage.LogSlotSize(1)
	if added != want || removed != 0 {
		t.Fatalf("added %d removed %d, want %d 0", added, removed, want)
	}
	if err := s.Write(w.Batch, false); err != nil {
		t.Fatal(err)
	}
	added, removed, err = w.AppendLog(1, 3, 2, 1, enc("dddd"))
	if err != nil {
		t.Fatal(err)
	}
	if added != storage.LogSlotSize(4) || removed != storage.LogSlotSize(3)+storage.LogSlotSize(1) {
		t.Fatalf("tail replacement: added %d removed %d", added, removed)
	}
	if err := s.Write(w.Batch, false); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, s, 1); !slices.Equal(got, []string{"1=aa", "2=dddd"}) {
		t.Fatalf("log %q", got)
	}
}
