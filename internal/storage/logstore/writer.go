package logstore

import (
	"fmt"
	"math"

	"github.com/cairnkv/cairn/internal/storage"
)

// Writer is the storage.LogWriter of a log kept in a Store: an engine's
// Stage methods write through it into Batch, which its owner (the driver)
// writes with Store.Write once per round. A hard state is kept as
// storage.SetHardState frames it (a version byte, then the engine's
// bytes), so that reading it back gives what storage.ReadHardState gives.
//
// Truncation is refused past Durable(g), the group's durable applied
// index: what a synced state-machine write made durable (doc.go, What the
// caller must do). Durable is required: a Writer without it refuses every
// truncation rather than trust an in-memory applied index.
type Writer struct {
	Store   *Store
	Batch   *Batch
	Durable func(g uint64) uint64
}

var _ storage.LogWriter = Writer{}

// AppendLog implements storage.LogWriter: the slots first… replace the
// group's entries from first on. removed is the size of the stored slots
// in [first, prevLast] (entries staged earlier in the same batch are not
// counted: a round stages a group once).
func (w Writer) AppendLog(g, prevLast, first uint64, n int, value func(i int, dst []byte) []byte) (added, removed uint64, err error) {
	if n <= 0 {
		return 0, 0, nil
	}
	if first <= prevLast {
		removed = w.Store.spanSize(g, first, prevLast)
	}
	w.Batch.Append(g, first, n, func(i int, dst []byte) []byte {
		at := len(dst)
		dst = value(i, dst)
		added += storage.LogSlotSize(len(dst) - at)
		return dst
	})
	if err := w.Batch.err; err != nil {
		return 0, 0, err
	}
	return added, removed, nil
}

// SetLogSlot implements storage.LogWriter.
func (w Writer) SetLogSlot(g, index uint64, value []byte) error {
	w.Batch.Set(g, index, value)
	return w.Batch.err
}

// DeleteLogAfter implements storage.LogWriter.
func (w Writer) DeleteLogAfter(g, last uint64) error {
	if last == math.MaxUint64 {
		return nil
	}
	w.Batch.TruncateSuffix(g, last)
	return w.Batch.err
}

// TruncateLog implements storage.LogWriter, refused past Durable(g).
func (w Writer) TruncateLog(g uint64, to storage.LogPoint) error {
	if w.Durable == nil {
		return fmt.Errorf("logstore: group %d: truncate to %d with no durable applied index known", g, to.Index)
	}
	if d := w.Durable(g); to.Index > d {
		return fmt.Errorf("logstore: group %d: truncate to %d past the durable applied index %d", g, to.Index, d)
	}
	w.Batch.TruncatePrefix(g, to)
	return w.Batch.err
}

// SetSnapshotPoint implements storage.LogWriter. The snapshot's state
// must be durable in the state machine before this batch is written
// (doc.go): replay cannot redo it.
func (w Writer) SetSnapshotPoint(g uint64, at storage.LogPoint, keep storage.LogKeep) error {
	switch keep {
	case storage.KeepNone:
		w.Batch.TruncateSuffix(g, 0)
	case storage.KeepAbove:
	default:
		return fmt.Errorf("logstore: group %d: snapshot point keeping %d", g, keep)
	}
	w.Batch.TruncatePrefix(g, at)
	return w.Batch.err
}

// SetHardState implements storage.LogWriter.
func (w Writer) SetHardState(g uint64, version byte, state []byte) error {
	if version == 0 {
		return fmt.Errorf("logstore: group %d: hard state version 0", g)
	}
	v := make([]byte, 1+len(state))
	v[0] = version
	copy(v[1:], state)
	w.Batch.SetHardState(g, v)
	return w.Batch.err
}

// spanSize is the storage.LogSlotSize of group g's stored entries in
// [lo, hi].
func (s *Store) spanSize(g, lo, hi uint64) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	gs := s.mu.x.groups[g]
	if gs == nil {
		return 0
	}
	var n uint64
	for k := gs.search(lo); k < len(gs.entries) && gs.entries[k].index <= hi; k++ {
		n += storage.LogSlotSize(int(gs.entries[k].len))
	}
	return n
}

// Reader is the storage.LogReader of a log kept in a Store. It sees a
// Write as soon as Write returns.
type Reader struct{ Store *Store }

var _ storage.LogReader = Reader{}

// ReadTruncated implements storage.LogReader.
func (r Reader) ReadTruncated(g uint64) (storage.LogPoint, error) { return r.Store.Truncated(g), nil }

// ReadHardState implements storage.LogReader: the version byte and the
// engine's bytes, as Writer.SetHardState framed them.
func (r Reader) ReadHardState(g uint64) (byte, []byte, error) {
	b, ok := r.Store.HardState(g)
	if !ok {
		return 0, nil, fmt.Errorf("logstore: group %d: read hard state: %w", g, storage.ErrNotFound)
	}
	if len(b) == 0 || b[0] == 0 {
		return 0, nil, fmt.Errorf("logstore: group %d: %w: hard state without a version", g, storage.ErrCorrupt)
	}
	return b[0], b[1:], nil
}

// ScanLog implements storage.LogReader, reading the slots a bounded
// number of bytes at a time.
func (r Reader) ScanLog(g, lo, hi uint64, f func(index uint64, value []byte) (bool, error)) error {
	const chunk = 1 << 20
	lo = max(lo, r.Store.FirstIndex(g))
	var buf []Entry
	for lo < hi {
		var err error
		if buf, err = r.Store.Entries(g, lo, hi, chunk, buf[:0]); err != nil {
			return err
		}
		if len(buf) == 0 {
			return nil
		}
		for _, e := range buf {
			more, err := f(e.Index, e.Data)
			if err != nil || !more {
				return err
			}
		}
		lo = buf[len(buf)-1].Index + 1
	}
	return nil
}

// ReadLogSlot implements storage.LogReader.
func (r Reader) ReadLogSlot(g, index uint64) ([]byte, error) {
	if index < r.Store.FirstIndex(g) {
		return nil, fmt.Errorf("logstore: group %d: read entry %d: %w", g, index, storage.ErrNotFound)
	}
	es, err := r.Store.Entries(g, index, index+1, math.MaxUint64, nil)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("logstore: group %d: read entry %d: %w", g, index, storage.ErrNotFound)
	}
	return es[0].Data, nil
}
