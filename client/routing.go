package client

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cairnkv/cairn/internal/keyspace"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// hashXXHash64 is the only partition hash this client knows; a cluster
// created with another is refused by New.
const hashXXHash64 = "xxhash64"

// partitionOf is the partition of key among p, exactly as the server maps
// it (internal/keyspace, a leaf that pulls in nothing of the server).
func partitionOf(key []byte, p int) int { return keyspace.PartitionOf(key, p) }

// table is the routing table as the client knows it. A table is never
// changed once published: updates copy it (they are rare: a fetch every few
// seconds, a leader hint now and then) so that requests read it without a
// lock.
type table struct {
	clusterID string
	parts     int
	nodes     map[string]nodeEntry // by node name
	// names are the entry candidates: the nodes with a gRPC address whose
	// state is neither down nor removed, sorted.
	names  []string
	routes []route // by partition; Invariant: len(routes) == parts
}

type nodeEntry struct {
	addr  string // gRPC address; "" when unknown
	state string // joining, up, draining, down, removed
}

// route is one partition's entry. Of the entries the client hears, it keeps
// the one with the highest (version, term); there is no global epoch.
type route struct {
	version  uint64 // the group's membership version
	term     uint64
	leader   string   // node name; "" when unknown
	hinted   bool     // leader came from a not-applied answer, not a table
	replicas []string // voters and learners, by node name
	voters   []string
}

// newer reports whether pi is a later entry than r.
func (r *route) newer(pi *pb.PartitionInfo) bool {
	if pi.MembershipVersion != r.version {
		return pi.MembershipVersion > r.version
	}
	return pi.Term > r.term
}

// errForeignCluster is returned by merge when an answer comes from a
// cluster other than the one the client first reached.
var errForeignCluster = errors.New("client: an endpoint answered for another cluster (check --endpoints)")

// merge returns the table that t (nil: none yet) becomes with info, the
// answer of the node reached at via. Per partition it keeps the entry with
// the higher (membership version, term). At an equal one it takes the
// leader the answer names, unless the leader it has came from a hint (a
// node that answered "not applied, the leader is X" knew better than a
// table of the same term, which may be a lagging node's) — but the leader
// itself is believed over a hint. A node whose gRPC address the answer
// leaves empty is, if it is the answering node, reachable at via.
func (t *table) merge(info *pb.ClusterInfo, via string) (*table, error) {
	s := info.GetSettings()
	if h := s.GetHash(); h != hashXXHash64 {
		return nil, fmt.Errorf("client: cluster uses partition hash %q; this client knows only %q", h, hashXXHash64)
	}
	parts := int(s.GetPartitions())
	if parts <= 0 {
		return nil, errors.New("client: cluster reports no partitions")
	}
	if t != nil && (t.clusterID != info.GetClusterId() || t.parts != parts) {
		return nil, fmt.Errorf("%w: %s answered cluster %s with %d partitions, not %s with %d",
			errForeignCluster, via, info.GetClusterId(), parts, t.clusterID, t.parts)
	}
	nt := &table{clusterID: info.GetClusterId(), parts: parts, nodes: map[string]nodeEntry{}}
	if t != nil {
		for name, n := range t.nodes {
			nt.nodes[name] = n
		}
		nt.routes = slices.Clone(t.routes)
	} else {
		nt.routes = make([]route, parts)
	}
	for _, n := range info.GetNodes() {
		e := nodeEntry{addr: n.GetGrpcAddr(), state: n.GetState()}
		if e.addr == "" && n.GetName() == info.GetNode() {
			e.addr = via
		}
		if e.addr == "" {
			e.addr = nt.nodes[n.GetName()].addr // keep what an earlier answer said
		}
		nt.nodes[n.GetName()] = e
	}
	if name := info.GetNode(); name != "" && nt.nodes[name].addr == "" {
		e := nt.nodes[name]
		e.addr = via
		nt.nodes[name] = e
	}
	for _, pi := range info.GetPartitions() {
		p := int(pi.GetPartition())
		if p >= parts {
			continue
		}
		r := &nt.routes[p]
		switch {
		case r.newer(pi):
			*r = route{version: pi.MembershipVersion, term: pi.Term, leader: pi.Leader,
				replicas: pi.Replicas, voters: pi.Voters}
		case pi.MembershipVersion == r.version && pi.Term == r.term:
			switch {
			case pi.GetLocal().GetRole() == "leader" && info.GetNode() != "":
				r.leader, r.hinted = info.GetNode(), false
			case pi.Leader != "" && !r.hinted:
				r.leader = pi.Leader
			}
			if len(pi.Replicas) > 0 {
				r.replicas, r.voters = pi.Replicas, pi.Voters
			}
		}
	}
	for name, n := range nt.nodes {
		if n.addr != "" && n.state != "down" && n.state != "removed" {
			nt.names = append(nt.names, name)
		}
	}
	slices.Sort(nt.names)
	return nt, nil
}

// withLeader returns t with partition p's leader set to node, as a
// not-applied answer hinted; the next fetch corrects a wrong hint.
func (t *table) withLeader(p int, node string) *table {
	if p < 0 || p >= t.parts || t.routes[p].leader == node {
		return t
	}
	nt := *t
	nt.routes = slices.Clone(t.routes)
	nt.routes[p].leader, nt.routes[p].hinted = node, true
	return &nt
}

// addr is node's gRPC address, "" when unknown.
func (t *table) addr(node string) string { return t.nodes[node].addr }
