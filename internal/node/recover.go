package node

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Unsafe recovery (DESIGN.md, Membership and failure): a partition whose
// voters lost their quorum stays unavailable until they return, or until
// an operator runs `cairn admin unsafe-recover`. The meta leader checks that
// the quorum is really gone (it pings every voter's node now), asks every
// reachable voter how far its replica has applied, and has the one that
// applied most become the group's only voter; the rebalancer then rebuilds
// the other replicas from it.

func (s *adminServer) UnsafeRecover(ctx context.Context, req *cairnv1.UnsafeRecoverRequest) (*cairnv1.UnsafeRecoverResponse, error) {
	return onMetaLeader(ctx, s.n, req, s.unsafeRecover, cairnv1.AdminClient.UnsafeRecover)
}

func (s *adminServer) unsafeRecover(ctx context.Context, req *cairnv1.UnsafeRecoverRequest) (*cairnv1.UnsafeRecoverResponse, error) {
	n := s.n
	p := int(req.GetPartition())
	if p < 0 || p >= n.Partitions() {
		return nil, status.Errorf(codes.InvalidArgument, "partition %d: must be 0 to %d (the meta group cannot be recovered this way: an admin command needs its quorum)",
			p, n.Partitions()-1)
	}
	gid := replica.GroupID(p + 1)
	r, ok := n.route(gid)
	if !ok || r.Desc.Version == 0 {
		return nil, status.Errorf(codes.Aborted, "partition %d: its descriptor is not known here yet; retry in a few seconds", p)
	}
	out := &cairnv1.UnsafeRecoverResponse{Group: uint64(gid), Partition: int32(p)}
	type answer struct {
		node string
		fr   *cairnv1.ForceRecoverResponse
	}
	var mu sync.Mutex
	var answers []answer
	var wg sync.WaitGroup
	for _, id := range r.Desc.Voters {
		m, _ := r.Desc.Replica(id)
		out.Voters = append(out.Voters, m.Node)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fr, err := n.forceRecover(ctx, m.Node, gid, true)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.Unreachable = append(out.Unreachable, m.Node)
				return
			}
			answers = append(answers, answer{m.Node, fr})
		}()
	}
	wg.Wait()
	slices.Sort(out.Unreachable)
	if quorum := len(r.Desc.Voters)/2 + 1; len(answers) >= quorum {
		return nil, status.Errorf(codes.FailedPrecondition,
			"partition %d still has a quorum (%d of its %d voters answer): unsafe recovery is only for a partition that lost it; for a dead node use remove",
			p, len(answers), len(r.Desc.Voters))
	}
	if len(answers) == 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "partition %d: none of its voters %v answers: there is nothing to recover from; bring one back", p, out.Voters)
	}
	best := slices.MaxFunc(answers, func(a, b answer) int {
		return cmp.Or(cmp.Compare(a.fr.GetApplied(), b.fr.GetApplied()), cmp.Compare(a.fr.GetLastIndex(), b.fr.GetLastIndex()),
			cmp.Compare(b.node, a.node))
	})
	out.Survivor, out.Applied, out.LastIndex, out.Discarded = best.node, best.fr.GetApplied(), best.fr.GetLastIndex(), best.fr.GetDiscarded()
	if !req.GetConfirm() {
		return out, nil
	}
	fr, err := n.forceRecover(ctx, best.node, gid, false)
	if err != nil {
		return nil, status.Errorf(status.Code(err), "partition %d: recovering on %s: %s", p, best.node, status.Convert(err).Message())
	}
	out.Done, out.MembershipVersion = true, fr.GetMembershipVersion()
	out.Applied, out.LastIndex, out.Discarded = fr.GetApplied(), fr.GetLastIndex(), fr.GetDiscarded()
	n.log.Warn("unsafe recovery: partition forced onto one replica", "partition", p, "survivor", best.node,
		"unreachable", out.Unreachable, "applied", out.Applied, "discarded", out.Discarded)
	return out, nil
}

// forceRecover calls ForceRecover on node (this one included).
func (n *Node) forceRecover(ctx context.Context, node string, gid replica.GroupID, dryRun bool) (*cairnv1.ForceRecoverResponse, error) {
	conn, err := n.conn(node)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, forwardClusterHeader, n.id.ClusterID.String()), 2*time.Second)
	defer cancel()
	return cairnv1.NewAdminClient(conn).ForceRecover(cctx, &cairnv1.ForceRecoverRequest{Group: uint64(gid), DryRun: dryRun})
}

// ForceRecover makes this node's replica of a group its only voter (or,
// with dry_run, says how far it has applied). Only the meta leader of this
// cluster calls it.
func (s *adminServer) ForceRecover(ctx context.Context, req *cairnv1.ForceRecoverRequest) (*cairnv1.ForceRecoverResponse, error) {
	n := s.n
	if err := n.fromCluster(ctx, "ForceRecover"); err != nil {
		return nil, err
	}
	gid := replica.GroupID(req.GetGroup())
	var rec replica.Recovery
	var err error
	if req.GetDryRun() {
		// A replica that still knows a leader answers too: the caller
		// counts who answers to tell whether the quorum is gone.
		if rec, err = n.host.UnsafeRecoverPlan(gid); errors.Is(err, replica.ErrHasLeader) {
			err = nil
		}
	} else {
		rec, err = n.host.UnsafeRecover(gid)
	}
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%s: %v", n.cfg.Name, err)
	}
	return &cairnv1.ForceRecoverResponse{Applied: rec.Applied, Commit: rec.Commit, LastIndex: rec.LastIndex,
		Discarded: rec.Discarded, MembershipVersion: rec.After.Version}, nil
}
