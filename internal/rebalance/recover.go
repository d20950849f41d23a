package rebalance

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Unsafe recovery (DESIGN.md, Membership and failure): a partition whose
// voters lost their quorum stays unavailable until they return, or until
// an operator runs `cairn admin unsafe-recover`. The meta leader checks that
// the quorum is really gone (it asks every voter's node now), asks every
// reachable voter how far its replica has applied, and has the one that
// applied most become the group's only voter; the rebalancer then rebuilds
// the other replicas from it.

// forceRecoverTimeout bounds one ForceRecover call.
const forceRecoverTimeout = 2 * time.Second

// UnsafeRecover is Admin.UnsafeRecover on the meta leader; its errors are
// gRPC statuses.
func (r *Rebalancer) UnsafeRecover(ctx context.Context, req *cairnv1.UnsafeRecoverRequest) (*cairnv1.UnsafeRecoverResponse, error) {
	parts := r.cfg.Settings.Partitions
	p := int(req.GetPartition())
	if p < 0 || p >= parts {
		return nil, status.Errorf(codes.InvalidArgument, "partition %d: must be 0 to %d (the meta group cannot be recovered this way: an admin command needs its quorum)",
			p, parts-1)
	}
	gid := replica.GroupOf(p)
	desc, _, ok := r.node.Route(gid)
	if !ok || desc.Version == 0 {
		return nil, status.Errorf(codes.Aborted, "partition %d: its descriptor is not known here yet; retry in a few seconds", p)
	}
	out := &cairnv1.UnsafeRecoverResponse{Group: uint64(gid), Partition: int32(p)}
	type answer struct {
		node string
		fr   Recovery
	}
	var mu sync.Mutex
	var answers []answer
	var wg sync.WaitGroup
	for _, id := range desc.Voters {
		m, _ := desc.Replica(id)
		out.Voters = append(out.Voters, m.Node)
		wg.Go(func() {
			fr, err := r.forceRecover(ctx, m.Node, gid, true)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.Unreachable = append(out.Unreachable, m.Node)
				return
			}
			answers = append(answers, answer{m.Node, fr})
		})
	}
	wg.Wait()
	slices.Sort(out.Unreachable)
	if quorum := len(desc.Voters)/2 + 1; len(answers) >= quorum {
		return nil, status.Errorf(codes.FailedPrecondition,
			"partition %d still has a quorum (%d of its %d voters answer): unsafe recovery is only for a partition that lost it; for a dead node use remove",
			p, len(answers), len(desc.Voters))
	}
	if len(answers) == 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "partition %d: none of its voters %v answers: there is nothing to recover from; bring one back", p, out.Voters)
	}
	best := slices.MaxFunc(answers, func(a, b answer) int {
		return cmp.Or(cmp.Compare(a.fr.Applied, b.fr.Applied), cmp.Compare(a.fr.LastIndex, b.fr.LastIndex),
			cmp.Compare(b.node, a.node))
	})
	out.Survivor, out.Applied, out.LastIndex, out.Discarded = best.node, best.fr.Applied, best.fr.LastIndex, best.fr.Discarded
	if !req.GetConfirm() {
		return out, nil
	}
	fr, err := r.forceRecover(ctx, best.node, gid, false)
	if err != nil {
		return nil, status.Errorf(status.Code(err), "partition %d: recovering on %s: %s", p, best.node, status.Convert(err).Message())
	}
	out.Done, out.MembershipVersion = true, fr.MembershipVersion
	out.Applied, out.LastIndex, out.Discarded = fr.Applied, fr.LastIndex, fr.Discarded
	r.log.Warn("unsafe recovery: partition forced onto one replica", "partition", p, "survivor", best.node,
		"unreachable", out.Unreachable, "applied", out.Applied, "discarded", out.Discarded)
	return out, nil
}

// forceRecover calls ForceRecover on node (this one included).
func (r *Rebalancer) forceRecover(ctx context.Context, node string, gid replica.GroupID, dryRun bool) (Recovery, error) {
	p, err := r.node.Peer(node)
	if err != nil {
		return Recovery{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, forceRecoverTimeout)
	defer cancel()
	return p.ForceRecover(cctx, gid, dryRun)
}
