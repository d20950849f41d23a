package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// The node is the front doors' Backend: it routes a command to the key's
// partition, proposing it locally when this node leads the partition and
// forwarding it (one hop, session kept) to the leader's node otherwise.
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
		if err := n.faults.delay(ctx); err != nil {
			return kv.Reply{}, err
		}
	}
	return n.propose(ctx, replica.GroupID(cluster.GroupOf(p)), cmd)
}

// propose replicates cmd in group gid, here or on the leader's node. A
// leader hint in a "not applied" answer aims the next attempt.
func (n *Node) propose(ctx context.Context, gid replica.GroupID, cmd kv.Command) (kv.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	enc := cmd.Encode()
	hint := ""
	for {
		res, served, err := n.proposeOnce(ctx, gid, enc, hint)
		if err == nil {
			if r := api.RouteFrom(ctx); r != nil {
				r.Leader = served
			}
			return kv.DecodeResult(res)
		}
		if api.OutcomeOf(err) != api.NotApplied || ctx.Err() != nil {
			return kv.Reply{}, err
		}
		var nl *replica.ErrNotLeader
		hint = ""
		if errors.As(err, &nl) && nl.HintNode != n.cfg.Name {
			hint = nl.HintNode
		}
		select {
		case <-ctx.Done():
			return kv.Reply{}, err
		case <-time.After(n.cfg.TickInterval / 2):
		}
	}
}

// proposeOnce makes one attempt and names the node whose replica served it
// (the receiver of a forward proposes locally or refuses: one hop).
func (n *Node) proposeOnce(ctx context.Context, gid replica.GroupID, enc []byte, hint string) ([]byte, string, error) {
	forward := func(to string) ([]byte, string, error) {
		res, err := n.fwd.forward(ctx, to, gid, enc)
		return res, to, err
	}
	g, ok := n.host.Group(gid)
	if !ok {
		// No replica here: send it to the leader we were told of, or to the
		// group's preferred leader.
		if hint == "" {
			hint = n.replicaNode(gid)
		}
		if hint == "" {
			return nil, "", &replica.ErrNotLeader{Group: gid}
		}
		return forward(hint)
	}
	// NB: IsLeader, not Status, on every request: Status takes the group's
	// lock, which a round holds across its fsync. Status is asked only
	// when IsLeader says no (a replica elected in this very round may not
	// have published it yet).
	if !g.IsLeader() {
		if st := g.Status(); st.State != replica.StateLeader {
			to := st.LeaderNode
			if to == "" {
				to = hint
			}
			if to == "" || to == n.cfg.Name {
				return nil, "", &replica.ErrNotLeader{Group: st.Group}
			}
			return forward(to)
		}
	}
	res, _, err := g.Propose(ctx, enc)
	var nl *replica.ErrNotLeader
	if errors.As(err, &nl) && nl.HintNode != "" && nl.HintNode != n.cfg.Name {
		return forward(nl.HintNode)
	}
	return res, n.cfg.Name, err
}

// Read implements api.Backend. A linearizable read on a node that does not
// lead the partition is a follower read (ReadIndex confirmed by the
// leader, then served locally): still linearizable, no forwarding.
func (n *Node) Read(ctx context.Context, p int, mode replica.ReadMode, fn func(v storage.View, group uint64) error) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	if p < 0 || p >= n.Partitions() {
		return fmt.Errorf("%w: partition %d out of range", api.ErrInvalid, p)
	}
	if n.faults != nil {
		if err := n.faults.delay(ctx); err != nil {
			return err
		}
	}
	err := n.readLocal(ctx, p, mode, fn)
	if errors.Is(err, errNoReplica) || errors.Is(err, replica.ErrDiverged) {
		// NB: a replica a consistency check found to differ serves
		// nothing; the leader (never such a replica) serves the read.
		return n.remoteRead(ctx, p, mode, fn)
	}
	return err
}

// readLocal reads partition p from the local replica; errNoReplica when
// this node holds none.
func (n *Node) readLocal(ctx context.Context, p int, mode replica.ReadMode, fn func(v storage.View, group uint64) error) error {
	for {
		g, ok := n.host.Group(replica.GroupID(cluster.GroupOf(p)))
		if !ok {
			return errNoReplica
		}
		m := mode
		if m == replica.Linearizable && !g.IsLeader() {
			m = replica.Follower
		}
		err := g.Read(ctx, m, func(v storage.View) error { return fn(v, cluster.GroupOf(p)) })
		var nl *replica.ErrNotLeader
		if !errors.As(err, &nl) || ctx.Err() != nil {
			if ctx.Err() != nil && err != nil {
				return fmt.Errorf("%w: read: %w", replica.ErrNotApplied, err)
			}
			return err
		}
		select { // the leader moved between the check and the read
		case <-ctx.Done():
			return fmt.Errorf("%w: read: %w", replica.ErrNotApplied, ctx.Err())
		case <-time.After(n.cfg.TickInterval / 2):
		}
	}
}
