package raftengine

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func snapHeaderSample(t testing.TB) []byte {
	m := &raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)),
		Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(42)), Term: new(uint64(7)),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return encodeSnapHeader(3, 1, 2, b)
}

func TestSnapHeaderRoundTrip(t *testing.T) {
	gid, from, to, msg, err := decodeSnapHeader(snapHeaderSample(t))
	if err != nil {
		t.Fatal(err)
	}
	if gid != 3 || from != 1 || to != 2 || msg.GetSnapshot().GetMetadata().GetIndex() != 42 {
		t.Fatalf("decoded %d %d %d %v", gid, from, to, msg)
	}
	if _, _, _, _, err := decodeSnapHeader(encodeSnapHeader(3, 1, 2, nil)); err == nil {
		t.Fatal("a header without a MsgSnap decoded")
	}
}

func TestChunkRoundTrip(t *testing.T) {
	var c []byte
	c = appendKV(c, []byte("a"), []byte("1"))
	c = appendKV(c, []byte("bb"), nil)
	kvs, err := decodeChunk(nil, c)
	if err != nil || len(kvs) != 2 || string(kvs[0][0]) != "a" || string(kvs[0][1]) != "1" || string(kvs[1][0]) != "bb" {
		t.Fatalf("decodeChunk = %q, %v", kvs, err)
	}
	if _, err := decodeChunk(nil, c[:len(c)-1]); err == nil {
		t.Fatal("a truncated chunk decoded")
	}
}

func FuzzDecodeSnapHeader(f *testing.F) {
	f.Add(snapHeaderSample(f))
	f.Fuzz(func(t *testing.T, b []byte) { _, _, _, _, _ = decodeSnapHeader(b) })
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add(appendKV(nil, []byte("k"), []byte("v")))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeChunk(nil, b) })
}
