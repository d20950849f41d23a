package node

import (
	"context"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/transport"
)

// Leader balancing (DESIGN.md, Placement): a partition's preferred leader
// is the first node of its placement. A node leading a group whose
// preferred leader is another healthy voter hands leadership to it, so
// leaders spread as the ring spreads first replicas.

// preferredHealthyFor is how many balancing passes in a row the preferred
// replica must look healthy before leadership moves to it, so a node that
// flaps does not pull leadership back and forth.
const preferredHealthyFor = 2

// balanceLeaders runs every interval until the node stops.
func (n *Node) balanceLeaders(interval time.Duration) {
	healthy := map[replica.GroupID]int{} // consecutive passes the preferred replica looked healthy
	n.every(interval, false, func(context.Context) {
		if n.draining.Load() {
			return
		}
		for _, gid := range n.host.Groups() {
			to, ok := n.preferredTarget(gid)
			if !ok {
				delete(healthy, gid)
				continue
			}
			if healthy[gid]++; healthy[gid] < preferredHealthyFor {
				continue
			}
			delete(healthy, gid)
			g, ok := n.host.Group(gid)
			if !ok {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			err := g.TransferLeader(ctx, to)
			cancel()
			if err != nil {
				n.log.Debug("moving leadership to the preferred replica", "group", gid, "to", to, "err", err)
			} else {
				n.leaderMoves.Inc()
			}
		}
	})
}

// preferredTarget returns the preferred replica of group gid when this
// node leads the group, the preferred leader is another node, and that
// replica is a voter that is active and caught up.
func (n *Node) preferredTarget(gid replica.GroupID) (replica.ReplicaID, bool) {
	pref := n.preferredNode(gid)
	if pref == "" || pref == n.cfg.Name {
		return 0, false
	}
	if n.faults != nil && n.tr.IsCut(pref, transport.Outbound) {
		return 0, false
	}
	g, ok := n.host.Group(gid)
	if !ok {
		return 0, false
	}
	st := g.Status()
	if st.State != replica.StateLeader {
		return 0, false
	}
	m, ok := st.Descriptor.ReplicaOn(pref)
	if !ok || m.Role != replica.RoleVoter {
		return 0, false
	}
	pr, ok := st.Progress[m.ID]
	if !ok || !pr.Active || !pr.CaughtUp || pr.LagEntries > 0 {
		return 0, false
	}
	return m.ID, true
}

// TransferLeader hands partition p's leadership to the replica on node to
// and waits until it leads or ctx ends. This node must lead the partition.
func (n *Node) TransferLeader(ctx context.Context, p int, to string) error {
	if p < 0 || p >= n.Partitions() {
		return fmt.Errorf("%w: partition %d out of range", api.ErrInvalid, p)
	}
	gid := replica.GroupID(cluster.GroupOf(p))
	g, ok := n.host.Group(gid)
	if !ok {
		return fmt.Errorf("%w: node %s holds no replica of partition %d", api.ErrInvalid, n.cfg.Name, p)
	}
	m, ok := g.Status().Descriptor.ReplicaOn(to)
	if !ok {
		return fmt.Errorf("%w: node %s holds no replica of partition %d", api.ErrInvalid, to, p)
	}
	return g.TransferLeader(ctx, m.ID)
}
