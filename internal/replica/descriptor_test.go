package replica

import (
	"reflect"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sampleDescriptor() Descriptor {
	return Descriptor{
		Group: 7, Version: 3, NextReplicaID: 6,
		Replicas: []Member{
			{ID: 1, Node: "n1"}, {ID: 2, Node: "n2"}, {ID: 4, Node: "n4", Role: RoleLearner}, {ID: 5, Node: "n5"},
		},
		Voters: []ReplicaID{1, 2, 5}, Learners: []ReplicaID{4},
		Engine: JointConf{Outgoing: []ReplicaID{1, 2, 3}, AutoLeave: true}.Section(),
	}
}

// goldenV1 is sampleDescriptor as every binary before the engine section
// encoded it (version 1, with the joint fields in the neutral encoding).
const goldenV1 = "\x01\a\x03\x06\x04\x01\x02n1\x00\x02\x02n2\x00\x04\x02n4\x01\x05\x02n5\x00\x03\x01\x02\x05\x01\x04\x03\x01\x02\x03\x00\x01"

// Old descriptors decode to the same meaning, and what a joint-consensus
// engine stores is still written byte for byte as before.
func TestDescriptorV1Golden(t *testing.T) {
	d, err := DecodeDescriptor([]byte(goldenV1))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, sampleDescriptor()) {
		t.Fatalf("golden v1:\n got %+v\nwant %+v", d, sampleDescriptor())
	}
	j, err := JointOf(d.Engine)
	if err != nil {
		t.Fatal(err)
	}
	if want := (JointConf{Outgoing: []ReplicaID{1, 2, 3}, AutoLeave: true}); !reflect.DeepEqual(j, want) {
		t.Fatalf("joint section %+v, want %+v", j, want)
	}
	if !d.Joint() || !reflect.DeepEqual(d.Outgoing(), []ReplicaID{1, 2, 3}) {
		t.Fatalf("Joint %v, Outgoing %v", d.Joint(), d.Outgoing())
	}
	if got := string(d.Encode(nil)); got != goldenV1 {
		t.Fatalf("re-encoded %q, want the same bytes %q", got, goldenV1)
	}
	// A single configuration: no engine section.
	simple := Descriptor{Group: 1, Version: 1, NextReplicaID: 2, Replicas: []Member{{ID: 1, Node: "a"}}, Voters: []ReplicaID{1}}
	if enc := simple.Encode(nil); enc[0] != descriptorV1 {
		t.Fatalf("a descriptor without engine section is encoded in version %d, want 1", enc[0])
	}
}

// An engine section that version 1 cannot hold is written in version 2
// and comes back as it was.
func TestDescriptorV2(t *testing.T) {
	d := sampleDescriptor()
	d.Engine = []byte{0x7f, 1, 2, 3} // another engine's section
	enc := d.Encode(nil)
	if enc[0] != descriptorV2 {
		t.Fatalf("encoded in version %d, want 2", enc[0])
	}
	got, err := DecodeDescriptor(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, d)
	}
	if got.Joint() || got.Outgoing() != nil {
		t.Fatal("another engine's section read as a joint configuration")
	}
	// Version 2 holding a joint section decodes like version 1.
	v2 := append([]byte{descriptorV2}, []byte(goldenV1)[1:len(goldenV1)-6]...)
	sec := sampleDescriptor().Engine
	v2 = append(append(v2, byte(len(sec))), sec...)
	got, err = DecodeDescriptor(v2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sampleDescriptor()) {
		t.Fatalf("v2 with a joint section:\n got %+v\nwant %+v", got, sampleDescriptor())
	}
}

func TestJointSection(t *testing.T) {
	if sec := (JointConf{}).Section(); sec != nil {
		t.Fatalf("zero JointConf section %v, want nil", sec)
	}
	for _, j := range []JointConf{
		{Outgoing: []ReplicaID{1, 2, 3}},
		{Outgoing: []ReplicaID{1, 2}, LearnersNext: []ReplicaID{2}, AutoLeave: true},
	} {
		got, err := JointOf(j.Section())
		if err != nil || !reflect.DeepEqual(got, j) {
			t.Fatalf("JointOf(%+v.Section()) = %+v, %v", j, got, err)
		}
	}
	for name, b := range map[string][]byte{
		"format":    {9, 0, 0, 0},
		"truncated": {sectionJoint, 2, 1},
		"trailing":  {sectionJoint, 0, 0, 0, 0},
	} {
		if _, err := JointOf(b); err == nil {
			t.Fatalf("%s: decoded garbage without an error", name)
		}
	}
}

func TestDescriptorRoundTrip(t *testing.T) {
	for name, d := range map[string]Descriptor{
		"empty":  {},
		"joint":  sampleDescriptor(),
		"simple": {Group: 1, Version: 1, NextReplicaID: 4, Replicas: []Member{{ID: 1, Node: "a"}}, Voters: []ReplicaID{1}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeDescriptor(d.Encode(nil))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, d) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, d)
			}
		})
	}
}

func TestDescriptorLookups(t *testing.T) {
	d := sampleDescriptor()
	if m, ok := d.Replica(4); !ok || m.Node != "n4" || m.Role != RoleLearner {
		t.Fatalf("Replica(4) = %+v, %v", m, ok)
	}
	if _, ok := d.Replica(3); ok {
		t.Fatal("Replica(3) found a replica that is not in Replicas")
	}
	if m, ok := d.ReplicaOn("n5"); !ok || m.ID != 5 {
		t.Fatalf("ReplicaOn(n5) = %+v, %v", m, ok)
	}
	if !d.Joint() {
		t.Fatal("a descriptor with outgoing voters is joint")
	}
	c := d.Clone()
	c.Replicas[0].Node = "changed"
	if d.Replicas[0].Node != "n1" {
		t.Fatal("Clone shares Replicas with the original")
	}
}

func TestDescriptorRejectsGarbage(t *testing.T) {
	enc := sampleDescriptor().Encode(nil)
	for name, b := range map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{9}, enc[1:]...),
		"v2 truncated":  {descriptorV2, 1, 1, 1, 0, 0, 0, 3, 0x7f},
		"truncated":     enc[:len(enc)-3],
		"trailing":      append(append([]byte(nil), enc...), 0),
		"huge replicas": {descriptorV1, 1, 1, 1, 0xff, 0xff, 0x03},
		"huge section":  {descriptorV2, 1, 1, 1, 0, 0, 0, 0xff, 0xff, 0x03, 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeDescriptor(b); err == nil {
				t.Fatal("decoded garbage without an error")
			}
		})
	}
}

func FuzzDecodeDescriptor(f *testing.F) {
	f.Add(sampleDescriptor().Encode(nil))
	f.Add([]byte(goldenV1))
	f.Add([]byte{descriptorV1})
	f.Add([]byte{descriptorV2, 1, 1, 1, 0, 0, 0, 3, 0x7f, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDescriptor(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to an equal descriptor.
		again, err := DecodeDescriptor(d.Encode(nil))
		if err != nil || !reflect.DeepEqual(again, d) {
			t.Fatalf("re-decoding %+v: %+v, %v", d, again, err)
		}
	})
}
