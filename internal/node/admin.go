package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// adminServer serves cairn.v1.Admin (DESIGN.md, Membership and failure).
// Join, Drain, Remove and Status are answered by the meta group's leader;
// any other node passes them on to it, and says so when it cannot.
type adminServer struct {
	cairnv1.UnimplementedAdminServer
	n *Node
	// changing holds the groups with a ChangeReplicas running here.
	changing sync.Map
}

// onMetaLeader runs local on the meta leader, or passes the call to it.
func onMetaLeader[Req, Resp any](ctx context.Context, n *Node, req Req, local func(context.Context, Req) (Resp, error),
	remote func(cairnv1.AdminClient, context.Context, Req, ...grpc.CallOption) (Resp, error)) (Resp, error) {
	var zero Resp
	if n.leadsMeta() {
		return local(ctx, req)
	}
	leader := n.metaLeader() // the local replica's view when it is the newest
	if leader == "" || leader == n.cfg.Name {
		return zero, status.Errorf(codes.Unavailable, "node %s cannot reach the meta group: it knows no leader of it (meta group on %s); retry, or ask another node",
			n.cfg.Name, n.metaNodes())
	}
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(adminHopHeader)) > 0 {
		return zero, status.Errorf(codes.Unavailable, "node %s does not lead the meta group either (its leader is %s): the leadership is moving; retry", n.cfg.Name, leader)
	}
	conn, err := n.conn(leader)
	if err != nil {
		return zero, status.Errorf(codes.Unavailable, "node %s cannot reach the meta group's leader %s: %v", n.cfg.Name, leader, err)
	}
	resp, err := remote(cairnv1.NewAdminClient(conn), metadata.AppendToOutgoingContext(ctx, adminHopHeader, n.cfg.Name), req)
	if err != nil && status.Code(err) == codes.Unavailable {
		return zero, status.Errorf(codes.Unavailable, "node %s cannot reach the meta group's leader %s: %v", n.cfg.Name, leader, status.Convert(err).Message())
	}
	return resp, err
}

// adminHopHeader marks an admin call passed on by another node, so a call
// is passed on at most once.
const adminHopHeader = "cairn-admin-hop"

// metaNodes names the meta group's replicas as far as this node knows.
func (n *Node) metaNodes() string {
	if r, ok := n.route(0); ok {
		var names []string
		for _, m := range r.Desc.Replicas {
			names = append(names, m.Node)
		}
		return fmt.Sprint(names)
	}
	return "unknown nodes"
}

func (s *adminServer) Join(ctx context.Context, req *cairnv1.JoinRequest) (*cairnv1.JoinResponse, error) {
	return onMetaLeader(ctx, s.n, req, s.join, cairnv1.AdminClient.Join)
}

func (s *adminServer) Drain(ctx context.Context, req *cairnv1.NodeRequest) (*cairnv1.PlanResponse, error) {
	return onMetaLeader(ctx, s.n, req, func(ctx context.Context, req *cairnv1.NodeRequest) (*cairnv1.PlanResponse, error) {
		return s.setState(ctx, req, cluster.NodeDraining)
	}, cairnv1.AdminClient.Drain)
}

func (s *adminServer) Remove(ctx context.Context, req *cairnv1.NodeRequest) (*cairnv1.PlanResponse, error) {
	return onMetaLeader(ctx, s.n, req, func(ctx context.Context, req *cairnv1.NodeRequest) (*cairnv1.PlanResponse, error) {
		return s.setState(ctx, req, cluster.NodeRemoved)
	}, cairnv1.AdminClient.Remove)
}

func (s *adminServer) Status(ctx context.Context, req *cairnv1.StatusRequest) (*cairnv1.StatusResponse, error) {
	return onMetaLeader(ctx, s.n, req, func(context.Context, *cairnv1.StatusRequest) (*cairnv1.StatusResponse, error) {
		return s.n.rebalancer.Status(), nil
	}, cairnv1.AdminClient.Status)
}

func (s *adminServer) Ping(context.Context, *cairnv1.PingRequest) (*cairnv1.PingResponse, error) {
	return &cairnv1.PingResponse{Node: s.n.cfg.Name, Incarnation: s.n.id.Incarnation}, nil
}

// join adds a new member in state joining (the rebalancer marks it up
// when it answers) after checking its name, address and settings.
func (s *adminServer) join(ctx context.Context, req *cairnv1.JoinRequest) (*cairnv1.JoinResponse, error) {
	n := s.n
	nm := cluster.Member{Name: req.GetName(), Addr: req.GetGrpcAddr(), Capacity: req.GetCapacity(), Zone: req.GetZone(), State: cluster.NodeJoining}
	if nm.Capacity == 1 {
		nm.Capacity = 0
	}
	if err := validJoin(nm); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "join refused: %v", err)
	}
	if err := settingsMatch(req.GetSettings(), n.id.Settings); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "join refused: %v", err)
	}
	var moves []cluster.Move
	m, err := n.changeMeta(ctx, func(m cluster.Meta) ([]cluster.Member, error) {
		for _, old := range m.Members {
			switch {
			case old.Name == nm.Name && old.StateOf() == cluster.NodeJoining && old.Addr == nm.Addr:
				// The same node asking again (its first answer was lost).
			case old.Name == nm.Name:
				return nil, status.Errorf(codes.AlreadyExists, "join refused: the name %s is taken (a member in state %s at %s); names are never reused, pick another --name",
					nm.Name, old.StateOf(), old.Addr)
			case old.Addr == nm.Addr && old.StateOf() != cluster.NodeRemoved:
				return nil, status.Errorf(codes.AlreadyExists, "join refused: address %s belongs to member %s (state %s)", nm.Addr, old.Name, old.StateOf())
			}
		}
		after := withMember(m.Members, nm)
		var err error
		if moves, err = n.plan(after); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "join refused: %v", err)
		}
		if req.GetDryRun() {
			return nil, nil
		}
		return []cluster.Member{nm}, nil
	})
	if err != nil {
		return nil, adminError(err)
	}
	resp := &cairnv1.JoinResponse{ClusterId: n.id.ClusterID.String(), Settings: cluster.SettingsProto(n.id.Settings), Moves: cluster.MovesProto(moves)}
	members := m.Members
	if req.GetDryRun() {
		members = withMember(members, nm)
	} else {
		n.log.Info("node joined", "joiner", nm.Name, "addr", nm.Addr, "moves", len(moves))
	}
	for _, mem := range members {
		resp.Members = append(resp.Members, cluster.MemberProto(mem))
	}
	return resp, nil
}

// setState drains (NodeDraining) or removes (NodeRemoved) a member.
func (s *adminServer) setState(ctx context.Context, req *cairnv1.NodeRequest, state string) (*cairnv1.PlanResponse, error) {
	n := s.n
	n.awaitDescriptors(ctx)
	var moves []cluster.Move
	m, err := n.changeMeta(ctx, func(m cluster.Meta) ([]cluster.Member, error) {
		old, ok := m.Member(req.GetNode())
		if !ok {
			return nil, status.Errorf(codes.NotFound, "no member is named %q", req.GetNode())
		}
		if old.StateOf() == cluster.NodeRemoved {
			if state == cluster.NodeRemoved {
				return nil, nil // asked again: done already
			}
			return nil, status.Errorf(codes.FailedPrecondition, "%s is already removed", old.Name)
		}
		if state == cluster.NodeDraining && old.StateOf() == cluster.NodeDown {
			return nil, status.Errorf(codes.FailedPrecondition, "%s is down: its replicas cannot be moved off it; use remove for a node that is gone for good", old.Name)
		}
		nm := old
		nm.State = state
		after := withMember(m.Members, nm)
		descs, missing := n.descriptorsKnown()
		if missing > 0 {
			return nil, status.Errorf(codes.Aborted, "refused: the descriptors of %d groups are not known yet; retry in a few seconds", missing)
		}
		if err := cluster.CheckLive(descs, after, n.id.Settings, replica.LivenessOf(n.id.Settings.Engine)); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "%s %s refused, nothing changed: %v", verb(state), old.Name, err)
		}
		var err error
		if moves, err = n.plan(after); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "%s %s refused, nothing changed: %v", verb(state), old.Name, err)
		}
		if req.GetDryRun() || old.StateOf() == state {
			return nil, nil
		}
		return []cluster.Member{nm}, nil
	})
	if err != nil {
		return nil, adminError(err)
	}
	st := state
	if req.GetDryRun() {
		if old, ok := m.Member(req.GetNode()); ok {
			st = old.StateOf()
		}
	} else {
		n.log.Info("member state changed by an operator", "member", req.GetNode(), "state", state, "moves", len(moves))
	}
	return &cairnv1.PlanResponse{Moves: cluster.MovesProto(moves), MetaLeader: n.cfg.Name, State: st}, nil
}

// descriptorWait bounds how long a drain or removal waits for the meta
// leader to know every group's descriptor before it refuses.
const descriptorWait = 5 * time.Second

// awaitDescriptors waits, up to descriptorWait or ctx's end, until this
// node knows every group's descriptor: a node that has just become the
// meta leader learns them by gossip within a few seconds, and an
// operator's drain should not be refused for that.
func (n *Node) awaitDescriptors(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, descriptorWait)
	defer cancel()
	for {
		if _, missing := n.descriptorsKnown(); missing == 0 {
			return
		}
		if clock.Sleep(ctx, 100*time.Millisecond) != nil {
			return
		}
	}
}

func verb(state string) string {
	if state == cluster.NodeDraining {
		return "drain of"
	}
	return "removal of"
}

// plan is every move that taking members as the member list causes, from
// the groups' descriptors as known now.
func (n *Node) plan(members []cluster.Member) ([]cluster.Move, error) {
	t, err := cluster.Targets(members, n.id.Settings)
	if err != nil {
		return nil, err
	}
	descs, _ := n.descriptorsKnown()
	return cluster.PlanMoves(descs, t, members), nil
}

func withMember(ms []cluster.Member, m cluster.Member) []cluster.Member {
	out := slices.Clone(ms)
	if i := slices.IndexFunc(out, func(x cluster.Member) bool { return x.Name == m.Name }); i >= 0 {
		out[i] = m
	} else {
		out = append(out, m)
	}
	return out
}

func validJoin(m cluster.Member) error {
	if err := cluster.ValidName(m.Name); err != nil {
		return err
	}
	if host, port, err := net.SplitHostPort(m.Addr); err != nil || host == "" || port == "" {
		return fmt.Errorf("address %q: want host:port", m.Addr)
	}
	if m.Capacity != 0 {
		if err := cluster.ValidCapacity(m.Capacity); err != nil {
			return err
		}
	}
	return cluster.ValidZone(m.Zone)
}

// settingsMatch compares the settings a joiner gave explicitly (non-zero
// fields) with the cluster's.
func settingsMatch(p *cairnv1.ClusterSettings, s cluster.Settings) error {
	var errs []error
	diff := func(flag string, given, have any) {
		errs = append(errs, fmt.Errorf("--%s %v differs from the cluster's %v (drop the flag: a joining node takes the cluster's settings)", flag, given, have))
	}
	if v := int(p.GetPartitions()); v != 0 && v != s.Partitions {
		diff(cluster.FlagPartitions, v, s.Partitions)
	}
	if v := int(p.GetReplicas()); v != 0 && v != s.Replicas {
		diff(cluster.FlagReplicas, v, s.Replicas)
	}
	if v := p.GetEngine(); v != "" && v != s.Engine {
		diff(cluster.FlagEngine, v, s.Engine)
	}
	if v := int(p.GetVnodes()); v != 0 && v != s.VNodes {
		diff(cluster.FlagVNodes, v, s.VNodes)
	}
	if v := p.GetLoadFactor(); v != 0 && v != s.LoadFactor {
		diff(cluster.FlagLoadFactor, v, s.LoadFactor)
	}
	return errors.Join(errs...)
}

// adminError maps errors to gRPC statuses, keeping those already made.
func adminError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	var nml errNotMetaLeader
	if errors.As(err, &nml) {
		return status.Error(codes.Unavailable, err.Error())
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Aborted, err.Error())
}

// ChangeReplicas brings a group this node leads to the voters asked for.
// Only other nodes of the cluster (the rebalancer) may call it.
func (s *adminServer) ChangeReplicas(ctx context.Context, req *cairnv1.ChangeReplicasRequest) (*cairnv1.ChangeReplicasResponse, error) {
	n := s.n
	if err := n.fromCluster(ctx, "ChangeReplicas"); err != nil {
		return nil, err
	}
	gid := replica.GroupID(req.GetGroup())
	g, ok := n.host.Group(gid)
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "node %s holds no replica of group %d", n.cfg.Name, gid)
	}
	if v := req.GetExpectedVersion(); v != 0 && g.Status().Descriptor.Version != v {
		return nil, status.Errorf(codes.FailedPrecondition, "group %d: the move was planned from membership version %d; the group is at %d now",
			gid, v, g.Status().Descriptor.Version)
	}
	if _, busy := s.changing.LoadOrStore(gid, true); busy {
		return nil, status.Errorf(codes.Aborted, "group %d: a membership change is already running on %s", gid, n.cfg.Name)
	}
	defer s.changing.Delete(gid)
	var target replica.Membership
	for _, v := range req.GetVoters() {
		target.Members = append(target.Members, replica.Member{Node: v, Role: replica.RoleVoter})
	}
	err := g.ChangeMembers(ctx, target)
	var nl *replica.ErrNotLeader
	switch {
	case errors.As(err, &nl):
		return nil, status.Errorf(codes.FailedPrecondition, "node %s does not lead group %d (leader: %q)", n.cfg.Name, gid, nl.HintNode)
	case err != nil:
		return nil, status.Errorf(codes.Aborted, "group %d: %v", gid, err)
	}
	return &cairnv1.ChangeReplicasResponse{MembershipVersion: g.Status().Descriptor.Version}, nil
}

// join asks the cluster at cfg.Join to add this new node, and creates its
// identity from the answer.
func join(cfg Config, store storage.Store, log *slog.Logger) (*cluster.Identity, error) {
	conn, err := grpc.NewClient(cfg.Join, transport.DialOptions()...)
	if err != nil {
		return nil, fmt.Errorf("--join %s: %w", cfg.Join, err)
	}
	defer conn.Close()
	settings, err := cluster.ExplicitSettings(cfg.Settings, cfg.Explicit)
	if err != nil {
		return nil, err
	}
	req := &cairnv1.JoinRequest{Name: cfg.Name, GrpcAddr: cfg.AdvertiseGRPC, Capacity: cfg.Capacity, Zone: cfg.Zone,
		Settings: settings}
	var resp *cairnv1.JoinResponse
	deadline := time.Now().Add(joinTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err = cairnv1.NewAdminClient(conn).Join(ctx, req)
		cancel()
		if err == nil {
			break
		}
		if c := status.Code(err); (c != codes.Unavailable && c != codes.DeadlineExceeded) || time.Now().After(deadline) {
			return nil, fmt.Errorf("--join %s: %s", cfg.Join, status.Convert(err).Message())
		}
		log.Warn("join: the cluster is not answering yet; retrying", "join", cfg.Join, "err", status.Convert(err).Message())
		time.Sleep(time.Second)
	}
	id, err := cluster.ParseID(resp.GetClusterId())
	if err != nil {
		return nil, fmt.Errorf("--join %s: %w", cfg.Join, err)
	}
	s := cluster.SettingsOf(resp.GetSettings())
	var members []cluster.Member
	for _, m := range resp.GetMembers() {
		if m.GetState() == cluster.NodeRemoved {
			continue
		}
		members = append(members, cluster.Member{Name: m.GetName(), Addr: m.GetGrpcAddr(), Capacity: m.GetCapacity(), Zone: m.GetZone()})
	}
	ident, err := cluster.CreateJoined(store, cluster.JoinOptions{Name: cfg.Name, ClusterID: id, Settings: s, Members: members})
	if err != nil {
		return nil, err
	}
	log.Info("joined the cluster", "cluster_id", id, "via", cfg.Join, "moves_planned", len(resp.GetMoves()))
	return ident, nil
}

// joinTimeout bounds how long a joining node retries a cluster that does
// not answer.
const joinTimeout = time.Minute
