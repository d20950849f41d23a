package ui

import (
	"testing"

	"github.com/cairnkv/cairn/internal/cluster"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

func TestRingOf(t *testing.T) {
	members := []cluster.Member{{Name: "a", Addr: "a:1"}, {Name: "b", Addr: "b:1"}, {Name: "c", Addr: "c:1"}}
	s := cluster.DefaultSettings(3)
	r, errText := RingOf(members, s)
	if errText != "" {
		t.Fatal(errText)
	}
	if len(r.Partitions) != s.Partitions || len(r.Points) == 0 {
		t.Fatalf("%d partitions (want %d), %d points", len(r.Partitions), s.Partitions, len(r.Points))
	}
	for _, p := range append([]RingPoint{}, r.Points...) {
		if p.Pos < 0 || p.Pos >= 1 {
			t.Fatalf("point at %v", p.Pos)
		}
	}
	for _, p := range r.Partitions {
		if len(p.Replicas) != s.Replicas {
			t.Fatalf("partition %d: replicas %v, want %d", p.Partition, p.Replicas, s.Replicas)
		}
	}
	if r, errText := RingOf(nil, s); errText == "" || r.Points == nil || r.Partitions == nil {
		t.Fatalf("no members: %+v %q", r, errText)
	}
}

func TestStatusOf(t *testing.T) {
	st := StatusOf(&cairnv1.StatusResponse{
		MetaLeader: "a", Epoch: 3,
		Nodes:    []*cairnv1.NodeStatus{{Member: &cairnv1.MemberInfo{Name: "a"}, Replicas: 5, LastHeardUnixNanos: 1e9}},
		InFlight: []*cairnv1.Move{{Group: 2, Partition: 1, Add: "b", Remove: "a"}},
	})
	if st.MetaLeader != "a" || st.Epoch != 3 || len(st.Nodes) != 1 || st.Nodes[0].Replicas != 5 || st.Nodes[0].LastHeard.Unix() != 1 {
		t.Fatalf("%+v", st)
	}
	if len(st.InFlight) != 1 || st.InFlight[0].Add != "b" || st.Queued == nil {
		t.Fatalf("moves %+v %+v", st.InFlight, st.Queued)
	}
}
