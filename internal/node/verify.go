package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Consistency checks on demand (cairn admin verify): the node asked runs
// one check on each partition's leader, a few partitions at a time, and
// returns every verdict. The engine does the checking (replica.Group's
// CheckConsistency); the periodic checks (--consistency-check-interval)
// need nothing from the node.

// verifyParallel bounds the partitions checked at once: every check makes
// each replica digest its state, one digest at a time per node.
const verifyParallel = 8

// Verify implements cairn.v1.Admin.
func (s *adminServer) Verify(ctx context.Context, req *cairnv1.VerifyRequest) (*cairnv1.VerifyResponse, error) {
	n := s.n
	parts := req.GetPartitions()
	if len(parts) == 0 {
		for p := range n.Partitions() {
			parts = append(parts, int32(p))
		}
	}
	for _, p := range parts {
		if p < 0 || int(p) >= n.Partitions() {
			return nil, status.Errorf(codes.InvalidArgument, "partition %d: must be 0 to %d", p, n.Partitions()-1)
		}
	}
	out := &cairnv1.VerifyResponse{Partitions: make([]*cairnv1.PartitionCheck, len(parts))}
	sem := make(chan struct{}, verifyParallel)
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out.Partitions[i] = n.checkPartition(ctx, int(p))
		}()
	}
	wg.Wait()
	return out, nil
}

// checkPartition runs one check of partition p on its leader, following
// the leader when it moves; a check that cannot run has verdict "error".
func (n *Node) checkPartition(ctx context.Context, p int) *cairnv1.PartitionCheck {
	gid := replica.GroupID(cluster.GroupOf(p))
	var last error
	for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			select { // let the routes learn the new leader
			case <-ctx.Done():
			case <-time.After(n.cfg.TickInterval * 5):
			}
		}
		leader := ""
		if r, ok := n.route(gid); ok {
			leader = r.Leader
		}
		var pc *cairnv1.PartitionCheck
		var err error
		switch {
		case leader == "":
			err = fmt.Errorf("partition %d has no known leader", p)
		case leader == n.cfg.Name:
			pc, err = n.checkLocal(ctx, gid)
		default:
			pc, err = n.checkRemote(ctx, leader, gid)
		}
		if err == nil {
			return pc
		}
		last = err
	}
	if last == nil {
		last = ctx.Err()
	}
	return &cairnv1.PartitionCheck{Partition: int32(p), Group: uint64(gid), Verdict: "error", Error: last.Error()}
}

// checkRemote asks leader's node to check gid.
func (n *Node) checkRemote(ctx context.Context, leader string, gid replica.GroupID) (*cairnv1.PartitionCheck, error) {
	c, err := n.conn(leader)
	if err != nil {
		return nil, fmt.Errorf("reaching %s, the leader of partition %d: %w", leader, gid.Partition(), err)
	}
	pc, err := cairnv1.NewAdminClient(c).CheckGroup(metadata.AppendToOutgoingContext(ctx, forwardClusterHeader, n.id.ClusterID.String()),
		&cairnv1.CheckGroupRequest{Group: uint64(gid)})
	if err != nil {
		return nil, errors.New(status.Convert(err).Message())
	}
	return pc, nil
}

// CheckGroup implements cairn.v1.Admin: a check of a group this node
// leads. Only the nodes of this cluster call it.
func (s *adminServer) CheckGroup(ctx context.Context, req *cairnv1.CheckGroupRequest) (*cairnv1.PartitionCheck, error) {
	if err := s.n.fromCluster(ctx, "CheckGroup"); err != nil {
		return nil, err
	}
	pc, err := s.n.checkLocal(ctx, replica.GroupID(req.GetGroup()))
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return pc, nil
}

// checkLocal runs a check of gid on the local replica, which must lead.
func (n *Node) checkLocal(ctx context.Context, gid replica.GroupID) (*cairnv1.PartitionCheck, error) {
	g, ok := n.host.Group(gid)
	if !ok {
		return nil, fmt.Errorf("node %s holds no replica of partition %d", n.cfg.Name, gid.Partition())
	}
	c, err := g.CheckConsistency(ctx)
	var nl *replica.ErrNotLeader
	switch {
	case errors.As(err, &nl):
		return nil, fmt.Errorf("node %s does not lead partition %d (leader: %q)", n.cfg.Name, gid.Partition(), nl.HintNode)
	case err != nil:
		return nil, fmt.Errorf("partition %d: %w", gid.Partition(), err)
	}
	return checkProto(c, n.cfg.Name), nil
}

func checkProto(c replica.Check, leader string) *cairnv1.PartitionCheck {
	pc := &cairnv1.PartitionCheck{Partition: int32(c.Group.Partition()), Group: uint64(c.Group), Leader: leader,
		Index: c.Index, Verdict: c.Verdict.String()}
	for _, r := range c.Replicas {
		rd := &cairnv1.ReplicaDigest{Replica: uint64(r.Replica), Node: r.Node, Voter: r.Voter, Reported: r.Reported,
			Differs: r.Differs, Error: r.Err}
		if r.Reported && r.Err == "" {
			rd.Index, rd.Digest = r.Index, hex.EncodeToString(r.Digest[:])
		}
		pc.Replicas = append(pc.Replicas, rd)
	}
	return pc
}
