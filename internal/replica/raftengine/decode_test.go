package raftengine

import (
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func snapMessageSample(t testing.TB) []byte {
	m := &raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)),
		Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(42)), Term: new(uint64(7)),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The snapshot message a stream's header carries: rewritten for the state
// streamed, and decoded by the receiver.
func TestSnapshotMessageRoundTrip(t *testing.T) {
	e := newCoreEngine(nil, rawOptions{})
	at := driver.SnapshotPoint{Index: 50, Term: 8, Conf: driver.Conf{Voters: []replica.ReplicaID{1, 2}, Learners: []replica.ReplicaID{4}}}
	msg, err := e.SnapshotMessage(snapMessageSample(t), at)
	if err != nil {
		t.Fatal(err)
	}
	got, from, to, err := e.DecodeSnapshot(msg)
	if err != nil {
		t.Fatal(err)
	}
	if from != 1 || to != 2 || got.Index != 50 || got.Term != 8 ||
		!slices.Equal(got.Conf.Voters, at.Conf.Voters) || !slices.Equal(got.Conf.Learners, at.Conf.Learners) {
		t.Fatalf("decoded %+v from %d to %d", got, from, to)
	}
	empty, _ := proto.Marshal(&raftpb.Message{Type: raftpb.MsgSnap.Enum()})
	if _, _, _, err := e.DecodeSnapshot(empty); err == nil {
		t.Fatal("a MsgSnap without a snapshot decoded")
	}
	app, _ := proto.Marshal(&raftpb.Message{Type: raftpb.MsgApp.Enum()})
	if _, _, _, err := e.DecodeSnapshot(app); err == nil {
		t.Fatal("a MsgApp decoded as a snapshot")
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(snapMessageSample(f))
	e := newCoreEngine(nil, rawOptions{})
	f.Fuzz(func(t *testing.T, b []byte) { _, _, _, _ = e.DecodeSnapshot(b) })
}
