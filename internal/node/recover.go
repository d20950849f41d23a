package node

import (
	"context"
	"errors"

	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Unsafe recovery (DESIGN.md, Membership and failure) is orchestrated on
// the meta leader by internal/rebalance (Rebalancer.UnsafeRecover); each
// voter's node answers its ForceRecover here.

func (s *adminServer) UnsafeRecover(ctx context.Context, req *cairnv1.UnsafeRecoverRequest) (*cairnv1.UnsafeRecoverResponse, error) {
	return onMetaLeader(ctx, s.n, req, s.n.rebalancer.UnsafeRecover, cairnv1.AdminClient.UnsafeRecover)
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
