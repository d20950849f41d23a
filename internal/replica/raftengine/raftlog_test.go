package raftengine

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

const logTestGroup = 7

// testLog is a raft.Storage with the writes raft's driver makes, so that the
// same contract tests run on raft.MemoryStorage and on Log.
type testLog interface {
	raft.Storage
	append(ents []*raftpb.Entry) error
	setHardState(hs *raftpb.HardState) error
	compact(index uint64) error
	applySnapshot(meta *raftpb.SnapshotMetadata) error
}

type memoryLog struct{ *raft.MemoryStorage }

func (m memoryLog) append(ents []*raftpb.Entry) error       { return m.Append(ents) }
func (m memoryLog) setHardState(hs *raftpb.HardState) error { return m.SetHardState(hs) }
func (m memoryLog) compact(index uint64) error              { return m.Compact(index) }
func (m memoryLog) applySnapshot(meta *raftpb.SnapshotMetadata) error {
	return m.ApplySnapshot(&raftpb.Snapshot{Metadata: proto.Clone(meta).(*raftpb.SnapshotMetadata)})
}

// storeLog is a Log whose writes are committed one batch each. The
// descriptor holds the ConfState as a marshalled proto (a stand-in for the
// engine's encoding).
type storeLog struct {
	*Log
	store storage.Store
}

func logTestConfState(v storage.View) (*raftpb.ConfState, error) {
	b, err := v.Get(storage.DescriptorKey(logTestGroup))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cs := new(raftpb.ConfState)
	return cs, proto.Unmarshal(b, cs)
}

func newStoreLog(t testing.TB, s storage.Store) storeLog {
	t.Helper()
	l, err := NewLog(s, logTestGroup, logTestConfState)
	if err != nil {
		t.Fatal(err)
	}
	return storeLog{l, s}
}

func (s storeLog) stage(f func(b storage.Batch) error) error {
	b := s.store.NewBatch()
	defer b.Close()
	if err := f(b); err != nil {
		return err
	}
	return b.Commit(true)
}

func (s storeLog) append(ents []*raftpb.Entry) error {
	return s.stage(func(b storage.Batch) error { return s.StageAppend(storage.LogOf(b), ents) })
}

func (s storeLog) setHardState(hs *raftpb.HardState) error {
	return s.stage(func(b storage.Batch) error { return s.StageHardState(storage.LogOf(b), hs) })
}

// compact applies up to index first: a Log never truncates past applied.
func (s storeLog) compact(index uint64) error {
	return s.stage(func(b storage.Batch) error {
		term, err := s.Term(index)
		if err == nil {
			err = b.Set(storage.AppliedKey(logTestGroup), storage.EncodeAppliedState(nil, storage.AppliedState{Index: index, Term: term}))
		}
		if err != nil {
			return err
		}
		return s.StageTruncate(storage.LogOf(b), index)
	})
}

// applySnapshot also writes what the state machine restores from a
// snapshot: the applied state and the descriptor.
func (s storeLog) applySnapshot(meta *raftpb.SnapshotMetadata) error {
	return s.stage(func(b storage.Batch) error {
		if err := s.StageSnapshot(storage.LogOf(b), meta); err != nil {
			return err
		}
		cs, err := proto.Marshal(raftpb.EnsureConfState(meta.GetConfState()))
		if err != nil {
			return err
		}
		if err := b.Set(storage.DescriptorKey(logTestGroup), cs); err != nil {
			return err
		}
		return b.Set(storage.AppliedKey(logTestGroup), storage.EncodeAppliedState(nil, storage.AppliedState{Index: meta.GetIndex(), Term: meta.GetTerm()}))
	})
}

type logImpl struct {
	name string
	open func(t testing.TB) testLog
}

var logImpls = []logImpl{
	{"memorystorage", func(testing.TB) testLog { return memoryLog{raft.NewMemoryStorage()} }},
	{"raftlog/mem", func(t testing.TB) testLog { return newStoreLog(t, storage.NewMem()) }},
	{"raftlog/pebble", func(t testing.TB) testLog { return newStoreLog(t, openLogPebble(t)) }},
}

func openLogPebble(t testing.TB) storage.Store {
	s, err := storage.OpenPebble("db", storage.PebbleOptions{FS: vfs.NewMem(), CacheSize: 1 << 20, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// forEachLog runs f on every implementation, the Log over a log store
// (raftlog_logstore_test.go) included.
func forEachLog(t *testing.T, f func(t *testing.T, l testLog)) {
	for _, impl := range append(logImpls[:len(logImpls):len(logImpls)], logstoreImpl) {
		t.Run(impl.name, func(t *testing.T) { f(t, impl.open(t)) })
	}
}

func logEnt(index, term uint64) *raftpb.Entry {
	return &raftpb.Entry{Index: new(index), Term: new(term), Type: raftpb.EntryType_EntryNormal.Enum(), Data: []byte(fmt.Sprintf("entry %d.%d", index, term))}
}

func logEnts(its ...uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := 0; i < len(its); i += 2 {
		out = append(out, logEnt(its[i], its[i+1]))
	}
	return out
}

// setup3456 gives the log raft's storage tests use: snapshot at {3,3}, then
// entries 4, 5, 6 at terms 4, 5, 6.
func setup3456(t *testing.T, l testLog) {
	t.Helper()
	meta := &raftpb.SnapshotMetadata{Index: new(uint64(3)), Term: new(uint64(3)), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}
	if err := l.applySnapshot(meta); err != nil {
		t.Fatal(err)
	}
	if err := l.append(logEnts(4, 4, 5, 5, 6, 6)); err != nil {
		t.Fatal(err)
	}
}

// logTerms is the log as "index.term" from FirstIndex-1 to LastIndex.
func logTerms(t *testing.T, l raft.Storage) []string {
	t.Helper()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	var out []string
	for i := first - 1; i <= last; i++ {
		term, err := l.Term(i)
		if err != nil {
			t.Fatalf("Term(%d): %v", i, err)
		}
		out = append(out, fmt.Sprintf("%d.%d", i, term))
	}
	if last >= first {
		es, err := l.Entries(first, last+1, 1<<62)
		if err != nil {
			t.Fatalf("Entries(%d, %d): %v", first, last+1, err)
		}
		if uint64(len(es)) != last+1-first {
			t.Fatalf("Entries(%d, %d) returned %d", first, last+1, len(es))
		}
		for i, e := range es {
			if e.GetIndex() != first+uint64(i) || !proto.Equal(e, logEnt(e.GetIndex(), e.GetTerm())) {
				t.Fatalf("entry %d = %v", first+uint64(i), e)
			}
		}
	}
	return out
}

func wantLog(t *testing.T, l raft.Storage, want ...string) {
	t.Helper()
	if got := logTerms(t, l); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log = %v, want %v", got, want)
	}
}

func TestLogInitialState(t *testing.T) {
	forEachLog(t, func(t *testing.T, l testLog) {
		hs, cs, err := l.InitialState()
		if err != nil || !raft.IsEmptyHardState(hs) || cs == nil || len(cs.GetVoters()) != 0 {
			t.Fatalf("InitialState = %v, %v, %v", hs, cs, err)
		}
		first, _ := l.FirstIndex()
		last, _ := l.LastIndex()
		if first != 1 || last != 0 {
			t.Fatalf("first %d last %d, want 1 0", first, last)
		}
		if term, err := l.Term(0); term != 0 || err != nil {
			t.Fatalf("Term(0) = %d, %v", term, err)
		}
		setup3456(t, l)
		want := &raftpb.HardState{Term: new(uint64(6)), Vote: new(uint64(2)), Commit: new(uint64(5))}
		if err := l.setHardState(want); err != nil {
			t.Fatal(err)
		}
		hs, cs, err = l.InitialState()
		if err != nil || !proto.Equal(hs, want) || fmt.Sprint(cs.GetVoters()) != "[1 2 3]" {
			t.Fatalf("InitialState = %v, %v, %v", hs, cs, err)
		}
	})
}

func TestLogEntries(t *testing.T) {
	size := func(es ...*raftpb.Entry) uint64 {
		var n uint64
		for _, e := range es {
			n += uint64(proto.Size(e))
		}
		return n
	}
	e4, e5, e6 := logEnt(4, 4), logEnt(5, 5), logEnt(6, 6)
	for _, tc := range []struct {
		name        string
		lo, hi, max uint64
		want        []*raftpb.Entry
		err         error
	}{
		{"below first", 2, 6, 1 << 62, nil, raft.ErrCompacted},
		{"at truncated", 3, 4, 1 << 62, nil, raft.ErrCompacted},
		{"one", 4, 5, 1 << 62, []*raftpb.Entry{e4}, nil},
		{"all", 4, 7, 1 << 62, []*raftpb.Entry{e4, e5, e6}, nil},
		{"middle", 5, 6, 1 << 62, []*raftpb.Entry{e5}, nil},
		{"max 0 gives one", 4, 7, 0, []*raftpb.Entry{e4}, nil},
		{"max one entry", 4, 7, size(e4), []*raftpb.Entry{e4}, nil},
		{"max just under two", 4, 7, size(e4, e5) - 1, []*raftpb.Entry{e4}, nil},
		{"max two", 4, 7, size(e4, e5), []*raftpb.Entry{e4, e5}, nil},
		{"max just under three", 4, 7, size(e4, e5, e6) - 1, []*raftpb.Entry{e4, e5}, nil},
		{"max three", 4, 7, size(e4, e5, e6), []*raftpb.Entry{e4, e5, e6}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachLog(t, func(t *testing.T, l testLog) {
				setup3456(t, l)
				got, err := l.Entries(tc.lo, tc.hi, tc.max)
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("got %d entries, want %d", len(got), len(tc.want))
				}
				for i := range got {
					if !proto.Equal(got[i], tc.want[i]) {
						t.Fatalf("entry %d = %v, want %v", i, got[i], tc.want[i])
					}
				}
			})
		})
	}
}

// TestRaftLogEntriesUnavailable: MemoryStorage panics on hi > last+1;
// Log answers ErrUnavailable.
func TestRaftLogEntriesUnavailable(t *testing.T) {
	for _, impl := range logImpls[1:] {
		t.Run(impl.name, func(t *testing.T) {
			l := impl.open(t)
			setup3456(t, l)
			if _, err := l.Entries(5, 8, 1<<62); !errors.Is(err, raft.ErrUnavailable) {
				t.Fatalf("Entries(5, 8) err = %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestLogTerm(t *testing.T) {
	for _, tc := range []struct {
		i, term uint64
		err     error
	}{
		{2, 0, raft.ErrCompacted},
		{3, 3, nil},
		{4, 4, nil},
		{5, 5, nil},
		{6, 6, nil},
		{7, 0, raft.ErrUnavailable},
	} {
		t.Run(fmt.Sprint(tc.i), func(t *testing.T) {
			forEachLog(t, func(t *testing.T, l testLog) {
				setup3456(t, l)
				term, err := l.Term(tc.i)
				if term != tc.term || !errors.Is(err, tc.err) {
					t.Fatalf("Term(%d) = %d, %v; want %d, %v", tc.i, term, err, tc.term, tc.err)
				}
			})
		})
	}
}

func TestLogFirstLastIndex(t *testing.T) {
	forEachLog(t, func(t *testing.T, l testLog) {
		setup3456(t, l)
		first, _ := l.FirstIndex()
		last, _ := l.LastIndex()
		if first != 4 || last != 6 {
			t.Fatalf("first %d last %d, want 4 6", first, last)
		}
		if err := l.append(logEnts(7, 6)); err != nil {
			t.Fatal(err)
		}
		if last, _ := l.LastIndex(); last != 7 {
			t.Fatalf("last %d, want 7", last)
		}
	})
}

func TestLogAppend(t *testing.T) {
	for _, tc := range []struct {
		name string
		app  []*raftpb.Entry
		want []string
	}{
		{"same", logEnts(4, 4, 5, 5, 6, 6), []string{"3.3", "4.4", "5.5", "6.6"}},
		{"conflict overwrites", logEnts(4, 6, 5, 6), []string{"3.3", "4.6", "5.6"}},
		{"conflict in the middle", logEnts(5, 7), []string{"3.3", "4.4", "5.7"}},
		{"extend", logEnts(4, 4, 5, 5, 6, 6, 7, 6), []string{"3.3", "4.4", "5.5", "6.6", "7.6"}},
		{"compacted prefix skipped", logEnts(2, 3, 3, 3, 4, 5), []string{"3.3", "4.5"}},
		{"all compacted", logEnts(2, 2, 3, 3), []string{"3.3", "4.4", "5.5", "6.6"}},
		{"append at end", logEnts(7, 5), []string{"3.3", "4.4", "5.5", "6.6", "7.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachLog(t, func(t *testing.T, l testLog) {
				setup3456(t, l)
				if err := l.append(tc.app); err != nil {
					t.Fatal(err)
				}
				wantLog(t, l, tc.want...)
				if sl, ok := l.(storeLog); ok { // and the same after a restart
					wantLog(t, newStoreLog(t, sl.store), tc.want...)
				}
			})
		})
	}
}

func TestRaftLogAppendErrors(t *testing.T) {
	l := newStoreLog(t, storage.NewMem())
	setup3456(t, l)
	if err := l.append(logEnts(8, 6)); err == nil {
		t.Fatal("append leaving a gap succeeded")
	}
	if err := l.append([]*raftpb.Entry{logEnt(7, 6), logEnt(9, 6)}); err == nil {
		t.Fatal("non-contiguous append succeeded")
	}
	wantLog(t, l, "3.3", "4.4", "5.5", "6.6")
}

func TestLogCompact(t *testing.T) {
	for _, tc := range []struct {
		index uint64
		err   error
		want  []string
	}{
		{2, raft.ErrCompacted, []string{"3.3", "4.4", "5.5", "6.6"}},
		{3, raft.ErrCompacted, []string{"3.3", "4.4", "5.5", "6.6"}},
		{4, nil, []string{"4.4", "5.5", "6.6"}},
		{5, nil, []string{"5.5", "6.6"}},
		{6, nil, []string{"6.6"}},
	} {
		t.Run(fmt.Sprint(tc.index), func(t *testing.T) {
			forEachLog(t, func(t *testing.T, l testLog) {
				setup3456(t, l)
				if err := l.compact(tc.index); !errors.Is(err, tc.err) {
					t.Fatalf("compact(%d) = %v, want %v", tc.index, err, tc.err)
				}
				wantLog(t, l, tc.want...)
				if _, err := l.Entries(3, 5, 1<<62); tc.index >= 3 && !errors.Is(err, raft.ErrCompacted) {
					t.Fatalf("Entries below first: %v", err)
				}
				if sl, ok := l.(storeLog); ok {
					wantLog(t, newStoreLog(t, sl.store), tc.want...)
				}
			})
		})
	}
}

func TestRaftLogTruncatePastApplied(t *testing.T) {
	for _, impl := range logImpls[1:] {
		t.Run(impl.name, func(t *testing.T) {
			l := impl.open(t).(storeLog)
			setup3456(t, l) // applied = 3, the snapshot
			err := l.stage(func(b storage.Batch) error { return l.StageTruncate(storage.LogOf(b), 4) })
			if err == nil {
				t.Fatal("truncate past applied succeeded")
			}
			if err := l.compact(7); err == nil {
				t.Fatal("truncate past last succeeded")
			}
			wantLog(t, l, "3.3", "4.4", "5.5", "6.6")
		})
	}
}

func TestLogApplySnapshot(t *testing.T) {
	cs := &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}
	meta := func(i, term uint64) *raftpb.SnapshotMetadata {
		return &raftpb.SnapshotMetadata{Index: new(i), Term: new(term), ConfState: cs}
	}
	forEachLog(t, func(t *testing.T, l testLog) {
		setup3456(t, l)
		if err := l.applySnapshot(meta(8, 7)); err != nil {
			t.Fatal(err)
		}
		wantLog(t, l, "8.7")
		if _, err := l.Entries(8, 9, 1<<62); !errors.Is(err, raft.ErrCompacted) {
			t.Fatalf("Entries(8, 9) err %v", err)
		}
		snap, err := l.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(snap.GetMetadata(), raftpb.EnsureSnapshotMetadata(meta(8, 7))) || len(snap.GetData()) != 0 {
			t.Fatalf("Snapshot = %v", snap)
		}
		if err := l.applySnapshot(meta(6, 6)); !errors.Is(err, raft.ErrSnapOutOfDate) {
			t.Fatalf("older snapshot: %v, want ErrSnapOutOfDate", err)
		}
		if err := l.append(logEnts(9, 7, 10, 7)); err != nil {
			t.Fatal(err)
		}
		wantLog(t, l, "8.7", "9.7", "10.7")
		if sl, ok := l.(storeLog); ok {
			wantLog(t, newStoreLog(t, sl.store), "8.7", "9.7", "10.7")
		}
	})
}

// TestRaftLogRestart: a new Log on the same store answers as the old.
func TestRaftLogRestart(t *testing.T) {
	for _, impl := range logImpls[1:] {
		t.Run(impl.name, func(t *testing.T) {
			l := impl.open(t).(storeLog)
			setup3456(t, l)
			if err := l.append(logEnts(7, 6, 8, 7, 9, 7)); err != nil {
				t.Fatal(err)
			}
			if err := l.append(logEnts(9, 8, 10, 8)); err != nil {
				t.Fatal(err)
			}
			if err := l.compact(5); err != nil {
				t.Fatal(err)
			}
			hs := &raftpb.HardState{Term: new(uint64(8)), Vote: new(uint64(1)), Commit: new(uint64(9))}
			if err := l.setHardState(hs); err != nil {
				t.Fatal(err)
			}
			r := newStoreLog(t, l.store)
			want := logTerms(t, l)
			wantLog(t, r, want...)
			h1, c1, _ := l.InitialState()
			h2, c2, _ := r.InitialState()
			if !proto.Equal(h1, h2) || !proto.Equal(c1, c2) {
				t.Fatalf("InitialState differs: %v %v vs %v %v", h1, c1, h2, c2)
			}
			s1, _ := l.Snapshot()
			s2, _ := r.Snapshot()
			if !proto.Equal(s1, s2) {
				t.Fatalf("Snapshot differs: %v vs %v", s1, s2)
			}
			if l.LogSize() == 0 || r.LogSize() == 0 {
				t.Fatalf("LogSize %d before, %d after restart", l.LogSize(), r.LogSize())
			}
			if a, b := l.LogSize(), r.LogSize(); a > 2*b || b > 2*a {
				t.Fatalf("LogSize estimate %d far from recount %d", a, b)
			}
		})
	}
}

// TestRaftLogStageMany stages several groups into one batch, as the driver
// does, and checks the cache answers before and the store after a crash.
func TestRaftLogStageMany(t *testing.T) {
	m := storage.NewMem()
	var logs []*Log
	b := m.NewBatch()
	for g := uint64(1); g <= 3; g++ {
		l, err := NewLog(m, g, func(storage.View) (*raftpb.ConfState, error) { return nil, nil })
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Bootstrap(b, 10, 5); err != nil {
			t.Fatal(err)
		}
		if err := l.StageAppend(storage.LogOf(b), logEnts(11, 6, 12, 6)); err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	b.Close()
	c := m.Crash()
	for _, l := range logs {
		r, err := NewLog(c, l.Group(), func(storage.View) (*raftpb.ConfState, error) { return nil, nil })
		if err != nil {
			t.Fatal(err)
		}
		wantLog(t, r, "10.5", "11.6", "12.6")
		hs, _, _ := r.InitialState()
		if hs.GetTerm() != 5 || hs.GetCommit() != 10 {
			t.Fatalf("hard state %v", hs)
		}
		snap, _ := r.Snapshot()
		if snap.GetMetadata().GetIndex() != 10 || snap.GetMetadata().GetTerm() != 5 {
			t.Fatalf("snapshot %v", snap)
		}
		b := c.NewBatch()
		if err := r.Bootstrap(b, 10, 5); err == nil {
			t.Fatal("second Bootstrap succeeded")
		}
		b.Close()
	}
}

// The entry cache answers exactly what the store holds: after appends that
// overwrite a tail, truncations and more than cacheMax entries, a Log
// reading through its cache and a fresh one reading Pebble agree.
func TestRaftLogCacheMatchesStore(t *testing.T) {
	s := storage.NewMem()
	l := newStoreLog(t, s)
	if err := l.stage(func(b storage.Batch) error { return l.Bootstrap(b, 10, 5) }); err != nil {
		t.Fatal(err)
	}
	var batch []*raftpb.Entry
	for i := uint64(11); i <= 1500; i++ {
		batch = append(batch, logEnt(i, 5))
		if len(batch) == 100 {
			if err := l.append(batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	if err := l.append(batch); err != nil {
		t.Fatal(err)
	}
	// A new leader overwrites the tail from 1400 at term 6.
	var tail []*raftpb.Entry
	for i := uint64(1400); i <= 1450; i++ {
		tail = append(tail, logEnt(i, 6))
	}
	if err := l.append(tail); err != nil {
		t.Fatal(err)
	}
	if err := l.stage(func(b storage.Batch) error {
		if err := b.Set(storage.AppliedKey(logTestGroup), storage.EncodeAppliedState(nil, storage.AppliedState{Index: 1420, Term: 6})); err != nil {
			return err
		}
		return l.StageTruncate(storage.LogOf(b), 700)
	}); err != nil {
		t.Fatal(err)
	}
	fresh := newStoreLog(t, s)
	for _, r := range [][2]uint64{{701, 702}, {701, 1451}, {1000, 1451}, {1399, 1401}, {1440, 1451}, {1450, 1451}} {
		for _, max := range []uint64{0, 200, math.MaxUint64} {
			got, err1 := l.Entries(r[0], r[1], max)
			want, err2 := fresh.Entries(r[0], r[1], max)
			if err1 != nil || err2 != nil || len(got) != len(want) {
				t.Fatalf("Entries(%d, %d, %d): cached %d entries (%v), store %d (%v)", r[0], r[1], max, len(got), err1, len(want), err2)
			}
			for i := range got {
				if !proto.Equal(got[i], want[i]) {
					t.Fatalf("Entries(%d, %d, %d)[%d]: cached %v, store %v", r[0], r[1], max, i, got[i], want[i])
				}
			}
		}
	}
	if _, err := l.Entries(700, 702, math.MaxUint64); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("Entries below the truncation: %v, want ErrCompacted", err)
	}
}
