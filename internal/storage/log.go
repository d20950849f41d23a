package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A group's log, whatever its engine, is kept under /u/<group>/ (keys.go):
//
//	/u/<group>/log/<index>   one slot: bytes only the engine reads
//	/u/<group>/truncated     the LogPoint before the first slot
//	/u/<group>/hardstate     the engine's hard state: a version byte, then bytes only the engine reads
//
// The functions below are the engine-neutral operations on those keys. They
// stage writes into a Batch the caller commits (so one batch, and one fsync,
// carries many groups' writes) and read from any View (so a read through a
// batch sees what it staged). They keep no state: an engine's adapter
// caches what it needs (the last index, the log's size) and passes it in.

// LogPoint is a position in a group's log: an index and the term (or
// ballot, or epoch: an engine's ordered integer) of the entry there. The
// truncated point is the entry before the first slot of the log; an empty
// log that was never truncated has the zero LogPoint.
type LogPoint struct{ Index, Term uint64 }

// logKeyLen is the length of every LogKey: "/u/", group, "/log/", index.
const logKeyLen = 3 + 8 + 5 + 8

// LogSlotSize is the size a slot holding valueLen bytes takes in the log
// (key and value), the unit in which AppendLog reports sizes and an
// engine accounts for its log's size.
func LogSlotSize(valueLen int) uint64 { return uint64(logKeyLen + valueLen) }

// logKeyBefore is the exclusive upper bound of group g's slots below end:
// LogKey(g, end), or the end of the log span when end is math.MaxUint64.
func logKeyBefore(g, end uint64) []byte {
	if end == math.MaxUint64 {
		_, e := LogSpan(g)
		return e
	}
	return LogKey(g, end)
}

// ReadTruncated reads group g's truncated point from v; a group that never
// truncated its log has the zero LogPoint.
func ReadTruncated(v View, g uint64) (LogPoint, error) {
	b, err := v.Get(TruncatedKey(g))
	if errors.Is(err, ErrNotFound) {
		return LogPoint{}, nil
	}
	if err != nil {
		return LogPoint{}, fmt.Errorf("storage: group %d: read truncated state: %w", g, err)
	}
	p, err := decodeTruncatedState(b)
	if err != nil {
		return LogPoint{}, fmt.Errorf("storage: group %d: %w", g, err)
	}
	return p, nil
}

// ScanLog calls f for each slot of group g with an index in [lo, hi), in
// index order, until f returns false or an error; lo 0 and hi
// math.MaxUint64 cover the whole log. value is valid only during the call.
// An error from f is returned as it is. Holes (a Paxos log may have them)
// are skipped: f sees the index of each slot.
func ScanLog(v View, g, lo, hi uint64, f func(index uint64, value []byte) (more bool, err error)) error {
	start, _ := LogSpan(g)
	if lo > 0 {
		start = LogKey(g, lo)
	}
	it, err := v.NewIter(start, logKeyBefore(g, hi))
	if err != nil {
		return fmt.Errorf("storage: group %d: read log: %w", g, err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		more, err := f(LogIndex(it.Key()), it.Value())
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("storage: group %d: read log: %w", g, err)
	}
	return nil
}

// ReadLogSlot returns a copy of slot index of group g, or an error wrapping
// ErrNotFound when the log has no such slot.
func ReadLogSlot(v View, g, index uint64) ([]byte, error) {
	b, err := v.Get(LogKey(g, index))
	if err != nil {
		return nil, fmt.Errorf("storage: group %d: read entry %d: %w", g, index, err)
	}
	return b, nil
}

// SetLogSlot stages value into slot index of group g, leaving every other
// slot as it is: a Paxos acceptor fills one slot, holes and all.
func SetLogSlot(b Batch, g, index uint64, value []byte) error {
	if err := b.Set(LogKey(g, index), value); err != nil {
		return fmt.Errorf("storage: group %d: stage entry %d: %w", g, index, err)
	}
	return nil
}

// AppendLog stages n values into the slots first, first+1, … of group g
// and replaces the tail of the log: the slots after the last of them, up to
// prevLast (the log's last index before the append, as the caller knows
// it), are deleted, as Raft's log matching requires. The value of slot
// first+i is what value(i, dst) appends to dst; dst is reused from one slot
// to the next (the batch copies each value), so that encoding a long append
// takes no more memory than its largest entry. AppendLog returns the bytes
// (LogSlotSize) of the slots written and of the slots in [first, prevLast]
// that they replaced or that were deleted, read through b, so that the
// caller can keep its account of the log's size. It does not check that
// the append leaves no gap after prevLast; that is the engine's rule.
func AppendLog(b Batch, g, prevLast, first uint64, n int, value func(i int, dst []byte) []byte) (added, removed uint64, err error) {
	if n <= 0 {
		return 0, 0, nil
	}
	last := first + uint64(n) - 1
	if first <= prevLast {
		// Overwriting a conflicting tail: measure what it held, through b,
		// which may hold earlier staged slots of this group.
		if removed, err = spanSize(b, LogKey(g, first), logKeyBefore(g, prevLast+1)); err != nil {
			return 0, 0, fmt.Errorf("storage: group %d: %w", g, err)
		}
		if last < prevLast {
			if err := b.DeleteRange(LogKey(g, last+1), logKeyBefore(g, prevLast+1)); err != nil {
				return 0, 0, fmt.Errorf("storage: group %d: delete stale tail: %w", g, err)
			}
		}
	}
	var buf []byte
	for i := range n {
		buf = value(i, buf[:0])
		if err := SetLogSlot(b, g, first+uint64(i), buf); err != nil {
			return 0, 0, err
		}
		added += LogSlotSize(len(buf))
	}
	return added, removed, nil
}

// spanSize is the size of the keys and values in [start, end) of v.
func spanSize(v View, start, end []byte) (uint64, error) {
	it, err := v.NewIter(start, end)
	if err != nil {
		return 0, err
	}
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		n += uint64(len(it.Key()) + len(it.Value()))
	}
	if err := it.Error(); err != nil {
		it.Close()
		return 0, err
	}
	return n, it.Close()
}

// TruncateLog stages the deletion of group g's slots up to and including
// to.Index and records to as the truncated point. It refuses to truncate
// past the group's applied index (read through b, so an applied state
// staged in b counts): an entry not yet applied is still needed. Whether to
// is after the current truncated point and within the log, and its term,
// are the caller's to know.
func TruncateLog(b Batch, g uint64, to LogPoint) error {
	applied, err := ReadAppliedState(b, g)
	if err != nil {
		return err
	}
	if to.Index > applied.Index {
		return fmt.Errorf("storage: group %d: truncate to %d past applied index %d", g, to.Index, applied.Index)
	}
	start, _ := LogSpan(g)
	if err := b.DeleteRange(start, logKeyBefore(g, to.Index+1)); err != nil {
		return fmt.Errorf("storage: group %d: truncate: %w", g, err)
	}
	if err := b.Set(TruncatedKey(g), encodeTruncatedState(nil, to)); err != nil {
		return fmt.Errorf("storage: group %d: truncate: %w", g, err)
	}
	return nil
}

// LogKeep says which slots of a log survive SetSnapshotPoint.
type LogKeep uint8

const (
	// KeepNone deletes the whole log: Raft's log restarts after a
	// snapshot, whose state may contradict any entry it holds.
	KeepNone LogKeep = iota
	// KeepAbove keeps the slots above the snapshot point: what a Paxos
	// acceptor accepted beyond the snapshot stays promised.
	KeepAbove
)

// SetSnapshotPoint stages at as group g's truncated point, so that the log
// continues after it, and deletes the slots keep does not keep (every slot
// at or below at.Index in any case). It writes nothing under /r/: the
// snapshot's replicated state, its applied state included, is restored
// into the same batch by the state machine.
func SetSnapshotPoint(b Batch, g uint64, at LogPoint, keep LogKeep) error {
	start, end := LogSpan(g)
	switch keep {
	case KeepNone:
	case KeepAbove:
		end = logKeyBefore(g, at.Index+1)
	default:
		return fmt.Errorf("storage: group %d: snapshot point keeping %d", g, keep)
	}
	if err := b.DeleteRange(start, end); err != nil {
		return fmt.Errorf("storage: group %d: clear log: %w", g, err)
	}
	if err := b.Set(TruncatedKey(g), encodeTruncatedState(nil, at)); err != nil {
		return fmt.Errorf("storage: group %d: stage snapshot: %w", g, err)
	}
	return nil
}

// ReadHardState reads group g's hard state: the version byte of the
// engine's encoding and the encoded state, opaque here. A group that has
// none yet gives an error wrapping ErrNotFound.
func ReadHardState(v View, g uint64) (version byte, state []byte, err error) {
	b, err := v.Get(HardStateKey(g))
	if err != nil {
		return 0, nil, fmt.Errorf("storage: group %d: read hard state: %w", g, err)
	}
	if version, state, err = splitHardState(b); err != nil {
		return 0, nil, fmt.Errorf("storage: group %d: %w", g, err)
	}
	return version, state, nil
}

// splitHardState splits a HardStateKey value into its version and state.
func splitHardState(b []byte) (byte, []byte, error) {
	if len(b) == 0 || b[0] == 0 {
		return 0, nil, fmt.Errorf("%w: hard state without a version", ErrCorrupt)
	}
	return b[0], b[1:], nil
}

// SetHardState stages group g's hard state: state, encoded by the engine
// in its version of the encoding (never 0, so that an empty or zeroed
// value is never taken for one). Stage it after the entries it covers, in
// the same batch: it must never be durable ahead of them.
func SetHardState(b Batch, g uint64, version byte, state []byte) error {
	if version == 0 {
		return fmt.Errorf("storage: group %d: hard state version 0", g)
	}
	v := make([]byte, 1+len(state))
	v[0] = version
	copy(v[1:], state)
	if err := b.Set(HardStateKey(g), v); err != nil {
		return fmt.Errorf("storage: group %d: stage hard state: %w", g, err)
	}
	return nil
}

// The truncated point's value (TruncatedKey): 1, index, term (8 bytes
// big-endian each).
const truncatedVersion = 1

func encodeTruncatedState(dst []byte, p LogPoint) []byte {
	dst = append(dst, truncatedVersion)
	dst = binary.BigEndian.AppendUint64(dst, p.Index)
	return binary.BigEndian.AppendUint64(dst, p.Term)
}

func decodeTruncatedState(b []byte) (LogPoint, error) {
	if len(b) != 17 || b[0] != truncatedVersion {
		return LogPoint{}, fmt.Errorf("%w: truncated state of %d bytes", ErrCorrupt, len(b))
	}
	return LogPoint{binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint64(b[9:])}, nil
}
