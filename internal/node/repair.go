package node

import (
	"context"
	"slices"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/metadata"
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

// repairDiverged runs every interval until the node stops.
func (n *Node) repairDiverged(interval time.Duration) {
	n.every(interval, false, func(ctx context.Context) {
		if n.draining.Load() {
			return
		}
		for _, gid := range n.host.Groups() {
			n.repairGroup(ctx, gid)
		}
	})
}

// repairGroup asks gid's leader to remove the local replica when it
// differs from the majority.
func (n *Node) repairGroup(ctx context.Context, gid replica.GroupID) {
	g, ok := n.host.Group(gid)
	if !ok {
		return
	}
	st := g.Status()
	if st.Diverged == 0 || st.LeaderNode == "" || st.LeaderNode == n.cfg.Name {
		return // fine, or no leader yet, or still handing leadership away
	}
	d := st.Descriptor
	if r, ok := n.route(gid); ok && r.Desc.Version > d.Version {
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
	if sf := replica.LivenessOf(n.id.Settings.Engine)(after, n.liveNode); sf != nil {
		n.log.Warn("a replica that differs from its group's majority waits to be replaced: its removal would leave the group without a quorum of live voters",
			"group", gid, "partition", gid.Partition(), "replica", st.Replica, "lost", sf.Lost)
		return
	}
	conn, err := n.conn(st.LeaderNode)
	if err != nil {
		return
	}
	n.log.Warn("asking the leader to replace this replica, which differs from its group's majority",
		"group", gid, "partition", gid.Partition(), "replica", st.Replica, "diverged_at", st.Diverged, "leader", st.LeaderNode)
	cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, forwardClusterHeader, n.id.ClusterID.String()), moveTimeout)
	defer cancel()
	_, err = cairnv1.NewAdminClient(conn).ChangeReplicas(cctx, &cairnv1.ChangeReplicasRequest{Group: uint64(gid), Voters: voters,
		ExpectedVersion: d.Version})
	if err != nil && ctx.Err() == nil {
		n.log.Info("replacing a replica that differs: removal did not finish; asked again", "group", gid, "err", status.Convert(err).Message())
	}
}

// liveNode says whether the member list has node up (or joining or
// draining): a voter there can take part in a quorum.
func (n *Node) liveNode(node string) bool {
	mv := n.metaView()
	if mv == nil {
		return true // nothing known: the leader's change refuses what it must
	}
	m, ok := mv.Member(node)
	return ok && cluster.Live(m.StateOf())
}
