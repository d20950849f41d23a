package node

import (
	"fmt"
	"slices"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
)

// Cluster implements api.Backend: what this node knows (routing's
// ClusterView), with its own addresses as it serves them.
func (n *Node) Cluster() api.ClusterView {
	self := cluster.Advertised{GRPC: n.cfg.AdvertiseGRPC}
	if adv := n.advertised.Load(); adv != nil {
		self.HTTP, self.Redis = adv.HTTP, adv.Redis
	}
	return n.routing.ClusterView(self)
}

// Ready implements api.Backend (DESIGN.md, /readyz): storage open, every
// local replica knows its leader and has applied to within 100 entries of
// its commit, no consistency check found a local replica differs from its
// group's majority (or a group without one), the node is not removed from
// the cluster, the clock within bounds.
func (n *Node) Ready() []api.Check {
	checks := []api.Check{{Name: "storage", OK: true}}
	if _, err := n.store.Get([]byte("/n/identity")); err != nil {
		checks[0] = api.Check{Name: "storage", Reason: err.Error()}
	}
	caught := api.Check{Name: "caught-up", OK: true}
	consistent := api.Check{Name: "consistency", OK: true}
	ids := n.host.Groups()
	slices.Sort(ids)
	for _, gid := range ids {
		g, ok := n.host.Group(gid)
		if !ok {
			continue
		}
		st := g.Status()
		switch {
		case !consistent.OK:
		case st.Diverged != 0:
			consistent = api.Check{Name: "consistency", Reason: fmt.Sprintf("group %d replica %d differs from the majority at index %d (being rebuilt from a snapshot)",
				gid, st.Replica, st.Diverged)}
		case st.NoMajority != 0:
			consistent = api.Check{Name: "consistency", Reason: fmt.Sprintf("group %d: its replicas differ with no majority at index %d; writes refused",
				gid, st.NoMajority)}
		}
		if !caught.OK {
			continue
		}
		if st.Leader == 0 {
			caught = api.Check{Name: "caught-up", Reason: fmt.Sprintf("group %d has no known leader", gid)}
			continue
		}
		if st.Commit > st.Applied+100 {
			caught = api.Check{Name: "caught-up", Reason: fmt.Sprintf("group %d is %d entries behind", gid, st.Commit-st.Applied)}
		}
	}
	checks = append(checks, caught, consistent)
	member := api.Check{Name: "member", OK: true}
	if mv := n.routing.Meta(); mv != nil {
		if m, ok := mv.Member(n.cfg.Name); ok && m.StateOf() == cluster.NodeRemoved {
			member = api.Check{Name: "member", Reason: "this node was removed from the cluster (drained or removed); it holds no data and can be stopped"}
		}
	}
	checks = append(checks, member)
	clock := api.Check{Name: "clock", OK: n.tr.ClockHealthy()}
	if !clock.OK {
		clock.Reason = fmt.Sprintf("clock offset beyond --max-clock-offset %v from a majority of nodes", n.cfg.MaxClockOffset)
	}
	checks = append(checks, clock)
	if c := n.users.Check(); c != nil {
		checks = append(checks, *c)
	}
	// The HTTP door adds the "shutdown" check from Draining.
	return checks
}
