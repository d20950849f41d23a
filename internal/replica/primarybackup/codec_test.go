package primarybackup

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
)

func TestRecordRoundTrip(t *testing.T) {
	for name, r := range map[string]Record{
		"zero":     {},
		"founding": {Epoch: 1, Primary: 1, Replicas: []replica.ReplicaID{1, 2, 3}, InSync: []replica.ReplicaID{1, 2, 3}, NextReplica: 4},
		"offsets": {Epoch: 7, Primary: 3, Replicas: []replica.ReplicaID{1, 2, 3}, InSync: []replica.ReplicaID{3},
			NextReplica: 9, Offsets: []Offset{{1, 10}, {3, 1 << 40}}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeRecord(EncodeRecord(r))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("round trip: got %+v, want %+v", got, r)
			}
		})
	}
}

func TestHardStateRoundTrip(t *testing.T) {
	hs := hardState{epoch: 4, commit: 99, truncHash: 0xdeadbeef, recVersion: 17,
		rec:     Record{Epoch: 4, Primary: 2, Replicas: []replica.ReplicaID{1, 2}, InSync: []replica.ReplicaID{2}, NextReplica: 3},
		history: []epochStart{{1, 11}, {3, 40}, {4, 90}}}
	got, err := decodeHardState(hardStateVersion, encodeHardState(hs))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, hs) {
		t.Fatalf("round trip: got %+v, want %+v", got, hs)
	}
	if _, err := decodeHardState(hardStateVersion+1, encodeHardState(hs)); err == nil {
		t.Fatal("an unknown hard state version decoded")
	}
	// Version 2 added the rebuild point; version 1 (without it) still reads.
	v1 := encodeHardState(hs) // rebuild 0: one trailing zero byte
	if got, err := decodeHardState(1, v1[:len(v1)-1]); err != nil || !reflect.DeepEqual(got, hs) {
		t.Fatalf("version 1: got %+v, %v", got, err)
	}
	hs.rebuild = 123
	if got, err := decodeHardState(hardStateVersion, encodeHardState(hs)); err != nil || got.rebuild != 123 {
		t.Fatalf("rebuild round trip: got %+v, %v", got, err)
	}
}

func TestEntryRoundTrip(t *testing.T) {
	e := &entry{epoch: 3, hash: chain(1, 3, 12, driver.EntryNormal, []byte("x")), typ: driver.EntryNormal, data: []byte("x")}
	got, err := decodeEntry(encodeEntry(nil, e))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip: got %+v, want %+v", got, e)
	}
}

func TestSectionRoundTrip(t *testing.T) {
	r := Record{Epoch: 5, Primary: 2, InSync: []replica.ReplicaID{1, 2}}
	got, err := decodeSection(encodeSection(r))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip: got %+v, want %+v", got, r)
	}
}

func TestChangeRoundTrip(t *testing.T) {
	for _, ce := range []changeEntry{
		{version: 7, rec: Record{Epoch: 2, Primary: 1, Replicas: []replica.ReplicaID{1, 2, 4}, InSync: []replica.ReplicaID{1, 2}, NextReplica: 5},
			change: driver.Change{Context: []byte("ctx"), Ops: []driver.ChangeOp{{Kind: driver.AddLearner, Replica: 4}}}},
		{version: 1, rec: Record{Epoch: 1, Primary: 1, Replicas: []replica.ReplicaID{1}, InSync: []replica.ReplicaID{1}}},
	} {
		got, err := decodeChange(encodeChange(ce))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, ce) {
			t.Fatalf("round trip: got %+v, want %+v", got, ce)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for name, m := range map[string]*message{
		"append": {Type: msgAppend, Epoch: 3, From: 1, To: 2, Version: 44,
			Record: Record{Epoch: 3, Primary: 1, Replicas: []replica.ReplicaID{1, 2}, InSync: []replica.ReplicaID{1, 2}, NextReplica: 3},
			Prev:   point{11, 2, 0xabc}, Commit: 11, Seq: 5,
			Entries: []wireEntry{{Epoch: 3, Hash: 1, Type: driver.EntryNormal, Data: []byte("a")}, {Epoch: 3, Hash: 2, Type: driver.EntryNormal, Data: []byte{}}}},
		"reject":   {Type: msgAppendResp, Epoch: 3, From: 2, To: 1, Reject: true, Index: 20, Last: point{18, 2, 7}},
		"snapshot": {Type: msgSnapshot, Epoch: 3, From: 1, To: 2, Index: 40, Term: 3, Conf: driver.Conf{Voters: []replica.ReplicaID{1, 2}, Engine: []byte{sectionPB, 1, 0, 0, 0}}},
		"store":    {Type: msgStore, Op: 9, Result: storeConflict, Version: 12, Value: []byte{1, 2}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := decodeMessage(encodeMessage(m))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

func TestDecodeRejectsTruncated(t *testing.T) {
	b := encodeMessage(&message{Type: msgAppend, Epoch: 2, From: 1, To: 2, Entries: []wireEntry{{Epoch: 2, Hash: 3, Data: []byte("abc")}}})
	for i := range len(b) {
		if _, err := decodeMessage(b[:i]); err == nil {
			t.Fatalf("a message cut to %d of %d bytes decoded", i, len(b))
		}
	}
}

// FuzzDecodeMessage: hostile bytes give an error or a message that
// encodes back to what decodes the same, never a panic.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(encodeMessage(&message{Type: msgAppend, Epoch: 2, From: 1, To: 2, Entries: []wireEntry{{Epoch: 2, Hash: 3, Data: []byte("abc")}}}))
	f.Add(encodeMessage(&message{Type: msgStore, Op: 1, Value: EncodeRecord(Record{Epoch: 1, Primary: 1})}))
	f.Add([]byte{msgVersion, byte(msgAppendResp)})
	f.Add(encodeMessage(&message{Type: msgTakeOver, Epoch: 1, From: 1, To: 2, Version: 3, Record: Record{Epoch: 2, Primary: 2}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		again, err := decodeMessage(encodeMessage(m))
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoded message differs:\n%+v\n%+v", again, m)
		}
	})
}

// FuzzDecodeStored: the record, an entry and the hard state from hostile
// bytes: an error, never a panic.
func FuzzDecodeStored(f *testing.F) {
	f.Add(EncodeRecord(Record{Epoch: 1, Primary: 1, Replicas: []replica.ReplicaID{1}}))
	f.Add(encodeEntry(nil, &entry{epoch: 1, data: []byte("x")}))
	f.Add(encodeHardState(hardState{epoch: 1, history: []epochStart{{1, 11}}}))
	f.Add(encodeChange(changeEntry{version: 2, rec: Record{Epoch: 1, Primary: 1}, change: driver.Change{Ops: []driver.ChangeOp{{Kind: driver.Remove, Replica: 3}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeRecord(b)
		_, _ = decodeEntry(b)
		_, _ = decodeHardState(hardStateVersion, b)
		_, _ = decodeSection(b)
		_, _ = decodeChange(b)
	})
}

func TestServes(t *testing.T) {
	for mode, ok := range map[replica.ReadMode]bool{replica.Linearizable: true, replica.Stale: true, replica.Follower: false} {
		err := Engine{}.Serves(mode)
		if (err == nil) != ok || err != nil && !errors.Is(err, replica.ErrUnsupported) {
			t.Errorf("Serves(%v) = %v, want ok=%v (or ErrUnsupported)", mode, err, ok)
		}
	}
}

func TestLiveness(t *testing.T) {
	d := replica.Descriptor{Voters: []replica.ReplicaID{1, 2, 3},
		Replicas: []replica.Member{{ID: 1, Node: "a"}, {ID: 2, Node: "b"}, {ID: 3, Node: "c"}}}
	for name, tc := range map[string]struct {
		live []string
		ok   bool
	}{
		"all":  {[]string{"a", "b", "c"}, true},
		"two":  {[]string{"a", "c"}, true},
		"one":  {[]string{"b"}, false},
		"none": {nil, false},
	} {
		t.Run(name, func(t *testing.T) {
			sf := Liveness(d, func(n string) bool { return slices.Contains(tc.live, n) })
			if (sf == nil) != tc.ok {
				t.Fatalf("Liveness with %v live: %+v, want ok=%v", tc.live, sf, tc.ok)
			}
		})
	}
}
