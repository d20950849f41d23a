package node

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/routing"
	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
)

// Routes and the member list are internal/routing's (n.routing); these
// are the node's short names for what it asks of them.

func (n *Node) route(gid replica.GroupID) (routing.Route, bool) { return n.routing.Route(gid) }
func (n *Node) metaView() *routing.MetaView                     { return n.routing.Meta() }
func (n *Node) refreshMeta()                                    { n.routing.RefreshMeta() }
func (n *Node) preferredNode(gid replica.GroupID) string        { return n.routing.PreferredNode(gid) }
func (n *Node) metaLeader() string                              { return n.routing.MetaLeader() }
func (n *Node) replicaNodes(gid replica.GroupID) []string       { return n.routing.ReplicaNodes(gid) }
func (n *Node) replicaNode(gid replica.GroupID) string          { return n.routing.ReplicaNode(gid) }
func (n *Node) resolve(node string) (string, bool)              { return n.routing.Resolve(node) }

func (n *Node) descriptorsKnown() ([]replica.Descriptor, int) { return n.routing.DescriptorsKnown() }

// hostReplicas is the host as routing reads it.
type hostReplicas struct{ replica.Host }

func (h hostReplicas) Status(gid replica.GroupID) (replica.Status, bool) {
	g, ok := h.Group(gid)
	if !ok {
		return replica.Status{}, false
	}
	return g.Status(), true
}

// routePeers carries routing's gossip on the node's connections.
type routePeers struct{ n *Node }

func (p routePeers) SyncRoutes(ctx context.Context, node string, req *cairnv1.SyncRoutesRequest) (*cairnv1.SyncRoutesResponse, error) {
	conn, err := p.n.conn(node)
	if err != nil {
		return nil, err
	}
	return cairnv1.NewPeerClient(conn).SyncRoutes(ctx, req)
}

// engineView is a replica's engine section as /v1/cluster shows it.
func engineView(e replica.EngineStatus) map[string]any {
	if e.Name == "" {
		return nil
	}
	m := make(map[string]any, len(e.Fields)+1)
	for k, v := range e.Fields {
		m[k] = v
	}
	m["name"] = e.Name
	return m
}

// progressView is a leader's view of the other replicas, in replica ID
// order; nil elsewhere.
func progressView(st replica.Status) []api.PeerView {
	var out []api.PeerView
	for id, pr := range st.Progress {
		if id == st.Replica {
			continue
		}
		node := ""
		if m, ok := st.Descriptor.Replica(id); ok {
			node = m.Node
		}
		out = append(out, api.PeerView{Replica: uint64(id), Node: node, Match: pr.Match, LagEntries: pr.LagEntries,
			LagSeconds: pr.LagSeconds, CaughtUp: pr.CaughtUp, Active: pr.Active})
	}
	slices.SortFunc(out, func(a, b api.PeerView) int { return cmp.Compare(a.Replica, b.Replica) })
	return out
}

// partitionView is group gid's routing entry as the front doors show it.
func (n *Node) partitionView(gid replica.GroupID) api.PartitionView {
	pv := api.PartitionView{Partition: gid.Partition(), Group: uint64(gid),
		Replicas: []string{}, Voters: []string{}, Learners: []string{}, VotersOutgoing: []string{}, ReplicaIDs: []uint64{}}
	r, st, ok := n.routing.RouteAndStatus(gid)
	if st != nil {
		pv.Local = &api.LocalView{Role: st.State.String(), Applied: st.Applied, Commit: st.Commit, Engine: engineView(st.Engine),
			Progress: progressView(*st)}
	}
	if !ok {
		return pv
	}
	d := r.Desc
	pv.MembershipVersion, pv.Term, pv.Leader, pv.NextReplicaID = d.Version, r.Term, r.Leader, uint64(d.NextReplicaID)
	names := func(ids []replica.ReplicaID) []string {
		out := []string{}
		for _, id := range ids {
			if m, ok := d.Replica(id); ok {
				out = append(out, m.Node)
			}
		}
		return out
	}
	for _, m := range d.Replicas {
		pv.Replicas = append(pv.Replicas, m.Node)
		pv.ReplicaIDs = append(pv.ReplicaIDs, uint64(m.ID))
	}
	pv.Voters, pv.Learners, pv.VotersOutgoing = names(d.Voters), names(d.Learners), names(d.Outgoing())
	return pv
}

// conn returns a client connection to node (made on first use, kept).
func (n *Node) conn(node string) (*grpc.ClientConn, error) {
	addr, ok := n.resolve(node)
	if !ok {
		return nil, errNoAddress(node)
	}
	n.conns.Lock()
	defer n.conns.Unlock()
	if n.conns.closed {
		return nil, errors.New("node stopping")
	}
	if c, ok := n.conns.m[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, transport.DialOptions()...)
	if err != nil {
		return nil, err
	}
	if n.conns.m == nil {
		n.conns.m = map[string]*grpc.ClientConn{}
	}
	n.conns.m[addr] = c
	return c, nil
}

// closeConns closes every connection conn made; conn makes no more.
func (n *Node) closeConns() {
	n.conns.Lock()
	defer n.conns.Unlock()
	for _, c := range n.conns.m {
		c.Close()
	}
	n.conns.m, n.conns.closed = nil, true
}
