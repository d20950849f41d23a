package cluster

import (
	"strings"
	"testing"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/protobuf/proto"
)

func TestSettingsProtoRoundTrip(t *testing.T) {
	s := Settings{Partitions: 16, Replicas: 3, Engine: EnginePaxos, Hash: HashXXHash64, VNodes: 64, LoadFactor: 1.5}
	if got := SettingsOf(SettingsProto(s)); got != s {
		t.Fatalf("SettingsOf(SettingsProto(%+v)) = %+v", s, got)
	}
}

func TestMoveProtoPartition(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Move
		want *cairnv1.Move
	}{
		{"meta group", Move{Group: 0, Add: "n4"}, &cairnv1.Move{Group: 0, Partition: -1, Add: "n4"}},
		{"partition 7", Move{Group: 8, Add: "n4", Remove: "n2"}, &cairnv1.Move{Group: 8, Partition: 7, Add: "n4", Remove: "n2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MoveProto(tc.m); !proto.Equal(got, tc.want) {
				t.Fatalf("MoveProto(%v) = %v, want %v", tc.m, got, tc.want)
			}
		})
	}
	if got := MovesProto(nil); got == nil || len(got) != 0 {
		t.Fatalf("MovesProto(nil) = %#v, want an empty slice", got)
	}
}

func TestMemberProtoWeight(t *testing.T) {
	got := MemberProto(Member{Name: "n1", Addr: "h:1", Zone: "a"})
	want := &cairnv1.MemberInfo{Name: "n1", GrpcAddr: "h:1", Capacity: 1, Zone: "a", State: NodeUp}
	if !proto.Equal(got, want) {
		t.Fatalf("MemberProto = %v, want %v", got, want)
	}
}

func TestExplicitSettings(t *testing.T) {
	s := Settings{Partitions: 16, Replicas: 3, Engine: EnginePaxos, VNodes: 64, LoadFactor: 1.5}
	for _, tc := range []struct {
		name     string
		s        Settings
		explicit map[string]bool
		want     *cairnv1.ClusterSettings
		err      string
	}{
		{name: "none", s: s, want: &cairnv1.ClusterSettings{}},
		{name: "all", s: s, explicit: map[string]bool{FlagPartitions: true, FlagReplicas: true, FlagEngine: true, FlagVNodes: true, FlagLoadFactor: true},
			want: &cairnv1.ClusterSettings{Partitions: 16, Replicas: 3, Engine: EnginePaxos, Vnodes: 64, LoadFactor: 1.5}},
		{name: "engine only", s: s, explicit: map[string]bool{FlagEngine: true}, want: &cairnv1.ClusterSettings{Engine: EnginePaxos}},
		{name: "negative partitions", s: Settings{Partitions: -1}, explicit: map[string]bool{FlagPartitions: true}, err: "--partitions -1: must be positive"},
		{name: "negative replicas", s: Settings{Replicas: -2}, explicit: map[string]bool{FlagReplicas: true}, err: "--replicas -2: must be positive"},
		{name: "negative but not given", s: Settings{Replicas: -2}, want: &cairnv1.ClusterSettings{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExplicitSettings(tc.s, tc.explicit)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !proto.Equal(got, tc.want) {
				t.Fatalf("ExplicitSettings = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
