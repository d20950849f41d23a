package paxos

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

func TestBallotOrder(t *testing.T) {
	bs := []Ballot{
		{},
		{Round: 1, Replica: 1},
		{Round: 1, Replica: 2},
		{Round: 2, Replica: 1},
		{Epoch: 1, Round: 0, Replica: 1},
		{Epoch: 1, Round: 3, Replica: 7},
	}
	for i := range bs {
		for j := range bs {
			if got, want := bs[i].Less(bs[j]), i < j; got != want {
				t.Errorf("%v.Less(%v) = %v", bs[i], bs[j], got)
			}
			if got, want := bs[i].Int() < bs[j].Int(), i < j; got != want {
				t.Errorf("Int of %v < %v = %v", bs[i], bs[j], got)
			}
		}
	}
	if s := (Ballot{Epoch: 1, Round: 2, Replica: 3}).String(); s != "1.2.3" {
		t.Errorf("String = %q", s)
	}
}

func TestSlotCodec(t *testing.T) {
	for _, s := range []*slot{
		{},
		{ballot: Ballot{Round: 5, Replica: 2}, typ: driver.EntryNormal, data: []byte("hello")},
		{ballot: Ballot{Epoch: 3, Round: 1 << 40, Replica: 9}, typ: driver.EntryChange, data: encodeChange(driver.Change{Context: []byte("ctx"), Ops: []driver.ChangeOp{{Kind: driver.AddVoter, Replica: 4}}})},
	} {
		got, err := decodeSlot(encodeSlot(nil, s))
		if err != nil {
			t.Fatal(err)
		}
		if got.ballot != s.ballot || got.typ != s.typ || !bytes.Equal(got.data, s.data) {
			t.Errorf("round trip of %+v = %+v", s, got)
		}
	}
	for _, bad := range [][]byte{nil, {0}, {2, 0, 0, 0, 0}, {1, 0, 0}, {1, 0, 0, 0, 7}} {
		if _, err := decodeSlot(bad); !errors.Is(err, storage.ErrCorrupt) {
			t.Errorf("decodeSlot(%x) = %v, want ErrCorrupt", bad, err)
		}
	}
}

// TestSlotFormat pins the bytes on disk.
func TestSlotFormat(t *testing.T) {
	got := encodeSlot(nil, &slot{ballot: Ballot{Epoch: 1, Round: 2, Replica: 3}, typ: driver.EntryChange, data: []byte{9}})
	if want := []byte{1, 1, 2, 3, 1, 9}; !bytes.Equal(got, want) {
		t.Errorf("slot = %x, want %x", got, want)
	}
	hs := encodeHardState(hardState{promise: Ballot{Epoch: 1, Round: 2, Replica: 3}, commit: 4})
	want := []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4}
	if !bytes.Equal(hs, want) {
		t.Errorf("hard state = %x, want %x", hs, want)
	}
}

func TestHardStateCodec(t *testing.T) {
	hs := hardState{promise: Ballot{Epoch: 1, Round: 99, Replica: 4}, commit: 1234}
	got, err := decodeHardState(hardStateVersion, encodeHardState(hs))
	if err != nil || got != hs {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	if _, err := decodeHardState(2, encodeHardState(hs)); !errors.Is(err, storage.ErrCorrupt) {
		t.Errorf("wrong version: %v", err)
	}
	if _, err := decodeHardState(hardStateVersion, encodeHardState(hs)[1:]); !errors.Is(err, storage.ErrCorrupt) {
		t.Errorf("short: %v", err)
	}
}

func TestChangeCodec(t *testing.T) {
	c := driver.Change{Context: []byte("the frame"), Ops: []driver.ChangeOp{
		{Kind: driver.AddLearner, Replica: 5}, {Kind: driver.AddVoter, Replica: 4}, {Kind: driver.Remove, Replica: 1},
	}}
	got, err := decodeChange(encodeChange(c))
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	if _, err := decodeChange([]byte{1, 1, 9, 1}); err == nil {
		t.Error("unknown kind decoded")
	}
}

func sampleMessages() []*message {
	return []*message{
		{Type: msgPrePrepare, From: 1, To: 2, Ballot: Ballot{Round: 3, Replica: 1}, Commit: 10},
		{Type: msgPromise, Flags: flagMore, From: 2, To: 1, Ballot: Ballot{Round: 3, Replica: 1}, Index: 40, Commit: 12, Trunc: 10,
			Slots: []wireSlot{{Index: 11, Ballot: Ballot{Round: 2, Replica: 2}, Chosen: true, Data: []byte("a")}, {Index: 13, Type: driver.EntryChange, Data: []byte{1, 0}}}},
		{Type: msgAccepted, From: 3, To: 1, Ballot: Ballot{Epoch: 1, Round: 1, Replica: 1}, Acks: []uint64{5, 6, 9, 1 << 50}, Commit: 4, Index: 4},
		{Type: msgHeartbeatResp, Flags: flagCurrent, Seq: 77, Commit: 3},
		{Type: msgReadIndexResp, Ctx: []byte("ctx"), Index: 5},
		{Type: msgSnapshot, From: 1, To: 4, Index: 100, Term: 7, Config: driver.Conf{Voters: []replica.ReplicaID{1, 2, 3}, Learners: []replica.ReplicaID{4}}},
	}
}

func TestMessageCodec(t *testing.T) {
	for _, m := range sampleMessages() {
		b := encodeMessage(m)
		got, err := decodeMessage(b)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		want := *m
		if len(want.Config.Voters)+len(want.Config.Learners) > 0 {
			want.Flags |= flagHasConfig
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("round trip\n got %+v\nwant %+v", got, &want)
		}
		// Every strict prefix is malformed, never a panic.
		for i := range b {
			if _, err := decodeMessage(b[:i]); err == nil {
				t.Errorf("%v: prefix of %d bytes decoded", m.Type, i)
			}
		}
	}
	for _, bad := range [][]byte{nil, {2, 1, 0}, {1, 0, 0}, {1, byte(msgTypeMax), 0}, {1, 1, 0x80}} {
		if _, err := decodeMessage(bad); err == nil {
			t.Errorf("decodeMessage(%x) succeeded", bad)
		}
	}
}

func TestSnapshotMessage(t *testing.T) {
	msg := encodeMessage(&message{Type: msgSnapshot, From: 1, To: 3, Index: 5})
	at := driver.SnapshotPoint{Index: 42, Term: 9, Conf: driver.Conf{Voters: []replica.ReplicaID{1, 3}}}
	out, err := Engine{}.SnapshotMessage(msg, at)
	if err != nil {
		t.Fatal(err)
	}
	got, from, to, err := Engine{}.DecodeSnapshot(out)
	if err != nil || from != 1 || to != 3 || !reflect.DeepEqual(got, at) {
		t.Fatalf("DecodeSnapshot = %+v %d %d %v", got, from, to, err)
	}
	if _, err := (Engine{}).SnapshotMessage(encodeMessage(&message{Type: msgAccept}), at); err == nil {
		t.Error("rewrote an accept")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(encodeMessage(m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		m2, err := decodeMessage(encodeMessage(m))
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decode: %v\n%+v\n%+v", err, m, m2)
		}
	})
}

func FuzzDecodeSlot(f *testing.F) {
	f.Add(encodeSlot(nil, &slot{ballot: Ballot{Round: 1, Replica: 1}, data: []byte("x")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeSlot(b); err == nil {
			if _, err := decodeSlot(encodeSlot(nil, s)); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = decodeHardState(hardStateVersion, b)
		_, _ = decodeChange(b)
	})
}

// TestSectionCodec: the descriptor's engine section (epoch, stop index)
// round-trips, is nil for the founding epoch, is never read as a joint
// configuration, and garbage is an error.
func TestSectionCodec(t *testing.T) {
	if b := encodeSection(0, 0); b != nil {
		t.Fatalf("epoch 0: %v, want nil", b)
	}
	for _, c := range [][2]uint64{{0, 0}, {1, 12}, {7, 1 << 40}} {
		b := encodeSection(c[0], c[1])
		e, s, err := decodeSection(b)
		if err != nil || e != c[0] || s != c[1] {
			t.Fatalf("%v: got %d %d %v", c, e, s, err)
		}
		if d := (replica.Descriptor{Engine: b}); len(d.Outgoing()) != 0 {
			t.Fatalf("%v: read as a joint configuration", c)
		}
	}
	for _, b := range [][]byte{{1}, {sectionPaxos}, {sectionPaxos, 2, 1, 1}, {sectionPaxos, sectionVersion, 1}, {sectionPaxos, sectionVersion, 1, 1, 0}} {
		if _, _, err := decodeSection(b); err == nil {
			t.Fatalf("%v decoded", b)
		}
	}
}
