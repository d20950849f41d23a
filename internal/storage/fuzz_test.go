package storage

import (
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func FuzzDecodeAppliedState(f *testing.F) {
	f.Add(EncodeAppliedState(nil, AppliedState{Index: 10, Term: 5, GroupTime: -1}))
	f.Add([]byte{})
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeAppliedState(b)
		if err != nil {
			return
		}
		if got := EncodeAppliedState(nil, s); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding %x gave %x", b, got)
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(uint64(1), encodeEntry(nil, ent(1, 2)))
	f.Add(uint64(3), encodeEntry(nil, &pb.Entry{Index: new(uint64(3))}))
	f.Add(uint64(3), encodeEntry(nil, &pb.Entry{Term: new(uint64(1 << 60)), Type: pb.EntryType(-1).Enum(), Data: []byte{}}))
	f.Add(uint64(0), []byte{1, 7, 0xff})
	f.Fuzz(func(t *testing.T, index uint64, b []byte) {
		e, err := decodeEntry(index, b, false)
		term, terr := decodeEntryTerm(index, b)
		if err != nil {
			return
		}
		if terr != nil || term != e.GetTerm() {
			t.Fatalf("decodeEntryTerm = %d, %v; entry term %d", term, terr, e.GetTerm())
		}
		if e.GetIndex() != index {
			t.Fatalf("index %d, want %d", e.GetIndex(), index)
		}
		again, err := decodeEntry(index, encodeEntry(nil, e), true)
		if err != nil || !proto.Equal(again, e) {
			t.Fatalf("round trip of %v: %v, %v", e, again, err)
		}
	})
}

func FuzzDecodeHardState(f *testing.F) {
	f.Add(byte(hardStateVersion), encodeHardState(nil, &pb.HardState{Term: new(uint64(5)), Commit: new(uint64(10))}))
	f.Add(byte(1), []byte{})
	f.Fuzz(func(t *testing.T, version byte, b []byte) {
		hs, err := decodeHardState(version, b)
		if err != nil {
			return
		}
		if got := encodeHardState(nil, hs); version != hardStateVersion || !bytes.Equal(got, b) {
			t.Fatalf("re-encoding %d %x gave %d %x", version, b, hardStateVersion, got)
		}
	})
}

func FuzzDecodeTruncatedState(f *testing.F) {
	f.Add(encodeTruncatedState(nil, LogPoint{10, 5}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeTruncatedState(b)
		if err != nil {
			return
		}
		if got := encodeTruncatedState(nil, s); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding %x gave %x", b, got)
		}
	})
}

func TestAppliedStateRoundTrip(t *testing.T) {
	for _, s := range []AppliedState{{}, {Index: 10, Term: 5, GroupTime: 1234}, {Index: 1<<64 - 1, Term: 1, GroupTime: -5}} {
		got, err := DecodeAppliedState(EncodeAppliedState([]byte("prefix")[6:], s))
		if err != nil || got != s {
			t.Fatalf("round trip of %+v: %+v, %v", s, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {1}, append([]byte{2}, make([]byte, 24)...), make([]byte, 26)} {
		if _, err := DecodeAppliedState(bad); err == nil {
			t.Fatalf("DecodeAppliedState(%x) succeeded", bad)
		}
	}
}

func FuzzSplitHardState(f *testing.F) {
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		version, state, err := splitHardState(b)
		if err != nil {
			return
		}
		if version == 0 || !bytes.Equal(append([]byte{version}, state...), b) {
			t.Fatalf("split %x into %d %x", b, version, state)
		}
	})
}
