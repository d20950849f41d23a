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
		Voters: []ReplicaID{1, 2, 5}, Learners: []ReplicaID{4}, VotersOutgoing: []ReplicaID{1, 2, 3},
		LearnersNext: nil, AutoLeave: true,
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
		"truncated":     enc[:len(enc)-3],
		"trailing":      append(append([]byte(nil), enc...), 0),
		"huge replicas": {descriptorVersion, 1, 1, 1, 0xff, 0xff, 0x03},
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
	f.Add([]byte{descriptorVersion})
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
