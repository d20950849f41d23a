package rebalance

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/prometheus/client_golang/prometheus"
)

// leaderFake is n1 leading group 1, whose placement prefers n2: a voter,
// active and caught up unless a case changes it.
func leaderFake(change func(st *replica.Status, f *fakeNode)) (*fakeNode, *fakeGroup) {
	f := newFakeNode("n1", settings, members("n1", "n2", "n3")...)
	v, _ := f.View()
	pref := v.Target.Groups[1]
	// Name the replicas so that the placement's first node is on replica 2
	// and this node on replica 1.
	nodes := []string{"n1", pref[0]}
	for _, n := range pref {
		if !slices.Contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	st := replica.Status{Group: 1, Replica: 1, State: replica.StateLeader, LeaderNode: "n1", Descriptor: desc(1, 4, nodes...),
		Progress: map[replica.ReplicaID]replica.PeerProgress{
			1: {Active: true, CaughtUp: true}, 2: {Active: true, CaughtUp: true}, 3: {Active: true, CaughtUp: true}}}
	if change != nil {
		change(&st, f)
	}
	g := &fakeGroup{st: st}
	f.mu.groups[1] = g
	return f, g
}

// TestPreferredTarget is leader balancing's choice: the preferred leader's
// replica, only when this node leads, the preferred leader is another
// node, and its replica is a voter that is active, caught up and reachable.
func TestPreferredTarget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(st *replica.Status, f *fakeNode)
		want   bool
	}{
		{"healthy preferred voter", nil, true},
		{"not the leader", func(st *replica.Status, _ *fakeNode) { st.State = replica.StateFollower }, false},
		{"this node is preferred", func(st *replica.Status, f *fakeNode) { f.name = st.Descriptor.Replicas[1].Node }, false},
		{"preferred is a learner", func(st *replica.Status, _ *fakeNode) {
			st.Descriptor.Replicas[1].Role = replica.RoleLearner
			st.Descriptor.Voters = []replica.ReplicaID{1, 3}
			st.Descriptor.Learners = []replica.ReplicaID{2}
		}, false},
		{"preferred holds no replica", func(st *replica.Status, _ *fakeNode) {
			st.Descriptor = desc(1, 4, "n1", "x", "y")
		}, false},
		{"lagging", func(st *replica.Status, _ *fakeNode) {
			st.Progress[2] = replica.PeerProgress{Active: true, CaughtUp: true, LagEntries: 3}
		}, false},
		{"not caught up", func(st *replica.Status, _ *fakeNode) { st.Progress[2] = replica.PeerProgress{Active: true} }, false},
		{"inactive", func(st *replica.Status, _ *fakeNode) { st.Progress[2] = replica.PeerProgress{CaughtUp: true} }, false},
		{"no progress known", func(st *replica.Status, _ *fakeNode) { delete(st.Progress, 2) }, false},
		{"link cut", func(st *replica.Status, f *fakeNode) { f.mu.cut[st.Descriptor.Replicas[1].Node] = true }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := leaderFake(tc.change)
			r, _ := newTest(f)
			to, ok := r.preferredTarget(1)
			if ok != tc.want || ok && to != 2 {
				t.Fatalf("preferredTarget = %d, %v; want 2, %v", to, ok, tc.want)
			}
			if _, ok := r.preferredTarget(7); ok {
				t.Fatal("preferredTarget of a group this node holds no replica of is ok")
			}
		})
	}
}

// TestBalanceLeadersWaitsTwoPasses: leadership moves only after the
// preferred replica looked healthy two passes in a row.
func TestBalanceLeadersWaitsTwoPasses(t *testing.T) {
	f, g := leaderFake(nil)
	r, _ := newTest(f)
	healthy := map[replica.GroupID]int{}
	pass := func(healthyNow bool) {
		g.mu.Lock()
		g.st.Progress[2] = replica.PeerProgress{Active: true, CaughtUp: healthyNow}
		g.mu.Unlock()
		r.balanceLeadersOnce(context.Background(), time.Second, healthy)
	}
	transfers := func() []replica.ReplicaID { g.mu.Lock(); defer g.mu.Unlock(); return slices.Clone(g.transfers) }
	pass(true)
	pass(false) // flaps
	pass(true)
	if got := transfers(); len(got) != 0 {
		t.Fatalf("transfers %v after healthy, unhealthy, healthy; want none", got)
	}
	pass(true)
	if got := transfers(); !slices.Equal(got, []replica.ReplicaID{2}) {
		t.Fatalf("transfers %v after two healthy passes in a row; want [2]", got)
	}
	if got := counter(t, r, "cairn_leader_balance_transfers_total"); got != 1 {
		t.Fatalf("cairn_leader_balance_transfers_total = %v, want 1", got)
	}
}

// counter is the value of the counter name on r's registry.
func counter(t *testing.T, r *Rebalancer, name string) float64 {
	t.Helper()
	mfs, err := r.cfg.Registerer.(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
