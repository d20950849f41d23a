package rebalance

import (
	"context"
	"slices"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	"google.golang.org/grpc/status"
)

// Repair of a replica that a consistency check found to differ from its
// group's majority (DESIGN.md, Engines). The engine stops it serving; it
// still replicates the log, and its state is wrong. Every interval its node
// asks the group's leader to remove it (Admin.ChangeReplicas, as the
// rebalancer's moves do, planned from its descriptor's version). The
// placement still names this node, so the meta leader's rebalancer then
// adds a new replica here, under a new replica ID, which catches up from a
// snapshot of the leader: the majority's state. Nothing acknowledged is
// lost: both steps are ordinary membership changes through the log.
//
// NB: removing a voter first leaves the group one voter short until the
// new one is promoted. A removal that would leave the group without a
// majority of live voters (a node down besides this one) waits.

// repairDiverged runs a repair pass every interval until ctx ends.
func (r *Rebalancer) repairDiverged(ctx context.Context, interval time.Duration) {
	r.every(ctx, interval, func(ctx context.Context) {
		if r.node.Draining() {
			return
		}
		for _, gid := range r.node.Groups() {
			r.repairGroup(ctx, gid)
		}
	})
}

// repairGroup asks gid's leader to remove the local replica when it
// differs from the majority.
func (r *Rebalancer) repairGroup(ctx context.Context, gid replica.GroupID) {
	n := r.node
	g, ok := n.Group(gid)
	if !ok {
		return
	}
	st := g.Status()
	if st.Diverged == 0 || st.LeaderNode == "" || st.LeaderNode == n.Name() {
		return // fine, or no leader yet, or still handing leadership away
	}
	d := st.Descriptor
	if desc, _, ok := n.Route(gid); ok && desc.Version > d.Version {
		return // the group moved on (perhaps without this replica): its removal reaches it by gossip
	}
	var voters []string
	after := d.Clone()
	after.Voters = slices.DeleteFunc(after.Voters, func(id replica.ReplicaID) bool { return id == st.Replica })
	for _, id := range after.Voters {
		if m, ok := d.Replica(id); ok {
			voters = append(voters, m.Node)
		}
	}
	if len(voters) == 0 {
		return // the only voter: nobody to rebuild it from (a check never finds one replica differing)
	}
	if sf := replica.LivenessOf(r.cfg.Settings.Engine)(after, r.liveNode); sf != nil {
		r.log.Warn("a replica that differs from its group's majority waits to be replaced: its removal would leave the group without a quorum of live voters",
			"group", gid, "partition", gid.Partition(), "replica", st.Replica, "lost", sf.Lost)
		return
	}
	p, err := n.Peer(st.LeaderNode)
	if err != nil {
		return
	}
	r.log.Warn("asking the leader to replace this replica, which differs from its group's majority",
		"group", gid, "partition", gid.Partition(), "replica", st.Replica, "diverged_at", st.Diverged, "leader", st.LeaderNode)
	cctx, cancel := context.WithTimeout(ctx, moveTimeout)
	defer cancel()
	_, err = p.ChangeReplicas(cctx, gid, voters, d.Version)
	if err != nil && ctx.Err() == nil {
		r.log.Info("replacing a replica that differs: removal did not finish; asked again", "group", gid, "err", status.Convert(err).Message())
	}
}

// liveNode says whether the member list has node up (or joining or
// draining): a voter there can take part in a quorum.
func (r *Rebalancer) liveNode(node string) bool {
	mv, ok := r.node.View()
	if !ok {
		return true // nothing known: the leader's change refuses what it must
	}
	m, ok := mv.Member(node)
	return ok && cluster.Live(m.StateOf())
}
