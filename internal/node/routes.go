package node

import (
	"context"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/routing"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// Routes and the member list are internal/routing's (n.routing); these
// are the node's short names for what it asks of them.

func (n *Node) route(gid replica.GroupID) (routing.Route, bool) { return n.routing.Route(gid) }
func (n *Node) preferredNode(gid replica.GroupID) string        { return n.routing.PreferredNode(gid) }
func (n *Node) metaLeader() string                              { return n.routing.MetaLeader() }
func (n *Node) resolve(node string) (string, bool)              { return n.routing.Resolve(node) }

// hostReplicas is the host as routing reads it.
type hostReplicas struct{ replica.Host }

func (h hostReplicas) Status(gid replica.GroupID) (replica.Status, bool) {
	g, ok := h.Group(gid)
	if !ok {
		return replica.Status{}, false
	}
	return g.Status(), true
}

// metaGroup is the local replica of the meta group as routing reads and
// changes the member list through it.
func (h hostReplicas) metaGroup() (routing.MetaGroup, bool) {
	g, ok := h.Group(0)
	if !ok {
		return nil, false
	}
	return g, true
}

// routePeers carries routing's gossip on the node's connections.
type routePeers struct{ n *Node }

func (p routePeers) SyncRoutes(ctx context.Context, node string, req *cairnv1.SyncRoutesRequest) (*cairnv1.SyncRoutesResponse, error) {
	conn, err := p.n.conns.Get(node)
	if err != nil {
		return nil, err
	}
	return cairnv1.NewPeerClient(conn).SyncRoutes(ctx, req)
}
