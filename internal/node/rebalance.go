package node

import (
	"context"
	"fmt"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/rebalance"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/metadata"
)

// The rebalancer, the failure detector, leader balancing, the repair of
// diverged replicas and unsafe recovery live in internal/rebalance; this
// file is their wiring: rebalanceNode is the node as they see it.

// newRebalancer makes the node's rebalancer (registering its metrics).
func newRebalancer(n *Node) *rebalance.Rebalancer {
	return rebalance.New(rebalance.Config{
		Node: rebalanceNode{n},
		// NB: the node's own clock, not the fault-injected one: the
		// failure detector measures elapsed time, which a skewed wall
		// clock (the clock nemesis) must not move.
		Clock:                 n.cfg.Clock,
		Logger:                n.log,
		Registerer:            n.registry,
		Settings:              n.id.Settings,
		DeadAfter:             n.cfg.DeadAfter,
		MaxConcurrentMoves:    n.cfg.MaxConcurrentMoves,
		RequestTimeout:        n.cfg.RequestTimeout,
		RebalanceInterval:     n.cfg.RebalanceInterval,
		LeaderBalanceInterval: n.cfg.LeaderBalanceInterval,
		RepairInterval:        n.cfg.RepairInterval,
	})
}

// runRebalancer runs the rebalancer's loops until the node stops; the
// caller counted it in n.wg.
func (n *Node) runRebalancer() {
	defer n.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	n.rebalancer.Run(ctx)
}

// rebalanceNode implements rebalance.Node over the node.
type rebalanceNode struct{ n *Node }

func (a rebalanceNode) Name() string    { return a.n.cfg.Name }
func (a rebalanceNode) Draining() bool  { return a.n.draining.Load() }
func (a rebalanceNode) LeadsMeta() bool { return a.n.leadsMeta() }
func (a rebalanceNode) RefreshMeta()    { a.n.refreshMeta() }

func (a rebalanceNode) ReadMeta(ctx context.Context) (cluster.Meta, bool, error) {
	g, ok := a.n.host.Group(0)
	if !ok {
		return cluster.Meta{}, false, nil
	}
	var meta cluster.Meta
	err := g.Read(ctx, replica.Linearizable, func(v storage.View) error {
		var err error
		meta, err = cluster.ReadMeta(v)
		return err
	})
	return meta, true, err
}

func (a rebalanceNode) ChangeMeta(ctx context.Context, change func(cluster.Meta) ([]cluster.Member, error)) (cluster.Meta, error) {
	return a.n.changeMeta(ctx, change)
}

func (a rebalanceNode) View() (rebalance.View, bool) {
	mv := a.n.metaView()
	if mv == nil {
		return rebalance.View{}, false
	}
	return rebalance.View{Epoch: mv.Epoch, Members: mv.Members, Target: mv.Target, Err: mv.Err}, true
}

func (a rebalanceNode) Descriptors() ([]replica.Descriptor, int) { return a.n.descriptorsKnown() }

func (a rebalanceNode) Route(gid replica.GroupID) (replica.Descriptor, string, bool) {
	r, ok := a.n.route(gid)
	return r.Desc, r.Leader, ok
}

func (a rebalanceNode) Groups() []replica.GroupID { return a.n.host.Groups() }

func (a rebalanceNode) Group(gid replica.GroupID) (rebalance.Group, bool) {
	g, ok := a.n.host.Group(gid)
	if !ok {
		return nil, false
	}
	return g, true
}

func (a rebalanceNode) Cut(node string) bool {
	return a.n.faults != nil && a.n.tr.IsCut(node, transport.Outbound)
}

func (a rebalanceNode) Peer(node string) (rebalance.Peer, error) {
	conn, err := a.n.conn(node)
	if err != nil {
		return nil, err
	}
	return adminPeer{c: cairnv1.NewAdminClient(conn), clusterID: a.n.id.ClusterID.String()}, nil
}

// adminPeer is a peer's Admin service; the calls that only nodes of the
// cluster may make carry its ID.
type adminPeer struct {
	c         cairnv1.AdminClient
	clusterID string
}

func (p adminPeer) Ping(ctx context.Context) (string, error) {
	resp, err := p.c.Ping(metadata.AppendToOutgoingContext(ctx, forwardClusterHeader, p.clusterID), &cairnv1.PingRequest{})
	return resp.GetNode(), err
}

func (p adminPeer) ChangeReplicas(ctx context.Context, gid replica.GroupID, voters []string, expectedVersion uint64) (uint64, error) {
	resp, err := p.c.ChangeReplicas(metadata.AppendToOutgoingContext(ctx, forwardClusterHeader, p.clusterID),
		&cairnv1.ChangeReplicasRequest{Group: uint64(gid), Voters: voters, ExpectedVersion: expectedVersion})
	return resp.GetMembershipVersion(), err
}

func (p adminPeer) ForceRecover(ctx context.Context, gid replica.GroupID, dryRun bool) (rebalance.Recovery, error) {
	resp, err := p.c.ForceRecover(metadata.AppendToOutgoingContext(ctx, forwardClusterHeader, p.clusterID),
		&cairnv1.ForceRecoverRequest{Group: uint64(gid), DryRun: dryRun})
	if err != nil {
		return rebalance.Recovery{}, err
	}
	return rebalance.Recovery{Applied: resp.GetApplied(), LastIndex: resp.GetLastIndex(), Discarded: resp.GetDiscarded(),
		MembershipVersion: resp.GetMembershipVersion()}, nil
}

// TransferLeader hands partition p's leadership to the replica on node to
// and waits until it leads or ctx ends. This node must lead the partition.
func (n *Node) TransferLeader(ctx context.Context, p int, to string) error {
	if p < 0 || p >= n.Partitions() {
		return fmt.Errorf("%w: partition %d out of range", api.ErrInvalid, p)
	}
	gid := replica.GroupOf(p)
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
