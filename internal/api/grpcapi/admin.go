package grpcapi

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
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ErrNotMetaLeader is what AdminNode.ChangeMeta's error is (errors.Is)
// when this node does not lead the meta group: the Admin service answers
// it UNAVAILABLE, so that the caller retries. It is cluster's.
var ErrNotMetaLeader = cluster.ErrNotMetaLeader

// AdminNode is the node as the Admin service sees it: its identity, the
// meta group, what it knows of every group's routes, its own replicas and
// the connections to its peers. internal/node implements it.
type AdminNode interface {
	// Name is this node's name; Incarnation its incarnation (Ping).
	Name() string
	Incarnation() uint64
	// ClusterID is the cluster's ID, as a joining node is told it.
	ClusterID() string
	// Settings are the cluster's, fixed at its creation.
	Settings() cluster.Settings
	// LeadsMeta reports whether this node leads the meta group now (a
	// cheap check); MetaLeader is the meta group's leader as far as this
	// node knows ("" when unknown).
	LeadsMeta() bool
	MetaLeader() string
	// ChangeMeta makes one membership change on the meta leader (this
	// node), as a compare-and-swap (rebalance.Meta's ChangeMeta); its error
	// is ErrNotMetaLeader (errors.Is) when this node does not lead.
	ChangeMeta(ctx context.Context, change func(cluster.Meta) ([]cluster.Member, error)) (cluster.Meta, error)
	// Descriptors is every group's descriptor as known here, and how many
	// groups' descriptors are not known yet.
	Descriptors() (descs []replica.Descriptor, missing int)
	// Route is group gid's descriptor and its leader's node ("" when
	// unknown); ok is false when nothing is known of the group.
	Route(gid replica.GroupID) (desc replica.Descriptor, leader string, ok bool)
	// Group is this node's replica of gid.
	Group(gid replica.GroupID) (AdminGroup, bool)
	// UnsafeRecoverPlan and UnsafeRecover are replica.Host's: what a forced
	// recovery of the local replica of gid would keep and drop, and doing it.
	UnsafeRecoverPlan(gid replica.GroupID) (replica.Recovery, error)
	UnsafeRecover(gid replica.GroupID) (replica.Recovery, error)
	// Conn is a connection to node's gRPC server.
	Conn(node string) (grpc.ClientConnInterface, error)
	// FromCluster refuses (FAILED_PRECONDITION, naming what) a call that
	// does not carry this cluster's ID, as PeerContext adds it: only the
	// nodes of the cluster may call ChangeReplicas, ForceRecover and
	// CheckGroup.
	FromCluster(ctx context.Context, what string) error
	PeerContext(ctx context.Context) context.Context
}

// AdminGroup is a local replica as the Admin service uses it
// (replica.Group has these methods).
type AdminGroup interface {
	Status() replica.Status
	IsLeader() bool
	ChangeMembers(ctx context.Context, target replica.Membership) error
	CheckConsistency(ctx context.Context) (replica.Check, error)
	TransferLeader(ctx context.Context, to replica.ReplicaID) error
}

// Rebalancer answers the Admin calls that the meta leader's rebalancer
// serves (*rebalance.Rebalancer). Both run on the meta leader; the errors
// of UnsafeRecover are gRPC statuses.
type Rebalancer interface {
	Status() *pb.StatusResponse
	UnsafeRecover(ctx context.Context, req *pb.UnsafeRecoverRequest) (*pb.UnsafeRecoverResponse, error)
}

// AdminConfig configures an Admin service.
type AdminConfig struct {
	// Node is the node behind the service. Required.
	Node AdminNode
	// Rebalancer serves Status and UnsafeRecover. Required.
	Rebalancer Rebalancer
	// Logger receives the membership changes an operator made. Nil:
	// discard.
	Logger *slog.Logger
	// Clock times the waits: a drain's wait for every descriptor and
	// Verify's before asking a leader again. Nil: the real clock.
	Clock clock.Clock
	// CheckRetryWait is how long Verify waits before asking a partition's
	// leader again after a check could not run there, so that the routes
	// learn a new leader. 0: DefaultCheckRetryWait.
	CheckRetryWait time.Duration
}

// DefaultCheckRetryWait is AdminConfig.CheckRetryWait's default: five
// ticks of the default 100 ms, about an election's worth.
const DefaultCheckRetryWait = 500 * time.Millisecond

// Admin serves cairn.v1.Admin (DESIGN.md, Membership and failure).
// Join, Drain, Remove, Status and UnsafeRecover are answered by the meta
// group's leader; any other node passes them on to it, and says so when it
// cannot.
type Admin struct {
	pb.UnimplementedAdminServer
	n   AdminNode
	r   Rebalancer
	log *slog.Logger
	clk clock.Clock
	// retryWait is AdminConfig.CheckRetryWait.
	retryWait time.Duration
	// changing holds the groups with a ChangeReplicas running here.
	changing sync.Map
}

// NewAdmin returns the Admin service for cfg. It panics if cfg.Node or
// cfg.Rebalancer is nil (a programming error).
func NewAdmin(cfg AdminConfig) *Admin {
	if cfg.Node == nil || cfg.Rebalancer == nil {
		panic("grpcapi: AdminConfig.Node and Rebalancer are required")
	}
	a := &Admin{n: cfg.Node, r: cfg.Rebalancer, log: cfg.Logger, clk: cfg.Clock, retryWait: cfg.CheckRetryWait}
	if a.clk == nil {
		a.clk = clock.Real{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.retryWait <= 0 {
		a.retryWait = DefaultCheckRetryWait
	}
	return a
}

// Register adds the Admin service to r.
func (s *Admin) Register(r grpc.ServiceRegistrar) { pb.RegisterAdminServer(r, s) }

// onMetaLeader runs local on the meta leader, or passes the call to it.
func onMetaLeader[Req, Resp any](ctx context.Context, n AdminNode, req Req, local func(context.Context, Req) (Resp, error),
	remote func(pb.AdminClient, context.Context, Req, ...grpc.CallOption) (Resp, error)) (Resp, error) {
	var zero Resp
	if n.LeadsMeta() {
		return local(ctx, req)
	}
	leader := n.MetaLeader() // the local replica's view when it is the newest
	if leader == "" || leader == n.Name() {
		return zero, status.Errorf(codes.Unavailable, "node %s cannot reach the meta group: it knows no leader of it (meta group on %s); retry, or ask another node",
			n.Name(), metaNodes(n))
	}
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(adminHopHeader)) > 0 {
		return zero, status.Errorf(codes.Unavailable, "node %s does not lead the meta group either (its leader is %s): the leadership is moving; retry", n.Name(), leader)
	}
	conn, err := n.Conn(leader)
	if err != nil {
		return zero, status.Errorf(codes.Unavailable, "node %s cannot reach the meta group's leader %s: %v", n.Name(), leader, err)
	}
	// NB: the caller's credentials go along, so the meta leader judges the
	// caller, not this node (a node is never a user).
	out := metadata.AppendToOutgoingContext(ctx, adminHopHeader, n.Name())
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for _, k := range []string{"authorization", "cairn-join-token"} {
			for _, v := range md.Get(k) {
				out = metadata.AppendToOutgoingContext(out, k, v)
			}
		}
	}
	resp, err := remote(pb.NewAdminClient(conn), out, req)
	if err != nil && status.Code(err) == codes.Unavailable {
		return zero, status.Errorf(codes.Unavailable, "node %s cannot reach the meta group's leader %s: %v", n.Name(), leader, status.Convert(err).Message())
	}
	return resp, err
}

// adminHopHeader marks an admin call passed on by another node, so a call
// is passed on at most once.
const adminHopHeader = "cairn-admin-hop"

// metaNodes names the meta group's replicas as far as n knows.
func metaNodes(n AdminNode) string {
	if d, _, ok := n.Route(0); ok {
		var names []string
		for _, m := range d.Replicas {
			names = append(names, m.Node)
		}
		return fmt.Sprint(names)
	}
	return "unknown nodes"
}

func (s *Admin) Join(ctx context.Context, req *pb.JoinRequest) (*pb.JoinResponse, error) {
	return onMetaLeader(ctx, s.n, req, s.join, pb.AdminClient.Join)
}

func (s *Admin) Drain(ctx context.Context, req *pb.NodeRequest) (*pb.PlanResponse, error) {
	return onMetaLeader(ctx, s.n, req, func(ctx context.Context, req *pb.NodeRequest) (*pb.PlanResponse, error) {
		return s.setState(ctx, req, cluster.NodeDraining)
	}, pb.AdminClient.Drain)
}

func (s *Admin) Remove(ctx context.Context, req *pb.NodeRequest) (*pb.PlanResponse, error) {
	return onMetaLeader(ctx, s.n, req, func(ctx context.Context, req *pb.NodeRequest) (*pb.PlanResponse, error) {
		return s.setState(ctx, req, cluster.NodeRemoved)
	}, pb.AdminClient.Remove)
}

func (s *Admin) Status(ctx context.Context, req *pb.StatusRequest) (*pb.StatusResponse, error) {
	return onMetaLeader(ctx, s.n, req, func(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
		return s.r.Status(), nil
	}, pb.AdminClient.Status)
}

func (s *Admin) Ping(context.Context, *pb.PingRequest) (*pb.PingResponse, error) {
	return &pb.PingResponse{Node: s.n.Name(), Incarnation: s.n.Incarnation()}, nil
}

// join adds a new member in state joining (the rebalancer marks it up
// when it answers) after checking its name, address and settings.
func (s *Admin) join(ctx context.Context, req *pb.JoinRequest) (*pb.JoinResponse, error) {
	n := s.n
	nm := cluster.Member{Name: req.GetName(), Addr: req.GetGrpcAddr(), Capacity: req.GetCapacity(), Zone: req.GetZone(), State: cluster.NodeJoining}
	if nm.Capacity == 1 {
		nm.Capacity = 0
	}
	if err := validJoin(nm); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "join refused: %v", err)
	}
	if err := settingsMatch(req.GetSettings(), n.Settings()); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "join refused: %v", err)
	}
	var moves []cluster.Move
	m, err := n.ChangeMeta(ctx, func(m cluster.Meta) ([]cluster.Member, error) {
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
		if moves, err = s.plan(after); err != nil {
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
	resp := &pb.JoinResponse{ClusterId: n.ClusterID(), Settings: cluster.SettingsProto(n.Settings()), Moves: cluster.MovesProto(moves)}
	members := m.Members
	if req.GetDryRun() {
		members = withMember(members, nm)
	} else {
		s.log.Info("node joined", "joiner", nm.Name, "addr", nm.Addr, "moves", len(moves))
	}
	for _, mem := range members {
		resp.Members = append(resp.Members, cluster.MemberProto(mem))
	}
	return resp, nil
}

// setState drains (NodeDraining) or removes (NodeRemoved) a member.
func (s *Admin) setState(ctx context.Context, req *pb.NodeRequest, state string) (*pb.PlanResponse, error) {
	n := s.n
	s.awaitDescriptors(ctx)
	var moves []cluster.Move
	m, err := n.ChangeMeta(ctx, func(m cluster.Meta) ([]cluster.Member, error) {
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
		descs, missing := n.Descriptors()
		if missing > 0 {
			return nil, status.Errorf(codes.Aborted, "refused: the descriptors of %d groups are not known yet; retry in a few seconds", missing)
		}
		settings := n.Settings()
		if err := cluster.CheckLive(descs, after, settings, replica.LivenessOf(settings.Engine)); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "%s %s refused, nothing changed: %v", verb(state), old.Name, err)
		}
		var err error
		if moves, err = s.plan(after); err != nil {
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
		s.log.Info("member state changed by an operator", "member", req.GetNode(), "state", state, "moves", len(moves))
	}
	return &pb.PlanResponse{Moves: cluster.MovesProto(moves), MetaLeader: n.Name(), State: st}, nil
}

// descriptorWait bounds how long a drain or removal waits for the meta
// leader to know every group's descriptor before it refuses.
const descriptorWait = 5 * time.Second

// awaitDescriptors waits, up to descriptorWait or ctx's end, until the
// node knows every group's descriptor: a node that has just become the
// meta leader learns them by gossip within a few seconds, and an
// operator's drain should not be refused for that.
func (s *Admin) awaitDescriptors(ctx context.Context) {
	deadline := s.clk.Monotonic() + descriptorWait
	for {
		if _, missing := s.n.Descriptors(); missing == 0 {
			return
		}
		if s.clk.Monotonic() >= deadline || clock.SleepOn(ctx, s.clk, 100*time.Millisecond) != nil {
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
func (s *Admin) plan(members []cluster.Member) ([]cluster.Move, error) {
	t, err := cluster.Targets(members, s.n.Settings())
	if err != nil {
		return nil, err
	}
	descs, _ := s.n.Descriptors()
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
func settingsMatch(p *pb.ClusterSettings, s cluster.Settings) error {
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
	if v := p.GetPbMode(); v != "" && v != s.PBMode {
		diff(cluster.FlagPBMode, v, orNone(s.PBMode))
	}
	if v := int(p.GetPbMinInSync()); v != 0 && v != s.PBMinInSync {
		diff(cluster.FlagPBMinInSync, v, s.PBMinInSync)
	}
	if v := time.Duration(p.GetPbMaxLagNs()); v != 0 && v != s.PBMaxLag {
		diff(cluster.FlagPBMaxLag, v, s.PBMaxLag)
	}
	if v := time.Duration(p.GetPbLeaseNs()); v != 0 && v != s.PBLease {
		diff(cluster.FlagPBLease, v, s.PBLease)
	}
	return errors.Join(errs...)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// adminError maps errors to gRPC statuses, keeping those already made.
func adminError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, ErrNotMetaLeader) {
		return status.Error(codes.Unavailable, err.Error())
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Aborted, err.Error())
}

// ChangeReplicas brings a group this node leads to the voters asked for.
// Only other nodes of the cluster (the rebalancer) may call it.
func (s *Admin) ChangeReplicas(ctx context.Context, req *pb.ChangeReplicasRequest) (*pb.ChangeReplicasResponse, error) {
	n := s.n
	if err := n.FromCluster(ctx, "ChangeReplicas"); err != nil {
		return nil, err
	}
	gid := replica.GroupID(req.GetGroup())
	g, ok := n.Group(gid)
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "node %s holds no replica of group %d", n.Name(), gid)
	}
	if v := req.GetExpectedVersion(); v != 0 && g.Status().Descriptor.Version != v {
		return nil, status.Errorf(codes.FailedPrecondition, "group %d: the move was planned from membership version %d; the group is at %d now",
			gid, v, g.Status().Descriptor.Version)
	}
	if _, busy := s.changing.LoadOrStore(gid, true); busy {
		return nil, status.Errorf(codes.Aborted, "group %d: a membership change is already running on %s", gid, n.Name())
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
		return nil, status.Errorf(codes.FailedPrecondition, "node %s does not lead group %d (leader: %q)", n.Name(), gid, nl.HintNode)
	case err != nil:
		return nil, status.Errorf(codes.Aborted, "group %d: %v", gid, err)
	}
	return &pb.ChangeReplicasResponse{MembershipVersion: g.Status().Descriptor.Version}, nil
}

// Unsafe recovery (DESIGN.md, Membership and failure) is orchestrated on
// the meta leader by internal/rebalance (Rebalancer.UnsafeRecover); each
// voter's node answers its ForceRecover here.

func (s *Admin) UnsafeRecover(ctx context.Context, req *pb.UnsafeRecoverRequest) (*pb.UnsafeRecoverResponse, error) {
	return onMetaLeader(ctx, s.n, req, s.r.UnsafeRecover, pb.AdminClient.UnsafeRecover)
}

// ForceRecover makes this node's replica of a group its only voter (or,
// with dry_run, says how far it has applied). Only the meta leader of this
// cluster calls it.
func (s *Admin) ForceRecover(ctx context.Context, req *pb.ForceRecoverRequest) (*pb.ForceRecoverResponse, error) {
	n := s.n
	if err := n.FromCluster(ctx, "ForceRecover"); err != nil {
		return nil, err
	}
	gid := replica.GroupID(req.GetGroup())
	var rec replica.Recovery
	var err error
	if req.GetDryRun() {
		// A replica that still knows a leader answers too: the caller
		// counts who answers to tell whether the quorum is gone.
		if rec, err = n.UnsafeRecoverPlan(gid); errors.Is(err, replica.ErrHasLeader) {
			err = nil
		}
	} else {
		rec, err = n.UnsafeRecover(gid)
	}
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%s: %v", n.Name(), err)
	}
	return &pb.ForceRecoverResponse{Applied: rec.Applied, Commit: rec.Commit, LastIndex: rec.LastIndex,
		Discarded: rec.Discarded, MembershipVersion: rec.After.Version}, nil
}
