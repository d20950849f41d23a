package runner

import (
	"testing"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

func TestMostLeader(t *testing.T) {
	info := func(leaders ...string) *pb.ClusterInfo {
		ci := &pb.ClusterInfo{}
		for i, l := range leaders {
			ci.Partitions = append(ci.Partitions, &pb.PartitionInfo{Partition: uint32(i), Leader: l})
		}
		return ci
	}
	for _, c := range []struct {
		leaders []string
		want    string
	}{
		{[]string{"n2", "n1", "n2", "n3"}, "n2"},
		{[]string{"n3", "n1", "", ""}, "n1"}, // a tie goes to the first name
		{[]string{"", ""}, ""},               // no leader known
		{nil, ""},
	} {
		if got := mostLeader(info(c.leaders...)); got != c.want {
			t.Errorf("mostLeader(%q) = %q, want %q", c.leaders, got, c.want)
		}
	}
}
