package rebalance

import (
	"context"

	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
)

// AdminPeer is node's Admin service over conn, as the loops call it;
// peerContext marks the calls that only nodes of the cluster may make
// (ChangeReplicas, ForceRecover) with this cluster's ID.
func AdminPeer(conn grpc.ClientConnInterface, peerContext func(context.Context) context.Context) Peer {
	return adminPeer{c: cairnv1.NewAdminClient(conn), peerContext: peerContext}
}

type adminPeer struct {
	c           cairnv1.AdminClient
	peerContext func(context.Context) context.Context
}

func (p adminPeer) Ping(ctx context.Context) (string, error) {
	resp, err := p.c.Ping(ctx, &cairnv1.PingRequest{})
	return resp.GetNode(), err
}

func (p adminPeer) ChangeReplicas(ctx context.Context, gid replica.GroupID, voters []string, expectedVersion uint64) (uint64, error) {
	resp, err := p.c.ChangeReplicas(p.peerContext(ctx),
		&cairnv1.ChangeReplicasRequest{Group: uint64(gid), Voters: voters, ExpectedVersion: expectedVersion})
	return resp.GetMembershipVersion(), err
}

func (p adminPeer) ForceRecover(ctx context.Context, gid replica.GroupID, dryRun bool) (Recovery, error) {
	resp, err := p.c.ForceRecover(p.peerContext(ctx), &cairnv1.ForceRecoverRequest{Group: uint64(gid), DryRun: dryRun})
	if err != nil {
		return Recovery{}, err
	}
	return Recovery{Applied: resp.GetApplied(), LastIndex: resp.GetLastIndex(), Discarded: resp.GetDiscarded(),
		MembershipVersion: resp.GetMembershipVersion()}, nil
}
