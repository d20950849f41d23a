package grpcapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/replica"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Consistency checks on demand (cairn admin verify): the node asked runs
// one check on each partition's leader, a few partitions at a time, and
// returns every verdict. The engine does the checking (replica.Group's
// CheckConsistency); the periodic checks (--consistency-check-interval)
// need nothing from the Admin service.

// verifyParallel bounds the partitions checked at once: every check makes
// each replica digest its state, one digest at a time per node.
const verifyParallel = 8

// Verify implements cairn.v1.Admin.
func (s *Admin) Verify(ctx context.Context, req *pb.VerifyRequest) (*pb.VerifyResponse, error) {
	partitions := s.n.Settings().Partitions
	parts := req.GetPartitions()
	if len(parts) == 0 {
		for p := range partitions {
			parts = append(parts, int32(p))
		}
	}
	for _, p := range parts {
		if p < 0 || int(p) >= partitions {
			return nil, status.Errorf(codes.InvalidArgument, "partition %d: must be 0 to %d", p, partitions-1)
		}
	}
	out := &pb.VerifyResponse{Partitions: make([]*pb.PartitionCheck, len(parts))}
	sem := make(chan struct{}, verifyParallel)
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out.Partitions[i] = s.checkPartition(ctx, int(p))
		}()
	}
	wg.Wait()
	return out, nil
}

// checkPartition runs one check of partition p on its leader, following
// the leader when it moves; a check that cannot run has verdict "error".
func (s *Admin) checkPartition(ctx context.Context, p int) *pb.PartitionCheck {
	gid := replica.GroupOf(p)
	var last error
	for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			_ = clock.SleepOn(ctx, s.clk, s.retryWait) // let the routes learn the new leader
		}
		leader := ""
		if _, l, ok := s.n.Route(gid); ok {
			leader = l
		}
		var pc *pb.PartitionCheck
		var err error
		switch {
		case leader == "":
			err = fmt.Errorf("partition %d has no known leader", p)
		case leader == s.n.Name():
			pc, err = s.checkLocal(ctx, gid)
		default:
			pc, err = s.checkRemote(ctx, leader, gid)
		}
		if err == nil {
			return pc
		}
		last = err
	}
	if last == nil {
		last = ctx.Err()
	}
	return &pb.PartitionCheck{Partition: int32(p), Group: uint64(gid), Verdict: "error", Error: last.Error()}
}

// checkRemote asks leader's node to check gid.
func (s *Admin) checkRemote(ctx context.Context, leader string, gid replica.GroupID) (*pb.PartitionCheck, error) {
	c, err := s.n.Conn(leader)
	if err != nil {
		return nil, fmt.Errorf("reaching %s, the leader of partition %d: %w", leader, gid.Partition(), err)
	}
	pc, err := pb.NewAdminClient(c).CheckGroup(s.n.PeerContext(ctx), &pb.CheckGroupRequest{Group: uint64(gid)})
	if err != nil {
		return nil, errors.New(status.Convert(err).Message())
	}
	return pc, nil
}

// CheckGroup implements cairn.v1.Admin: a check of a group this node
// leads. Only the nodes of this cluster call it.
func (s *Admin) CheckGroup(ctx context.Context, req *pb.CheckGroupRequest) (*pb.PartitionCheck, error) {
	if err := s.n.FromCluster(ctx, "CheckGroup"); err != nil {
		return nil, err
	}
	pc, err := s.checkLocal(ctx, replica.GroupID(req.GetGroup()))
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return pc, nil
}

// checkLocal runs a check of gid on the local replica, which must lead.
func (s *Admin) checkLocal(ctx context.Context, gid replica.GroupID) (*pb.PartitionCheck, error) {
	name := s.n.Name()
	g, ok := s.n.Group(gid)
	if !ok {
		return nil, fmt.Errorf("node %s holds no replica of partition %d", name, gid.Partition())
	}
	c, err := g.CheckConsistency(ctx)
	var nl *replica.ErrNotLeader
	switch {
	case errors.As(err, &nl):
		return nil, fmt.Errorf("node %s does not lead partition %d (leader: %q)", name, gid.Partition(), nl.HintNode)
	case err != nil:
		return nil, fmt.Errorf("partition %d: %w", gid.Partition(), err)
	}
	return checkProto(c, name), nil
}

func checkProto(c replica.Check, leader string) *pb.PartitionCheck {
	pc := &pb.PartitionCheck{Partition: int32(c.Group.Partition()), Group: uint64(c.Group), Leader: leader,
		Index: c.Index, Verdict: c.Verdict.String()}
	for _, r := range c.Replicas {
		rd := &pb.ReplicaDigest{Replica: uint64(r.Replica), Node: r.Node, Voter: r.Voter, Reported: r.Reported,
			Differs: r.Differs, Error: r.Err}
		if r.Reported && r.Err == "" {
			rd.Index, rd.Digest = r.Index, hex.EncodeToString(r.Digest[:])
		}
		pc.Replicas = append(pc.Replicas, rd)
	}
	return pc
}
