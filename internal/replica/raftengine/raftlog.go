package raftengine

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/cairnkv/cairn/internal/storage"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Log is the raft.Storage of one group on a storage.Store: its log entries,
// hard state and truncated state under /u/<group>/, and the applied state
// under /r/<group>/applied (written by the state machine). It is built on
// storage's engine-neutral log operations; the encoding of raft's entries
// and hard state is this package's (logcodec.go).
//
// Writes are staged into a storage.Batch that the caller commits, so that
// one batch, and one fsync, carries many groups' writes. The staging
// methods update the in-memory cache (last index and term, truncated index
// and term, log size) at staging time: the caller must commit the batch
// before raft reads from this Log again (before the next Ready is handled,
// or anything else that reads it), and must treat a failed commit as fatal
// (fail-stop), since the cache then describes writes that never happened.
//
// Log is safe for concurrent use, but staging calls for one group must come
// from one goroutine, in the order raft hands out the writes.
type Log struct {
	store storage.Store
	// log reads the entries, truncated state and hard state: nil when
	// they are in store's keyspace (read then from store, or at open and
	// in InitialState from a store snapshot that also holds the applied
	// state).
	log   storage.LogReader
	group uint64
	// applied is the applied index the store held at open: InitialState
	// reports a commit index at least this high.
	applied   uint64
	confState func(storage.View) (*raftpb.ConfState, error)

	mu struct {
		sync.Mutex
		// Invariant: truncIndex <= lastIndex; the log holds exactly the
		// entries (truncIndex, lastIndex] once staged writes are committed.
		lastIndex, lastTerm   uint64
		truncIndex, truncTerm uint64
		logSize               uint64 // bytes of keys and values in the log
		// cache holds the most recently appended entries, contiguous from
		// index cacheFirst, as raft handed them over (raft never mutates
		// an entry after that). A leader reads back what it just appended to
		// send it to followers; from Pebble that was 12% of a loaded node's
		// CPU. Invariant: the cache is a suffix of (truncIndex, lastIndex].
		cache      []*raftpb.Entry
		cacheFirst uint64
	}
}

// cacheMax bounds the entries cached per group: enough for followers a
// little behind; a follower further behind reads from Pebble.
const cacheMax = 1024

var _ raft.Storage = (*Log)(nil)

// NewLog loads group's log state from store. confState reads the
// group's ConfState from its descriptor in a view (the engine owns that
// encoding); InitialState and Snapshot call it on a store snapshot that
// also holds the applied state, so the two agree.
//
// It scans the group's log once, to find the last index and to estimate
// LogSize, and fails if the log is not contiguous from the truncated index.
func NewLog(store storage.Store, group uint64, confState func(storage.View) (*raftpb.ConfState, error)) (*Log, error) {
	return NewLogReading(store, nil, group, confState)
}

// NewLogReading is NewLog with the log read through log (its entries,
// truncated state and hard state; the applied state and ConfState stay in
// store); nil log: in store's keyspace, as NewLog.
func NewLogReading(store storage.Store, log storage.LogReader, group uint64, confState func(storage.View) (*raftpb.ConfState, error)) (*Log, error) {
	l := &Log{store: store, log: log, group: group, confState: confState}
	snap := store.NewSnapshot()
	defer snap.Close()
	lr := log
	if lr == nil {
		lr = storage.ViewLog{View: snap}
	}
	trunc, err := lr.ReadTruncated(group)
	if err != nil {
		return nil, err
	}
	l.mu.truncIndex, l.mu.truncTerm = trunc.Index, trunc.Term
	l.mu.lastIndex, l.mu.lastTerm = trunc.Index, trunc.Term

	err = lr.ScanLog(group, 0, math.MaxUint64, func(index uint64, value []byte) (bool, error) {
		if index != l.mu.lastIndex+1 {
			return false, fmt.Errorf("%w: group %d: log entry %d follows %d", storage.ErrCorrupt, group, index, l.mu.lastIndex)
		}
		term, err := decodeEntryTerm(index, value)
		if err != nil {
			return false, fmt.Errorf("raftengine: group %d: %w", group, err)
		}
		l.mu.lastIndex, l.mu.lastTerm = index, term
		l.mu.logSize += storage.LogSlotSize(len(value))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// The state machine may be ahead of the log: entries are applied
	// while this node's own write of them is still being synced, and
	// with the log apart from the store (issue 17) a crash can keep the
	// applied state and lose the log's unsynced tail. The log then counts
	// as truncated at the applied point: raft asks a leader for what
	// follows (InitialState also raises the commit index to it). With
	// the log in the store's keyspace this never happens: the log batch
	// is ahead of the apply batch in the one WAL.
	applied, err := storage.ReadAppliedState(snap, group)
	if err != nil {
		return nil, err
	}
	l.applied = applied.Index
	if applied.Index > l.mu.lastIndex {
		l.mu.truncIndex, l.mu.truncTerm = applied.Index, applied.Term
		l.mu.lastIndex, l.mu.lastTerm = applied.Index, applied.Term
		l.mu.logSize = 0
	}
	return l, nil
}

// Group is the group this log belongs to.
func (l *Log) Group() uint64 { return l.group }

// InitialState implements raft.Storage. The HardState is nil if none was
// ever written; the ConfState is never nil.
func (l *Log) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	snap := l.store.NewSnapshot()
	defer snap.Close()
	var hs *raftpb.HardState
	lr := l.log
	if lr == nil {
		lr = storage.ViewLog{View: snap}
	}
	version, b, err := lr.ReadHardState(l.group)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, nil, err
	default:
		if hs, err = decodeHardState(version, b); err != nil {
			return nil, nil, fmt.Errorf("raftengine: group %d: %w", l.group, err)
		}
	}
	// Applied entries are committed whatever the hard state says: a
	// commit-only hard state is written without sync, so after a crash
	// it may lag the applied state, and raft refuses an applied index
	// above its commit (start-up rule: commit = max(hard state's, applied)).
	if hs != nil && hs.GetCommit() < l.applied {
		hs = &raftpb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(l.applied)}
	}
	cs, err := l.readConfState(snap)
	if err != nil {
		return nil, nil, err
	}
	return hs, cs, nil
}

func (l *Log) readConfState(v storage.View) (*raftpb.ConfState, error) {
	cs, err := l.confState(v)
	if err != nil {
		return nil, fmt.Errorf("raftengine: group %d: read conf state: %w", l.group, err)
	}
	return raftpb.EnsureConfState(cs), nil
}

// Entries implements raft.Storage: the entries [lo, hi), at least one, and
// no more than fit in maxSize bytes (by proto.Size, as raft counts).
func (l *Log) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	l.mu.Lock()
	trunc, last := l.mu.truncIndex, l.mu.lastIndex
	l.mu.Unlock()
	switch {
	case lo <= trunc:
		return nil, raft.ErrCompacted
	case hi > last+1 || lo > hi:
		return nil, raft.ErrUnavailable
	case lo == hi:
		return nil, nil
	}
	if ents, ok := l.cached(lo, hi, maxSize); ok {
		return ents, nil
	}
	n := hi - lo
	if n > 1024 {
		n = 1024
	}
	ents := make([]*raftpb.Entry, 0, n)
	var size uint64
	next := lo
	full := false
	err := l.reader().ScanLog(l.group, lo, hi, func(index uint64, value []byte) (bool, error) {
		if index != next {
			return false, nil // a hole: reported as unavailable below
		}
		e, err := decodeEntry(index, value, true)
		if err != nil {
			return false, fmt.Errorf("raftengine: group %d: %w", l.group, err)
		}
		size += uint64(proto.Size(e))
		if len(ents) > 0 && size > maxSize {
			full = true
			return false, nil
		}
		ents = append(ents, e)
		next++
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if full {
		return ents, nil
	}
	if next != hi {
		// NB: the cache promised these; either a staged append was not yet
		// committed (a caller bug) or they were truncated meanwhile.
		if len(ents) > 0 {
			return ents, nil
		}
		return nil, raft.ErrUnavailable
	}
	return ents, nil
}

// cached serves [lo, hi) from the cache when it holds all of it.
func (l *Log) cached(lo, hi, maxSize uint64) ([]*raftpb.Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first, end := l.mu.cacheFirst, l.mu.cacheFirst+uint64(len(l.mu.cache))
	if len(l.mu.cache) == 0 || lo < first || hi > end {
		return nil, false
	}
	src := l.mu.cache[lo-first : hi-first]
	var size uint64
	n := 0
	for i, e := range src {
		size += uint64(proto.Size(e))
		if i > 0 && size > maxSize {
			break
		}
		n++
	}
	return append([]*raftpb.Entry(nil), src[:n]...), true
}

// cacheAppendLocked records entries staged at ents[0].Index onward.
func (l *Log) cacheAppendLocked(ents []*raftpb.Entry) {
	first := ents[0].GetIndex()
	end := l.mu.cacheFirst + uint64(len(l.mu.cache))
	if len(l.mu.cache) == 0 || first < l.mu.cacheFirst || first > end {
		l.mu.cache, l.mu.cacheFirst = nil, first
	} else {
		l.mu.cache = l.mu.cache[:first-l.mu.cacheFirst] // drop an overwritten tail
	}
	l.mu.cache = append(l.mu.cache, ents...)
	if over := len(l.mu.cache) - cacheMax; over > 0 {
		l.mu.cache = append([]*raftpb.Entry(nil), l.mu.cache[over:]...)
		l.mu.cacheFirst += uint64(over)
	}
}

// cacheTruncateLocked drops cached entries at or below index.
func (l *Log) cacheTruncateLocked(index uint64) {
	if len(l.mu.cache) == 0 || index < l.mu.cacheFirst {
		return
	}
	drop := index - l.mu.cacheFirst + 1
	if drop >= uint64(len(l.mu.cache)) {
		l.mu.cache = nil
		return
	}
	l.mu.cache = l.mu.cache[drop:]
	l.mu.cacheFirst = index + 1
}

// Term implements raft.Storage, for i in [FirstIndex()-1, LastIndex()].
func (l *Log) Term(i uint64) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.termLocked(i)
}

// reader is where the log is read from now.
func (l *Log) reader() storage.LogReader {
	if l.log != nil {
		return l.log
	}
	return storage.ViewLog{View: l.store}
}

func (l *Log) termLocked(i uint64) (uint64, error) {
	switch {
	case i < l.mu.truncIndex:
		return 0, raft.ErrCompacted
	case i == l.mu.truncIndex:
		return l.mu.truncTerm, nil
	case i > l.mu.lastIndex:
		return 0, raft.ErrUnavailable
	case i == l.mu.lastIndex:
		return l.mu.lastTerm, nil
	}
	b, err := l.reader().ReadLogSlot(l.group, i)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, raft.ErrUnavailable
	}
	if err != nil {
		return 0, err
	}
	t, err := decodeEntryTerm(i, b)
	if err != nil {
		return 0, fmt.Errorf("raftengine: group %d: %w", l.group, err)
	}
	return t, nil
}

// LastIndex implements raft.Storage.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.lastIndex, nil
}

// FirstIndex implements raft.Storage.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.truncIndex + 1, nil
}

// Truncated returns the index and term of the entry before the first in the log.
func (l *Log) Truncated() (index, term uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.truncIndex, l.mu.truncTerm
}

// LogSize is the approximate size in bytes of the log since the truncated
// index (keys and values), for the truncation policy. It is tracked in
// memory and recounted by NewLog.
func (l *Log) LogSize() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.logSize
}

// Snapshot implements raft.Storage. It returns metadata only — Index and
// Term of the applied state and the ConfState, read from one store
// snapshot; the data is streamed separately by the engine.
func (l *Log) Snapshot() (*raftpb.Snapshot, error) {
	snap := l.store.NewSnapshot()
	defer snap.Close()
	applied, err := storage.ReadAppliedState(snap, l.group)
	if err != nil {
		return nil, err
	}
	cs, err := l.readConfState(snap)
	if err != nil {
		return nil, err
	}
	return &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
		ConfState: cs,
		Index:     new(applied.Index),
		Term:      new(applied.Term),
	}}, nil
}

// StageAppend writes ents into b, replacing any entries at or after the
// first of them and deleting any stale tail beyond the new last index.
// Entries at or below the truncated index are skipped. ents must be
// contiguous and must not leave a gap after the current last index.
func (l *Log) StageAppend(w storage.LogWriter, ents []*raftpb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	for i := 1; i < len(ents); i++ {
		if ents[i].GetIndex() != ents[i-1].GetIndex()+1 {
			return fmt.Errorf("raftengine: group %d: append of non-contiguous entries %d, %d", l.group, ents[i-1].GetIndex(), ents[i].GetIndex())
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if first := ents[0].GetIndex(); first <= l.mu.truncIndex {
		skip := l.mu.truncIndex + 1 - first
		if skip >= uint64(len(ents)) {
			return nil
		}
		ents = ents[skip:]
	}
	first, last := ents[0].GetIndex(), ents[len(ents)-1].GetIndex()
	if first > l.mu.lastIndex+1 {
		return fmt.Errorf("raftengine: group %d: append at %d leaves a gap after last index %d", l.group, first, l.mu.lastIndex)
	}
	added, removed, err := w.AppendLog(l.group, l.mu.lastIndex, first, len(ents), func(i int, dst []byte) []byte {
		return encodeEntry(dst, ents[i])
	})
	if err != nil {
		return err
	}
	l.mu.lastIndex, l.mu.lastTerm = last, ents[len(ents)-1].GetTerm()
	l.mu.logSize -= min(l.mu.logSize, removed)
	l.mu.logSize += added
	l.cacheAppendLocked(ents)
	return nil
}

// StageHardState writes hs into b. Stage it after the entries of the same
// Ready, in the same batch: it must never be durable ahead of them.
func (l *Log) StageHardState(w storage.LogWriter, hs *raftpb.HardState) error {
	var buf [hardStateLen]byte
	return w.SetHardState(l.group, hardStateVersion, encodeHardState(buf[:0], hs))
}

// StageTruncate deletes the entries up to and including index and records
// {index, term of index} as the truncated state. It refuses to truncate past
// the applied index (read through b, so an applied state staged in b
// counts) or past the last index; an index at or below the truncated index
// is an error wrapping raft.ErrCompacted.
func (l *Log) StageTruncate(w storage.LogWriter, index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if index <= l.mu.truncIndex {
		return fmt.Errorf("raftengine: group %d: truncate to %d, already truncated to %d: %w", l.group, index, l.mu.truncIndex, raft.ErrCompacted)
	}
	if index > l.mu.lastIndex {
		return fmt.Errorf("raftengine: group %d: truncate to %d past last index %d", l.group, index, l.mu.lastIndex)
	}
	// NB: the term is read from the store, not through w: what is
	// truncated was appended by an earlier, written round.
	term, err := l.termLocked(index)
	if err != nil {
		return fmt.Errorf("raftengine: group %d: term of %d: %w", l.group, index, err)
	}
	if err := w.TruncateLog(l.group, storage.LogPoint{Index: index, Term: term}); err != nil {
		return err
	}
	// Estimate what went by the average entry size rather than reading it.
	if n := l.mu.lastIndex - l.mu.truncIndex; n > 0 {
		l.mu.logSize -= min(l.mu.logSize, l.mu.logSize/n*(index-l.mu.truncIndex))
	}
	if index == l.mu.lastIndex {
		l.mu.logSize = 0
	}
	l.mu.truncIndex, l.mu.truncTerm = index, term
	l.cacheTruncateLocked(index)
	return nil
}

// StageSnapshot clears the whole log and sets the truncated state to the
// snapshot's index and term, so the log continues after it. It writes
// nothing under /r/: the snapshot's replicated state, including its applied
// state and descriptor, is restored into the same batch by the state
// machine; the HardState comes with the Ready. A snapshot that is not newer
// than the truncated index is an error wrapping raft.ErrSnapOutOfDate.
func (l *Log) StageSnapshot(w storage.LogWriter, meta *raftpb.SnapshotMetadata) error {
	index, term := meta.GetIndex(), meta.GetTerm()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.truncIndex != 0 && index <= l.mu.truncIndex {
		return fmt.Errorf("raftengine: group %d: snapshot at %d, truncated at %d: %w", l.group, index, l.mu.truncIndex, raft.ErrSnapOutOfDate)
	}
	if err := w.SetSnapshotPoint(l.group, storage.LogPoint{Index: index, Term: term}, storage.KeepNone); err != nil {
		return err
	}
	l.mu.truncIndex, l.mu.truncTerm = index, term
	l.mu.lastIndex, l.mu.lastTerm = index, term
	l.mu.logSize = 0
	l.mu.cache = nil
	return nil
}

// Bootstrap stages the initial state of a new group (notes/raft.md §2): an
// empty log truncated at {index, term}, HardState{Term: term, Commit: index}
// and storage.AppliedState{index, term}. CockroachDB uses index 10, term 5; a term
// above 0 matters, or a new leader appends at a term below the log's. The
// ConfState belongs in the descriptor, which the engine writes into the same
// batch. It fails if the group already has a hard state.
func (l *Log) Bootstrap(b storage.Batch, index, term uint64) error {
	if term == 0 {
		return fmt.Errorf("raftengine: group %d: bootstrap at term 0", l.group)
	}
	switch _, err := b.Get(storage.HardStateKey(l.group)); {
	case err == nil:
		return fmt.Errorf("raftengine: group %d: bootstrap: already has a hard state", l.group)
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("raftengine: group %d: bootstrap: %w", l.group, err)
	}
	if err := storage.SetSnapshotPoint(b, l.group, storage.LogPoint{Index: index, Term: term}, storage.KeepNone); err != nil {
		return err
	}
	if err := l.StageHardState(storage.LogOf(b), &raftpb.HardState{Term: new(term), Commit: new(index)}); err != nil {
		return err
	}
	if err := b.Set(storage.AppliedKey(l.group), storage.EncodeAppliedState(nil, storage.AppliedState{Index: index, Term: term})); err != nil {
		return fmt.Errorf("raftengine: group %d: bootstrap: %w", l.group, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.truncIndex, l.mu.truncTerm = index, term
	l.mu.lastIndex, l.mu.lastTerm = index, term
	l.mu.logSize = 0
	l.mu.cache = nil
	return nil
}
