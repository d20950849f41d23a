package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/forward"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/transport"
)

// The node is the front doors' Backend: internal/forward routes a command
// to the key's partition's leader and a query to a replica, here or on
// another node (one hop, session kept).
var _ api.Backend = (*Node)(nil)

func (n *Node) Partitions() int { return n.id.Settings.Partitions }

func (n *Node) Partition(key []byte) int { return cluster.PartitionOf(key, n.id.Settings.Partitions) }

func (n *Node) Limits() api.Limits { return n.cfg.Limits }

func (n *Node) Now() time.Time { return time.Now() }

// NewClientID is random: unique in the cluster without coordination (a
// collision needs 2^32 sessions alive at once).
func (n *Node) NewClientID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) | 1
}

// Propose implements api.Backend. A proposal certainly not applied (no
// leader yet, a leader change) is retried until the request's deadline.
func (n *Node) Propose(ctx context.Context, p int, cmd kv.Command) (kv.Reply, error) {
	if n.noSpace.Load() {
		return kv.Reply{}, api.ErrNoSpace
	}
	if p < 0 || p >= n.Partitions() {
		return kv.Reply{}, fmt.Errorf("%w: partition %d out of range", api.ErrInvalid, p)
	}
	if n.faults != nil {
		if err := n.injectedDelay(ctx); err != nil {
			return kv.Reply{}, err
		}
	}
	return n.propose(ctx, replica.GroupOf(p), cmd)
}

// propose replicates cmd in group gid (the meta group's writes use it too).
func (n *Node) propose(ctx context.Context, gid replica.GroupID, cmd kv.Command) (kv.Reply, error) {
	return n.router.Propose(ctx, gid, cmd)
}

// Read implements api.Backend. A linearizable read on a node that does not
// lead the partition is a follower read (ReadIndex confirmed by the
// leader, then served locally): still linearizable, no forwarding; a node
// with no replica sends the query to one that has.
func (n *Node) Read(ctx context.Context, p int, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	if p < 0 || p >= n.Partitions() {
		return kv.Reply{}, fmt.Errorf("%w: partition %d out of range", api.ErrInvalid, p)
	}
	if n.faults != nil {
		// The injected delay counts in the request's time; the router's
		// own timeout is then the later one.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.RequestTimeout)
		defer cancel()
		if err := n.injectedDelay(ctx); err != nil {
			return kv.Reply{}, err
		}
	}
	return n.router.Read(ctx, replica.GroupOf(p), mode, q)
}

// groupTime is the group time of the local replica of gid, kept in memory
// by its state machine (kv.Machine.GroupTime), so that a read skips its
// lookup in the store.
func (n *Node) groupTime(gid replica.GroupID) (int64, bool) {
	m, ok := n.machines.Load(gid)
	if !ok {
		return 0, false
	}
	return m.(*kv.Machine).GroupTime()
}

// forwardClusterHeader carries the sender's cluster ID on node-to-node
// calls (forward.ClusterHeader).
const forwardClusterHeader = forward.ClusterHeader

// fromCluster refuses a call from outside this cluster: node-to-node
// calls (forwarding, the rebalancer's) carry the sender's cluster ID in
// forwardClusterHeader.
func (n *Node) fromCluster(ctx context.Context, what string) error {
	return forward.CheckCluster(ctx, n.id.ClusterID.String(), what)
}

// links are the transport's fault injection as forward checks it.
type links struct{ tr *transport.GRPC }

func (l links) CutTo(node string) error {
	if l.tr.IsCut(node, transport.Outbound) {
		return transport.ErrLinkCut
	}
	return nil
}

// Replicated implements api.Backend (Redis's WAIT): the Admin service's
// ReplicatedAt.
func (n *Node) Replicated(ctx context.Context, p int, need int) (int, error) {
	if p < 0 || p >= n.Partitions() {
		return 0, fmt.Errorf("%w: partition %d out of range", api.ErrInvalid, p)
	}
	return n.admin.ReplicatedAt(ctx, p, need)
}
