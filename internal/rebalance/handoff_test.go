package rebalance

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
)

// fakeLocal is a node's replicas for HandOff.
type fakeLocal map[replica.GroupID]*fakeGroup

func (l fakeLocal) Groups() []replica.GroupID {
	var out []replica.GroupID
	for gid := range l {
		out = append(out, gid)
	}
	slices.Sort(out)
	return out
}

func (l fakeLocal) Group(gid replica.GroupID) (Group, bool) {
	g, ok := l[gid]
	return g, ok
}

// HandOff moves each led group to its most caught-up other voter; a
// group it follows, or leads alone, or with only a learner, is left.
func TestHandOff(t *testing.T) {
	d := desc(1, 3, "n1", "n2", "n3")
	withLearner := desc(4, 2, "n1")
	withLearner.Replicas = append(withLearner.Replicas, replica.Member{ID: 2, Node: "n2", Role: replica.RoleLearner})
	withLearner.Learners = []replica.ReplicaID{2}
	progress := map[replica.ReplicaID]replica.PeerProgress{1: {Match: 90}, 2: {Match: 70}, 3: {Match: 80}}
	local := fakeLocal{
		1: {st: replica.Status{Group: 1, Replica: 1, State: replica.StateLeader, Descriptor: d, Progress: progress}},
		2: {st: replica.Status{Group: 2, Replica: 1, State: replica.StateFollower, Descriptor: d, Progress: progress}},
		3: {st: replica.Status{Group: 3, Replica: 1, State: replica.StateLeader, Descriptor: desc(3, 1, "n1"),
			Progress: map[replica.ReplicaID]replica.PeerProgress{1: {Match: 5}}}},
		4: {st: replica.Status{Group: 4, Replica: 1, State: replica.StateLeader, Descriptor: withLearner,
			Progress: map[replica.ReplicaID]replica.PeerProgress{1: {Match: 5}, 2: {Match: 5}}}},
	}
	HandOff(context.Background(), local, slog.Default())
	want := map[replica.GroupID][]replica.ReplicaID{1: {3}}
	for gid, g := range local {
		if !slices.Equal(g.transfers, want[gid]) {
			t.Errorf("group %d: transfers %v, want %v", gid, g.transfers, want[gid])
		}
	}
}
