package raftengine

import (
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A version 1 descriptor (what every data directory and founding record
// holds) in a joint configuration gives back Raft's whole ConfState, and
// a ConfState goes through a descriptor and back unchanged.
func TestConfStateThroughDescriptor(t *testing.T) {
	// Written by the binary before the engine section: group 7, voters
	// 1 2 5, learner 4, outgoing voters 1 2 3, learners next 3, auto-leave.
	const v1 = "\x01\a\x03\x06\x04\x01\x02n1\x00\x02\x02n2\x00\x04\x02n4\x01\x05\x02n5\x00\x03\x01\x02\x05\x01\x04\x03\x01\x02\x03\x01\x03\x01"
	want := &raftpb.ConfState{Voters: []uint64{1, 2, 5}, Learners: []uint64{4},
		VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}, AutoLeave: new(true)}
	d, err := replica.DecodeDescriptor([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ConfStateOf(d)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(cs, want) {
		t.Fatalf("ConfState of the v1 descriptor %v, want %v", cs, want)
	}
	if got := string(d.Encode(nil)); got != v1 {
		t.Fatalf("re-encoded %q, want %q", got, v1)
	}

	for _, cs := range []*raftpb.ConfState{
		want,
		{Voters: []uint64{1, 2, 3}, AutoLeave: new(false)},
		{Voters: []uint64{1, 4}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: new(false)},
	} {
		c := confOf(cs)
		d := replica.Descriptor{Group: 1, Voters: c.Voters, Learners: c.Learners, Engine: c.Engine}
		back, err := replica.DecodeDescriptor(d.Encode(nil))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ConfStateOf(back)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, cs) {
			t.Fatalf("through a descriptor: %v, want %v", got, cs)
		}
		if back.Joint() != (len(cs.VotersOutgoing) > 0) {
			t.Fatalf("Joint() = %v for %v", back.Joint(), cs)
		}
	}

	// Another engine's section is not Raft's.
	if _, err := ConfStateOf(replica.Descriptor{Engine: []byte{0x7f}}); err == nil {
		t.Fatal("read another engine's section as a ConfState")
	}
}
