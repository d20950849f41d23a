package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
)

// Routes (DESIGN.md, Words: routing table): per group, the descriptor,
// term and leader this node has seen with the highest (membership
// version, term). Groups held here are read from their replica; the others
// are learned from peers, whose GetCluster answers carry what they know,
// first- or second-hand. There is no global epoch: each entry stands alone.

// route is one group's routing entry.
type route struct {
	desc   replica.Descriptor
	term   uint64
	leader string // node name; "" when unknown
	seen   time.Time
}

// newer reports whether r should replace old.
func (r route) newer(old route) bool {
	switch {
	case r.desc.Version != old.desc.Version:
		return r.desc.Version > old.desc.Version
	case r.term != old.term:
		return r.term > old.term
	}
	return r.leader != "" && old.leader == ""
}

type routeCache struct {
	mu sync.Mutex
	m  map[replica.GroupID]route
}

// observe keeps r for gid when it is newer than what is known.
func (c *routeCache) observe(gid replica.GroupID, r route) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[replica.GroupID]route{}
	}
	if old, ok := c.m[gid]; !ok || r.newer(old) {
		c.m[gid] = r
	}
}

func (c *routeCache) get(gid replica.GroupID) (route, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[gid]
	return r, ok
}

// route returns group gid's routing entry: the local replica's when this
// node holds an initialised one and it is at least as new as what peers
// told, else the newest learned.
func (n *Node) route(gid replica.GroupID) (route, bool) {
	r, _, ok := n.routeAndStatus(gid)
	return r, ok
}

// routeAndStatus is route, and the local replica's status when this node
// holds one (nil otherwise).
func (n *Node) routeAndStatus(gid replica.GroupID) (route, *replica.Status, bool) {
	r, ok := n.routes.get(gid)
	g, held := n.host.Group(gid)
	if !held {
		return r, nil, ok
	}
	st := g.Status()
	if st.Descriptor.Version > 0 {
		local := route{desc: st.Descriptor, term: st.Term, leader: st.LeaderNode, seen: time.Now()}
		if !ok || !r.newer(local) {
			return local, &st, true
		}
	}
	return r, &st, ok
}

// descriptorsKnown returns the newest descriptor known of every group
// (the meta group first), and how many groups are unknown.
func (n *Node) descriptorsKnown() (descs []replica.Descriptor, missing int) {
	for gid := range n.id.Settings.Partitions + 1 {
		r, ok := n.route(replica.GroupID(gid))
		if !ok || r.desc.Version == 0 {
			missing++
			continue
		}
		descs = append(descs, r.desc)
	}
	return descs, missing
}

// pollPeers asks every live member for its cluster view, merges their
// routing entries and, where newer, their member list. It also removes
// local replicas that a newer descriptor no longer names (a node that
// was away while its replica was moved).
func (n *Node) pollPeers(ctx context.Context) {
	n.eachPeer(ctx, n.metaView().members, func(ctx context.Context, _ cluster.Member, conn *grpc.ClientConn) {
		info, err := cairnv1.NewClusterClient(conn).GetCluster(ctx, &cairnv1.GetClusterRequest{})
		if err == nil && info.GetClusterId() == n.id.ClusterID.String() {
			n.learnCluster(info)
		}
	})
	n.removeStale()
}

// eachPeer calls fn for every member but this node and the removed ones,
// all at once, with a connection and a second to answer, and returns when
// every call has.
func (n *Node) eachPeer(ctx context.Context, members []cluster.Member, fn func(context.Context, cluster.Member, *grpc.ClientConn)) {
	var wg sync.WaitGroup
	for _, m := range members {
		if m.Name == n.cfg.Name || m.StateOf() == cluster.NodeRemoved {
			continue
		}
		conn, err := n.conn(m.Name)
		if err != nil {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			fn(cctx, m, conn)
		})
	}
	wg.Wait()
}

// learnCluster merges a peer's GetCluster answer.
func (n *Node) learnCluster(info *cairnv1.ClusterInfo) {
	now := time.Now()
	learn := func(gid replica.GroupID, p *cairnv1.PartitionInfo) {
		if p == nil || p.GetMembershipVersion() == 0 || len(p.GetReplicaIds()) != len(p.GetReplicas()) {
			return
		}
		n.routes.observe(gid, route{desc: descriptorOf(gid, p), term: p.GetTerm(), leader: p.GetLeader(), seen: now})
	}
	learn(0, info.GetMetaGroup())
	for _, p := range info.GetPartitions() {
		learn(replica.GroupID(p.GetGroup()), p)
	}
	if info.GetEpoch() > 0 || len(info.GetNodes()) > 0 {
		var members []cluster.Member
		adv := map[string]cluster.Advertised{}
		for _, nd := range info.GetNodes() {
			members = append(members, cluster.Member{Name: nd.GetName(), Addr: nd.GetGrpcAddr(),
				Capacity: nd.GetCapacity(), Zone: nd.GetZone(), State: nd.GetState()})
			adv[nd.GetName()] = cluster.Advertised{GRPC: nd.GetGrpcAddr(), HTTP: nd.GetHttpAddr(), Redis: nd.GetRedisAddr()}
		}
		n.learnMeta(info.GetEpoch(), members, adv, false)
	}
}

// descriptorOf rebuilds a descriptor from a routing entry.
func descriptorOf(gid replica.GroupID, p *cairnv1.PartitionInfo) replica.Descriptor {
	d := replica.Descriptor{Group: gid, Version: p.GetMembershipVersion(), NextReplicaID: replica.ReplicaID(p.GetNextReplicaId())}
	ids := map[string]replica.ReplicaID{}
	voters := map[string]bool{}
	for _, v := range p.GetVoters() {
		voters[v] = true
	}
	for i, node := range p.GetReplicas() {
		id := replica.ReplicaID(p.GetReplicaIds()[i])
		ids[node] = id
		role := replica.RoleLearner
		if voters[node] {
			role = replica.RoleVoter
		}
		d.Replicas = append(d.Replicas, replica.Member{ID: id, Node: node, Role: role})
	}
	for _, v := range p.GetVoters() {
		d.Voters = append(d.Voters, ids[v])
	}
	for _, l := range p.GetLearners() {
		d.Learners = append(d.Learners, ids[l])
	}
	// The entry names a joint change's outgoing voters only, which is all
	// that the layers above read of the engine section (Joint, Outgoing).
	var j replica.JointConf
	for _, o := range p.GetVotersOutgoing() {
		j.Outgoing = append(j.Outgoing, ids[o])
	}
	d.Engine = j.Section()
	return d
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

// partitionView is group gid's routing entry as the front doors show it.
func (n *Node) partitionView(gid replica.GroupID) api.PartitionView {
	pv := api.PartitionView{Partition: int(gid) - 1, Group: uint64(gid),
		Replicas: []string{}, Voters: []string{}, Learners: []string{}, VotersOutgoing: []string{}, ReplicaIDs: []uint64{}}
	r, st, ok := n.routeAndStatus(gid)
	if st != nil {
		pv.Local = &api.LocalView{Role: st.State.String(), Applied: st.Applied, Commit: st.Commit, Engine: engineView(st.Engine)}
	}
	if !ok {
		return pv
	}
	d := r.desc
	pv.MembershipVersion, pv.Term, pv.Leader, pv.NextReplicaID = d.Version, r.term, r.leader, uint64(d.NextReplicaID)
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

// replicaNodes lists the nodes other than this one that hold group gid,
// its preferred leader first, then its known leader, then the rest.
func (n *Node) replicaNodes(gid replica.GroupID) []string {
	var nodes []string
	add := func(node string) {
		if node != "" && node != n.cfg.Name && !slices.Contains(nodes, node) {
			nodes = append(nodes, node)
		}
	}
	r, ok := n.route(gid)
	if ok {
		add(r.leader)
		if pref := n.preferredNode(gid); pref != "" {
			if _, held := r.desc.ReplicaOn(pref); held {
				add(pref)
			}
		}
		for _, m := range r.desc.Replicas {
			add(m.Node)
		}
		return nodes
	}
	for _, node := range n.targetOf(gid) {
		add(node)
	}
	return nodes
}

// replicaNode names a node that holds group gid when this one does not:
// its leader when known, else its preferred leader.
func (n *Node) replicaNode(gid replica.GroupID) string {
	if nodes := n.replicaNodes(gid); len(nodes) > 0 {
		return nodes[0]
	}
	return ""
}

// removeStale deletes local replicas that a newer descriptor, learned from
// a peer, no longer names: this node was away (or cut off) while its
// replica was moved, so no message will ever tell it.
func (n *Node) removeStale() {
	for _, gid := range n.host.Groups() {
		r, ok := n.routes.get(gid)
		if !ok {
			continue
		}
		removed, err := n.host.RemoveStale(r.desc)
		if err != nil {
			n.log.Warn("removing a stale replica", "group", gid, "err", err)
		} else if removed {
			n.log.Info("removed a replica that its group no longer names", "group", gid, "version", r.desc.Version)
		}
	}
}
