package raftengine

import (
	"errors"
	"testing"

	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/storage/logstore"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// logstoreLog is a Log whose log (entries, truncated state, hard state)
// lives in a logstore.Store and whose applied state and descriptor live in
// a store, as a node keeps them once its log moves out of Pebble (issue
// 17). Each write commits the store's batch, synced, before the log's:
// the state a snapshot or truncation relies on is durable first.
type logstoreLog struct {
	*Log
	store storage.Store
	ls    *logstore.Store
}

func newLogstoreLog(t testing.TB) logstoreLog {
	t.Helper()
	ls, err := logstore.Open("log", logstore.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	st := storage.NewMem()
	l, err := NewLogReading(st, logstore.Reader{Store: ls}, logTestGroup, logTestConfState)
	if err != nil {
		t.Fatal(err)
	}
	return logstoreLog{l, st, ls}
}

func (s logstoreLog) stage(f func(w storage.LogWriter, b storage.Batch) error) error {
	b := s.store.NewBatch()
	defer b.Close()
	w := logstore.Writer{Store: s.ls, Batch: logstore.NewBatch(), Durable: func(g uint64) uint64 {
		a, err := storage.ReadAppliedState(b, g)
		if err != nil {
			return 0
		}
		return a.Index
	}}
	if err := f(w, b); err != nil {
		return err
	}
	if err := b.Commit(true); err != nil {
		return err
	}
	return s.ls.Write(w.Batch, true)
}

func (s logstoreLog) append(ents []*raftpb.Entry) error {
	return s.stage(func(w storage.LogWriter, _ storage.Batch) error { return s.StageAppend(w, ents) })
}

func (s logstoreLog) setHardState(hs *raftpb.HardState) error {
	return s.stage(func(w storage.LogWriter, _ storage.Batch) error { return s.StageHardState(w, hs) })
}

func (s logstoreLog) compact(index uint64) error {
	return s.stage(func(w storage.LogWriter, b storage.Batch) error {
		term, err := s.Term(index)
		if err == nil {
			err = b.Set(storage.AppliedKey(logTestGroup), storage.EncodeAppliedState(nil, storage.AppliedState{Index: index, Term: term}))
		}
		if err != nil {
			return err
		}
		return s.StageTruncate(w, index)
	})
}

func (s logstoreLog) applySnapshot(meta *raftpb.SnapshotMetadata) error {
	return s.stage(func(w storage.LogWriter, b storage.Batch) error {
		if err := s.StageSnapshot(w, meta); err != nil {
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

// logstoreImpl is the Log over a log store among the implementations the
// raft.Storage contract tests run on (forEachLog).
var logstoreImpl = logImpl{"raftlog/logstore", func(t testing.TB) testLog { return newLogstoreLog(t) }}

// TestRaftLogTruncatePastDurable: over a log store, a truncation past the
// durable applied index (here what the store holds) is refused.
func TestRaftLogTruncatePastDurable(t *testing.T) {
	l := newLogstoreLog(t)
	setup3456(t, l) // applied = 3, the snapshot
	err := l.stage(func(w storage.LogWriter, _ storage.Batch) error { return l.StageTruncate(w, 4) })
	if err == nil {
		t.Fatal("truncate past the durable applied index succeeded")
	}
	wantLog(t, l, "3.3", "4.4", "5.5", "6.6")
}

// TestRaftLogReopenFromLogstore: a Log reopened over the same log store
// and store finds the state the first one wrote.
func TestRaftLogReopenFromLogstore(t *testing.T) {
	l := newLogstoreLog(t)
	setup3456(t, l)
	if err := l.setHardState(&raftpb.HardState{Term: new(uint64(6)), Vote: new(uint64(2)), Commit: new(uint64(5))}); err != nil {
		t.Fatal(err)
	}
	r, err := NewLogReading(l.store, logstore.Reader{Store: l.ls}, logTestGroup, logTestConfState)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := r.FirstIndex()
	last, _ := r.LastIndex()
	if first != 4 || last != 6 {
		t.Fatalf("reopened: first %d last %d, want 4 6", first, last)
	}
	for i, want := range map[uint64]uint64{3: 3, 4: 4, 5: 5, 6: 6} {
		if got, err := r.Term(i); err != nil || got != want {
			t.Fatalf("reopened: Term(%d) = %d, %v; want %d", i, got, err, want)
		}
	}
	ents, err := r.Entries(4, 7, 1<<20)
	if err != nil || len(ents) != 3 || ents[2].GetIndex() != 6 || string(ents[0].GetData()) != "entry 4.4" {
		t.Fatalf("reopened: Entries(4, 7) = %v, %v", ents, err)
	}
	hs, cs, err := r.InitialState()
	if err != nil || hs.GetTerm() != 6 || hs.GetVote() != 2 || hs.GetCommit() != 5 || len(cs.GetVoters()) != 3 {
		t.Fatalf("reopened: InitialState = %v, %v, %v", hs, cs, err)
	}
}

// TestRaftLogStateAheadOfLog: the start-up rule for a state machine ahead
// of its log (a crash kept the applied state and lost the log's unsynced
// tail, and the commit-only hard state lagged): the log counts as
// truncated at the applied point, the commit index is raised to it, and
// raft starts with that applied index.
func TestRaftLogStateAheadOfLog(t *testing.T) {
	l := newLogstoreLog(t)
	setup3456(t, l)
	if err := l.setHardState(&raftpb.HardState{Term: new(uint64(7)), Vote: new(uint64(1)), Commit: new(uint64(5))}); err != nil {
		t.Fatal(err)
	}
	// Entries 7 and 8 were applied; the log store lost them.
	b := l.store.NewBatch()
	if err := b.Set(storage.AppliedKey(logTestGroup), storage.EncodeAppliedState(nil, storage.AppliedState{Index: 8, Term: 7})); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	b.Close()

	r, err := NewLogReading(l.store, logstore.Reader{Store: l.ls}, logTestGroup, logTestConfState)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := r.FirstIndex()
	last, _ := r.LastIndex()
	if first != 9 || last != 8 {
		t.Fatalf("first %d last %d, want 9 8 (the log truncated at applied 8)", first, last)
	}
	if term, err := r.Term(8); err != nil || term != 7 {
		t.Fatalf("Term(8) = %d, %v; want 7", term, err)
	}
	if _, err := r.Entries(5, 7, 1<<20); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("Entries(5, 7): err %v, want ErrCompacted", err)
	}
	hs, _, err := r.InitialState()
	if err != nil || hs.GetCommit() != 8 || hs.GetTerm() != 7 || hs.GetVote() != 1 {
		t.Fatalf("InitialState = %v, %v; want term 7 vote 1 commit 8", hs, err)
	}
	rn, err := raft.NewRawNode(&raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: r, Applied: 8,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 16})
	if err != nil {
		t.Fatal(err)
	}
	if st := rn.Status(); st.GetCommit() != 8 || st.Applied != 8 {
		t.Fatalf("raft starts with commit %d applied %d, want 8 8", st.GetCommit(), st.Applied)
	}
	// The next append follows the applied point.
	if err := (logstoreLog{r, l.store, l.ls}).append(logEnts(9, 7)); err != nil {
		t.Fatal(err)
	}
	if last, _ := r.LastIndex(); last != 9 {
		t.Fatalf("last %d after appending 9", last)
	}
}
