package rebalance

import (
	"context"
	"slices"
	"strings"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
)

// Node is what the loops need from the node they run on: its name and
// state, the meta group, the routes, its local replicas and its peers.
type Node interface {
	// Name is this node's name.
	Name() string
	// Draining reports whether the node is shutting down: then it starts
	// no move, hands no leadership and asks for no repair.
	Draining() bool
	Meta
	Routes
	Local
	Peers
}

// Meta is the meta group as this node sees it.
type Meta interface {
	// LeadsMeta reports whether this node leads the meta group now (a
	// cheap check).
	LeadsMeta() bool
	// ReadMeta reads the meta group's records linearizably through this
	// node's replica of it; ok is false when it holds none.
	ReadMeta(ctx context.Context) (m cluster.Meta, ok bool, err error)
	// ChangeMeta makes one membership change on the meta leader (this
	// node), as a compare-and-swap: it reads the records, lets change
	// compute the members to write from them, and proposes them under the
	// epoch it read, reading and computing again when someone else changed
	// them meanwhile. change returning no members changes nothing.
	ChangeMeta(ctx context.Context, change func(cluster.Meta) ([]cluster.Member, error)) (cluster.Meta, error)
	// RefreshMeta reads the local meta replica, if any, into View.
	RefreshMeta()
	// View is the member list as this node knows it and the ring's
	// placement of it; ok is false before any is known.
	View() (v View, ok bool)
}

// Routes is what this node knows of every group.
type Routes interface {
	// Descriptors is every group's descriptor as known here, and how many
	// groups' descriptors are not known yet.
	Descriptors() (descs []replica.Descriptor, missing int)
	// Route is group gid's descriptor and its leader's node ("" when
	// unknown); ok is false when nothing is known of the group.
	Route(gid replica.GroupID) (desc replica.Descriptor, leader string, ok bool)
}

// Local is this node's own replicas.
type Local interface {
	// Groups lists the groups this node holds a replica of.
	Groups() []replica.GroupID
	// Group is this node's replica of gid.
	Group(gid replica.GroupID) (Group, bool)
}

// Group is a local replica, as leader balancing and repair use it
// (replica.Group has these methods).
type Group interface {
	Status() replica.Status
	// TransferLeader hands leadership to replica to and waits until it
	// leads or ctx ends.
	TransferLeader(ctx context.Context, to replica.ReplicaID) error
}

// Peers reaches the nodes of the cluster.
type Peers interface {
	// Peer is a connection to node (this one included); an error when it
	// cannot be had (no address known for the node, the node stopping).
	Peer(node string) (Peer, error)
	// Cut reports whether fault injection cut this node's link to node.
	Cut(node string) bool
}

// Peer is one node's Admin service as the loops call it.
type Peer interface {
	// Ping returns the name the node answers with.
	Ping(ctx context.Context) (name string, err error)
	// ChangeReplicas asks the node, which must lead group gid, to bring
	// the group to voters, when the group's descriptor is still at
	// expectedVersion; it returns the membership version after the change.
	ChangeReplicas(ctx context.Context, gid replica.GroupID, voters []string, expectedVersion uint64) (version uint64, err error)
	// ForceRecover makes the node's replica of gid the group's only voter,
	// or with dryRun only says how far it has applied.
	ForceRecover(ctx context.Context, gid replica.GroupID, dryRun bool) (Recovery, error)
}

// Recovery is what a replica answers to ForceRecover.
type Recovery struct {
	Applied, LastIndex, Discarded uint64
	// MembershipVersion is the group's descriptor version after a
	// recovery (not a dry run).
	MembershipVersion uint64
}

// View is the member list as a node knows it.
type View struct {
	Epoch   uint64
	Members []cluster.Member // sorted by name, removed ones included
	// Target is the ring's placement of Members; Target.Groups is nil
	// when it cannot be made, and Err says why.
	Target cluster.Target
	Err    error
}

// Member is the member named name.
func (v View) Member(name string) (cluster.Member, bool) {
	i, ok := slices.BinarySearchFunc(v.Members, name, func(m cluster.Member, name string) int { return strings.Compare(m.Name, name) })
	if !ok {
		return cluster.Member{}, false
	}
	return v.Members[i], true
}

// targetOf is group gid's placement: the nodes the ring gives it,
// preferred leader first; nil when unknown.
func (v View) targetOf(gid replica.GroupID) []string {
	if v.Target.Groups == nil || int(gid) >= len(v.Target.Groups) {
		return nil
	}
	return v.Target.Groups[gid]
}
