package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/replica"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// errUnsafePromote is the text of Promote's refusal of --unsafe.
const errUnsafePromote = "--unsafe (promoting a replica outside the in-sync set, losing the acknowledged writes it lacks) is not offered yet: " +
	"the engine's forced promotion exists but this command does not call it yet; a planned switchover to an in-sync replica works without --unsafe, " +
	"and a partition that lost every in-sync replica can be rebuilt from a survivor with cairn admin unsafe-recover"

// Promote implements cairn.v1.Admin: a planned switchover of a partition's
// leadership to a node's replica, run on the partition's leader (this
// node, or the one it passes the call to, at most once).
func (s *Admin) Promote(ctx context.Context, req *pb.PromoteRequest) (*pb.PromoteResponse, error) {
	p := int(req.GetPartition())
	if p < 0 || p >= s.n.Settings().Partitions {
		return nil, status.Errorf(codes.InvalidArgument, "partition %d: want 0 to %d", p, s.n.Settings().Partitions-1)
	}
	if req.GetUnsafe() {
		return nil, status.Error(codes.Unimplemented, errUnsafePromote)
	}
	gid := replica.GroupOf(p)
	desc, leader, ok := s.n.Route(gid)
	if !ok {
		return nil, status.Errorf(codes.Unavailable, "node %s knows nothing of partition %d yet; retry", s.n.Name(), p)
	}
	target, ok := desc.ReplicaOn(req.GetNode())
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "node %q holds no replica of partition %d (its replicas are on %v)", req.GetNode(), p, replicaNodes(desc))
	}
	if target.Role != replica.RoleVoter {
		return nil, status.Errorf(codes.FailedPrecondition, "the replica of partition %d on %s is a learner (still catching up): only a voter can lead", p, req.GetNode())
	}
	g, local := s.n.Group(gid)
	if local && g.Status().State == replica.StateLeader {
		return s.promoteLocal(ctx, g, p, target)
	}
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(adminHopHeader)) > 0 {
		return nil, status.Errorf(codes.Unavailable, "node %s does not lead partition %d either (its leader is %q): the leadership is moving; retry", s.n.Name(), p, leader)
	}
	if leader == "" || leader == s.n.Name() {
		return nil, status.Errorf(codes.Unavailable, "partition %d has no known leader now; retry", p)
	}
	conn, err := s.n.Conn(leader)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "node %s cannot reach partition %d's leader %s: %v", s.n.Name(), p, leader, err)
	}
	return pb.NewAdminClient(conn).Promote(metadata.AppendToOutgoingContext(ctx, adminHopHeader, s.n.Name()), req)
}

// promoteLocal hands the leadership of the local replica g over to target
// and waits until it took it (TransferLeader waits: the successor catches
// up, then takes office).
func (s *Admin) promoteLocal(ctx context.Context, g AdminGroup, p int, target replica.Member) (*pb.PromoteResponse, error) {
	before := g.Status()
	resp := &pb.PromoteResponse{Partition: int32(p), Previous: s.n.Name()}
	if before.Leader == target.ID {
		resp.Leader, resp.Term = target.Node, before.Term
		return resp, nil
	}
	err := g.TransferLeader(ctx, target.ID)
	var nl *replica.ErrNotLeader
	switch {
	case errors.As(err, &nl) && nl.HintNode == target.Node:
		// Done: this replica is no longer the leader, the target is.
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return nil, status.Errorf(codes.DeadlineExceeded, "partition %d: the switchover to %s did not finish in time: %v (the leader gives up a successor that does not catch up, and writes resume)", p, target.Node, err)
	case err != nil:
		return nil, status.Errorf(codes.FailedPrecondition, "partition %d: switchover to %s: %v", p, target.Node, err)
	}
	after := g.Status()
	s.log.Info("partition leadership handed over", "partition", p, "from", s.n.Name(), "to", target.Node, "term", after.Term)
	resp.Leader, resp.Term = target.Node, after.Term
	if after.LeaderNode != "" {
		resp.Leader = after.LeaderNode
	}
	return resp, nil
}

func replicaNodes(d replica.Descriptor) []string {
	var out []string
	for _, m := range d.Replicas {
		out = append(out, m.Node)
	}
	return out
}

// Replicated implements cairn.v1.Admin, node to node: WAIT's count on the
// partition's leader, which must be this node.
func (s *Admin) Replicated(ctx context.Context, req *pb.ReplicatedRequest) (*pb.ReplicatedResponse, error) {
	if err := s.n.FromCluster(ctx, "Replicated"); err != nil {
		return nil, err
	}
	n, err := s.ReplicatedLocal(ctx, replica.GroupOf(int(req.GetPartition())), int(req.GetNeed()))
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &pb.ReplicatedResponse{Replicas: uint32(n)}, nil
}

// ReplicatedAt is WAIT's count for partition p (api.Backend.Replicated)
// from any node: on the partition's leader, here (ReplicatedLocal) or on
// the leader's node (Replicated, asked once; a leader that moved
// meanwhile answers 0).
func (s *Admin) ReplicatedAt(ctx context.Context, p int, need int) (int, error) {
	gid := replica.GroupOf(p)
	if g, ok := s.n.Group(gid); ok && g.IsLeader() {
		return s.ReplicatedLocal(ctx, gid, need)
	}
	_, leader, ok := s.n.Route(gid)
	if !ok || leader == "" || leader == s.n.Name() {
		return 0, fmt.Errorf("%w: partition %d has no known leader", replica.ErrNotApplied, p)
	}
	conn, err := s.n.Conn(leader)
	if err != nil {
		return 0, err
	}
	resp, err := pb.NewAdminClient(conn).Replicated(s.n.PeerContext(ctx),
		&pb.ReplicatedRequest{Partition: int32(p), Need: uint32(max(need, 0))})
	if status.Code(err) == codes.FailedPrecondition {
		return 0, nil // the leader moved: none is known to hold it yet
	}
	if err != nil {
		return 0, err
	}
	return int(resp.GetReplicas()), nil
}

// ErrNotLeaderHere: ReplicatedLocal was asked of a node whose replica does
// not lead.
var ErrNotLeaderHere = errors.New("grpcapi: the local replica does not lead the partition")

// replicatedPoll is how often ReplicatedLocal looks at the leader's
// progress.
const replicatedPoll = 10 * time.Millisecond

// ReplicatedLocal waits, on the leader of gid (this node), until need of
// the other replicas hold durably every entry the leader had committed
// when it was called (their match index, which a replica reports only
// once the entries are durable), or until ctx ends, and returns how many
// do then. Redis's WAIT numreplicas timeout, engine-neutral: on an async
// primary-backup cluster it is how a client learns its write reached the
// backups. ctx ending is not an error: the count so far is the answer.
func (s *Admin) ReplicatedLocal(ctx context.Context, gid replica.GroupID, need int) (int, error) {
	g, ok := s.n.Group(gid)
	if !ok {
		return 0, fmt.Errorf("%w: node %s holds no replica of partition %d", ErrNotLeaderHere, s.n.Name(), gid.Partition())
	}
	st := g.Status()
	if st.State != replica.StateLeader {
		return 0, fmt.Errorf("%w: node %s does not lead partition %d", ErrNotLeaderHere, s.n.Name(), gid.Partition())
	}
	target := st.Commit
	for {
		n := 0
		for id, pr := range st.Progress {
			if id != st.Replica && pr.Match >= target {
				n++
			}
		}
		if n >= need || st.State != replica.StateLeader {
			return n, nil
		}
		t := s.clk.NewTicker(replicatedPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return n, nil
		case <-t.C():
			t.Stop()
		}
		st = g.Status()
	}
}
