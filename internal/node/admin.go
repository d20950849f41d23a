package node

import (
	"context"

	"github.com/cairnkv/cairn/internal/api/grpcapi"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// The Admin service (cairn.v1.Admin: join, drain, remove, status, unsafe
// recovery, verify) is internal/api/grpcapi's Admin; adminNode is the
// node as it sees it.

// newAdmin makes the node's Admin service; the rebalancer must exist.
func newAdmin(n *Node) *grpcapi.Admin {
	return grpcapi.NewAdmin(grpcapi.AdminConfig{
		Node:       adminNode{rebalanceNode{n}},
		Rebalancer: n.rebalancer,
		Logger:     n.log,
		// NB: the node's own clock, not the fault-injected one, as the
		// rebalancer's: these are waits for elapsed time.
		Clock: n.cfg.Clock,
		// Long enough for the routes to learn a new leader.
		CheckRetryWait: 5 * n.cfg.TickInterval,
	})
}

// adminNode implements grpcapi.AdminNode over the node; it shares the
// rebalancer's view of the meta group and the routes.
type adminNode struct{ rebalanceNode }

func (a adminNode) Incarnation() uint64        { return a.n.id.Incarnation }
func (a adminNode) ClusterID() string          { return a.n.id.ClusterID.String() }
func (a adminNode) Settings() cluster.Settings { return a.n.id.Settings }
func (a adminNode) MetaLeader() string         { return a.n.metaLeader() }

func (a adminNode) Group(gid replica.GroupID) (grpcapi.AdminGroup, bool) {
	g, ok := a.n.host.Group(gid)
	if !ok {
		return nil, false
	}
	return g, true
}

func (a adminNode) UnsafeRecoverPlan(gid replica.GroupID) (replica.Recovery, error) {
	return a.n.host.UnsafeRecoverPlan(gid)
}

func (a adminNode) UnsafeRecover(gid replica.GroupID) (replica.Recovery, error) {
	return a.n.host.UnsafeRecover(gid)
}

func (a adminNode) Conn(node string) (grpc.ClientConnInterface, error) {
	c, err := a.n.conns.Get(node)
	if err != nil {
		return nil, err // NB: not a nil *grpc.ClientConn in a non-nil interface
	}
	return c, nil
}

func (a adminNode) FromCluster(ctx context.Context, what string) error {
	return a.n.fromCluster(ctx, what)
}

func (a adminNode) PeerContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, forwardClusterHeader, a.n.id.ClusterID.String())
}
