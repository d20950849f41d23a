package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// fakeAdminNode is an AdminNode of a 2-partition cluster whose meta
// records are held in memory.
type fakeAdminNode struct {
	name     string
	settings cluster.Settings
	mu       sync.Mutex
	leads    bool
	leader   string
	meta     cluster.Meta
	descs    []replica.Descriptor
	leaders  map[replica.GroupID]string
	groups   map[replica.GroupID]*fakeAdminGroup
	conns    map[string]*grpc.ClientConn
	// metaErr, when set, is ChangeMeta's error.
	metaErr error
	// missing is how many groups' descriptors Descriptors says are
	// unknown. NB: atomic, as ChangeMeta holds mu while change reads it.
	missing atomic.Int32
}

func newFakeAdminNode(name string, members ...string) *fakeAdminNode {
	f := &fakeAdminNode{name: name, leads: true, leaders: map[replica.GroupID]string{},
		groups: map[replica.GroupID]*fakeAdminGroup{}, conns: map[string]*grpc.ClientConn{},
		settings: cluster.Settings{Partitions: 2, Replicas: 3, Engine: cluster.EngineRaft, Hash: cluster.HashXXHash64, VNodes: 16, LoadFactor: 1.25}}
	for i, m := range members {
		f.meta.Members = append(f.meta.Members, cluster.Member{Name: m, Addr: fmt.Sprintf("127.0.0.1:%d", 7000+i)})
	}
	for gid := range replica.GroupID(f.settings.Partitions + 1) {
		d := replica.Descriptor{Group: gid, Version: 1}
		for i, m := range members {
			d.Replicas = append(d.Replicas, replica.Member{ID: replica.ReplicaID(i + 1), Node: m, Role: replica.RoleVoter})
			d.Voters = append(d.Voters, replica.ReplicaID(i+1))
		}
		f.descs = append(f.descs, d)
	}
	return f
}

func (f *fakeAdminNode) Name() string               { return f.name }
func (f *fakeAdminNode) Incarnation() uint64        { return 42 }
func (f *fakeAdminNode) ClusterID() string          { return "c1" }
func (f *fakeAdminNode) Settings() cluster.Settings { return f.settings }
func (f *fakeAdminNode) LeadsMeta() bool            { f.mu.Lock(); defer f.mu.Unlock(); return f.leads }
func (f *fakeAdminNode) MetaLeader() string         { f.mu.Lock(); defer f.mu.Unlock(); return f.leader }

func (f *fakeAdminNode) ChangeMeta(_ context.Context, change func(cluster.Meta) ([]cluster.Member, error)) (cluster.Meta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.metaErr != nil {
		return cluster.Meta{}, f.metaErr
	}
	changed, err := change(f.meta)
	if err != nil {
		return f.meta, err
	}
	for _, c := range changed {
		f.meta.Members = withMember(f.meta.Members, c)
	}
	if len(changed) > 0 {
		f.meta.Epoch++
	}
	return f.meta, nil
}

func (f *fakeAdminNode) Descriptors() ([]replica.Descriptor, int) {
	return f.descs, int(f.missing.Load())
}

func (f *fakeAdminNode) Route(gid replica.GroupID) (replica.Descriptor, string, bool) {
	if int(gid) >= len(f.descs) {
		return replica.Descriptor{}, "", false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.descs[gid], f.leaders[gid], true
}

func (f *fakeAdminNode) Group(gid replica.GroupID) (AdminGroup, bool) {
	g, ok := f.groups[gid]
	return g, ok
}

func (f *fakeAdminNode) UnsafeRecoverPlan(replica.GroupID) (replica.Recovery, error) {
	return replica.Recovery{}, replica.ErrHasLeader
}

func (f *fakeAdminNode) UnsafeRecover(replica.GroupID) (replica.Recovery, error) {
	return replica.Recovery{Applied: 7, LastIndex: 9, Discarded: 2, After: replica.Descriptor{Version: 5}}, nil
}

func (f *fakeAdminNode) Conn(node string) (grpc.ClientConnInterface, error) {
	if c, ok := f.conns[node]; ok {
		return c, nil
	}
	return nil, errors.New("no address known for node " + node)
}

func (f *fakeAdminNode) FromCluster(ctx context.Context, what string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get("test-cluster-id"); len(got) != 1 || got[0] != f.ClusterID() {
		return status.Errorf(codes.FailedPrecondition, "%s: not from this cluster", what)
	}
	return nil
}

func (f *fakeAdminNode) PeerContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "test-cluster-id", f.ClusterID())
}

type fakeAdminGroup struct {
	st    replica.Status
	check replica.Check
	err   error
}

func (g *fakeAdminGroup) Status() replica.Status { return g.st }
func (g *fakeAdminGroup) IsLeader() bool         { return g.st.State == replica.StateLeader }
func (g *fakeAdminGroup) ChangeMembers(context.Context, replica.Membership) error {
	return g.err
}
func (g *fakeAdminGroup) CheckConsistency(context.Context) (replica.Check, error) {
	return g.check, g.err
}
func (g *fakeAdminGroup) TransferLeader(_ context.Context, to replica.ReplicaID) error {
	if g.err != nil {
		return g.err
	}
	g.st.Leader, g.st.State = to, replica.StateFollower
	return nil
}

type fakeRebalancer struct{ leader string }

func (r fakeRebalancer) Status() *pb.StatusResponse { return &pb.StatusResponse{MetaLeader: r.leader} }
func (r fakeRebalancer) UnsafeRecover(context.Context, *pb.UnsafeRecoverRequest) (*pb.UnsafeRecoverResponse, error) {
	return nil, status.Error(codes.FailedPrecondition, "partition 0 still has a quorum")
}

func newTestAdmin(f *fakeAdminNode) *Admin {
	return NewAdmin(AdminConfig{Node: f, Rebalancer: fakeRebalancer{leader: f.name}, CheckRetryWait: time.Millisecond})
}

// serveAdmin serves a on a loopback port and returns a connection to it.
func serveAdmin(t *testing.T, a *Admin) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	a.Register(gs)
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(lis) }()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		gs.Stop()
		<-done
	})
	return cc
}

func wantStatus(t *testing.T, err error, code codes.Code, substr string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), substr) {
		t.Fatalf("err = %v, want %v containing %q", err, code, substr)
	}
}

// A node that does not lead the meta group passes a call on to the
// leader once, and says why when it cannot.
func TestAdminPassesOnToMetaLeader(t *testing.T) {
	leader := newFakeAdminNode("n1", "n1", "n2")
	follower := newFakeAdminNode("n2", "n1", "n2")
	follower.leads = false
	fa := newTestAdmin(follower)
	ctx := ctxT(t)

	_, err := fa.Status(ctx, &pb.StatusRequest{})
	wantStatus(t, err, codes.Unavailable, "node n2 cannot reach the meta group: it knows no leader of it (meta group on [n1 n2])")

	follower.leader = "n1"
	_, err = fa.Status(ctx, &pb.StatusRequest{})
	wantStatus(t, err, codes.Unavailable, "node n2 cannot reach the meta group's leader n1: no address known for node n1")

	follower.conns["n1"] = serveAdmin(t, newTestAdmin(leader))
	st, err := fa.Status(ctx, &pb.StatusRequest{})
	if err != nil || st.GetMetaLeader() != "n1" {
		t.Fatalf("status through n2 = %v, %v; want the leader n1's", st, err)
	}

	// Passed on once only: a leader that lost the meta group meanwhile
	// does not pass it on again.
	leader.leads, leader.leader = false, "n2"
	_, err = fa.Status(ctx, &pb.StatusRequest{})
	wantStatus(t, err, codes.Unavailable, "node n2 cannot reach the meta group's leader n1: node n1 does not lead the meta group either (its leader is n2)")
}

func TestAdminJoinRefusals(t *testing.T) {
	f := newFakeAdminNode("n1", "n1", "n2", "n3")
	a := newTestAdmin(f)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name   string
		req    *pb.JoinRequest
		code   codes.Code
		substr string
	}{
		{"bad name", &pb.JoinRequest{Name: "n 9", GrpcAddr: "127.0.0.1:9"}, codes.InvalidArgument, "join refused"},
		{"bad address", &pb.JoinRequest{Name: "n9", GrpcAddr: "nowhere"}, codes.InvalidArgument, `address "nowhere": want host:port`},
		{"settings differ", &pb.JoinRequest{Name: "n9", GrpcAddr: "127.0.0.1:9", Settings: &pb.ClusterSettings{Partitions: 64, Engine: "paxos"}},
			codes.FailedPrecondition, "--partitions 64 differs from the cluster's 2 (drop the flag: a joining node takes the cluster's settings)\n--engine paxos differs"},
		{"name taken", &pb.JoinRequest{Name: "n2", GrpcAddr: "127.0.0.1:9"}, codes.AlreadyExists, "the name n2 is taken"},
		{"address taken", &pb.JoinRequest{Name: "n9", GrpcAddr: "127.0.0.1:7001"}, codes.AlreadyExists, "address 127.0.0.1:7001 belongs to member n2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Join(ctx, tc.req)
			wantStatus(t, err, tc.code, tc.substr)
		})
	}
}

func TestAdminJoin(t *testing.T) {
	f := newFakeAdminNode("n1", "n1", "n2", "n3")
	a := newTestAdmin(f)
	ctx := ctxT(t)
	dry, err := a.Join(ctx, &pb.JoinRequest{Name: "n4", GrpcAddr: "127.0.0.1:9", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.GetMembers()) != 4 || f.meta.Epoch != 0 || dry.GetClusterId() != "c1" || dry.GetSettings().GetPartitions() != 2 {
		t.Fatalf("dry run: %v (epoch %d), want 4 members and nothing changed", dry, f.meta.Epoch)
	}
	resp, err := a.Join(ctx, &pb.JoinRequest{Name: "n4", GrpcAddr: "127.0.0.1:9", Capacity: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := f.meta.Member("n4")
	if len(resp.GetMembers()) != 4 || f.meta.Epoch != 1 || m.State != cluster.NodeJoining || m.Capacity != 0 {
		t.Fatalf("join: %v, member %+v (epoch %d), want n4 joining with the default capacity", resp, m, f.meta.Epoch)
	}
	// The same node asking again (its answer lost) is told the same.
	if _, err := a.Join(ctx, &pb.JoinRequest{Name: "n4", GrpcAddr: "127.0.0.1:9"}); err != nil {
		t.Fatalf("join again: %v", err)
	}
}

func TestAdminDrainRemove(t *testing.T) {
	f := newFakeAdminNode("n1", "n1", "n2", "n3", "n4")
	a := newTestAdmin(f)
	ctx := ctxT(t)
	_, err := a.Drain(ctx, &pb.NodeRequest{Node: "n7"})
	wantStatus(t, err, codes.NotFound, `no member is named "n7"`)

	plan, err := a.Drain(ctx, &pb.NodeRequest{Node: "n4", DryRun: true})
	if err != nil || plan.GetState() != cluster.NodeUp || plan.GetMetaLeader() != "n1" || f.meta.Epoch != 0 {
		t.Fatalf("dry-run drain: %v, %v; want state up, nothing changed", plan, err)
	}
	if plan, err = a.Drain(ctx, &pb.NodeRequest{Node: "n4"}); err != nil || plan.GetState() != cluster.NodeDraining {
		t.Fatalf("drain: %v, %v", plan, err)
	}
	if m, _ := f.meta.Member("n4"); m.State != cluster.NodeDraining {
		t.Fatalf("n4 is %q after the drain", m.State)
	}
	// With n4 draining, removing n2 too would leave 2 nodes for 3 replicas.
	_, err = a.Remove(ctx, &pb.NodeRequest{Node: "n2"})
	wantStatus(t, err, codes.FailedPrecondition, "removal of n2 refused, nothing changed: cluster: too few nodes")
	if plan, err = a.Remove(ctx, &pb.NodeRequest{Node: "n4"}); err != nil || plan.GetState() != cluster.NodeRemoved {
		t.Fatalf("remove n4: %v, %v", plan, err)
	}
	if _, err := a.Remove(ctx, &pb.NodeRequest{Node: "n4"}); err != nil {
		t.Fatalf("remove n4 again: %v, want done already", err)
	}
	_, err = a.Drain(ctx, &pb.NodeRequest{Node: "n4"})
	wantStatus(t, err, codes.FailedPrecondition, "n4 is already removed")

	f.metaErr = fmt.Errorf("reading: %w", ErrNotMetaLeader)
	_, err = a.Remove(ctx, &pb.NodeRequest{Node: "n3"})
	wantStatus(t, err, codes.Unavailable, "does not lead the meta group")
	f.metaErr = context.DeadlineExceeded
	_, err = a.Remove(ctx, &pb.NodeRequest{Node: "n3"})
	wantStatus(t, err, codes.DeadlineExceeded, "deadline exceeded")
	f.metaErr = errors.New("disk on fire")
	_, err = a.Remove(ctx, &pb.NodeRequest{Node: "n3"})
	wantStatus(t, err, codes.Aborted, "disk on fire")
}

// The node-to-node calls are served only with this cluster's ID.
func TestAdminPeerCallsNeedClusterID(t *testing.T) {
	f := newFakeAdminNode("n1", "n1", "n2", "n3")
	f.groups[1] = &fakeAdminGroup{st: replica.Status{Descriptor: replica.Descriptor{Version: 3}}}
	cc := serveAdmin(t, newTestAdmin(f))
	c := pb.NewAdminClient(cc)
	ctx := ctxT(t)
	_, err := c.ChangeReplicas(ctx, &pb.ChangeReplicasRequest{Group: 1})
	wantStatus(t, err, codes.FailedPrecondition, "ChangeReplicas: not from this cluster")
	_, err = c.ForceRecover(ctx, &pb.ForceRecoverRequest{Group: 1})
	wantStatus(t, err, codes.FailedPrecondition, "ForceRecover: not from this cluster")
	_, err = c.CheckGroup(ctx, &pb.CheckGroupRequest{Group: 1})
	wantStatus(t, err, codes.FailedPrecondition, "CheckGroup: not from this cluster")

	peer := f.PeerContext(ctx)
	_, err = c.ChangeReplicas(peer, &pb.ChangeReplicasRequest{Group: 1, ExpectedVersion: 2})
	wantStatus(t, err, codes.FailedPrecondition, "group 1: the move was planned from membership version 2; the group is at 3 now")
	_, err = c.ChangeReplicas(peer, &pb.ChangeReplicasRequest{Group: 2})
	wantStatus(t, err, codes.FailedPrecondition, "node n1 holds no replica of group 2")
	cr, err := c.ChangeReplicas(peer, &pb.ChangeReplicasRequest{Group: 1, ExpectedVersion: 3, Voters: []string{"n1"}})
	if err != nil || cr.GetMembershipVersion() != 3 {
		t.Fatalf("ChangeReplicas: %v, %v", cr, err)
	}
	dry, err := c.ForceRecover(peer, &pb.ForceRecoverRequest{Group: 1, DryRun: true})
	if err != nil || dry.GetApplied() != 0 {
		t.Fatalf("dry-run ForceRecover of a replica with a leader: %v, %v; want an answer", dry, err)
	}
	done, err := c.ForceRecover(peer, &pb.ForceRecoverRequest{Group: 1})
	if err != nil || done.GetApplied() != 7 || done.GetDiscarded() != 2 || done.GetMembershipVersion() != 5 {
		t.Fatalf("ForceRecover: %v, %v", done, err)
	}
	ping, err := c.Ping(ctx, &pb.PingRequest{})
	if err != nil || ping.GetNode() != "n1" || ping.GetIncarnation() != 42 {
		t.Fatalf("Ping: %v, %v", ping, err)
	}
}

// Verify checks each partition on its leader: here, locally for
// partition 0, remotely on n2 for partition 1.
func TestAdminVerify(t *testing.T) {
	n1 := newFakeAdminNode("n1", "n1", "n2")
	n2 := newFakeAdminNode("n2", "n1", "n2")
	digest := [32]byte{0xab}
	n1.groups[1] = &fakeAdminGroup{check: replica.Check{Group: 1, Index: 10, Verdict: replica.VerdictAgree,
		Replicas: []replica.CheckReplica{{Replica: 1, Node: "n1", Voter: true, Reported: true, Index: 10, Digest: digest}}}}
	n2.groups[2] = &fakeAdminGroup{err: &replica.ErrNotLeader{Group: 2, HintNode: "n1"}}
	n1.leaders[1], n1.leaders[2] = "n1", "n2"
	n1.conns["n2"] = serveAdmin(t, newTestAdmin(n2))
	a := newTestAdmin(n1)
	ctx := ctxT(t)

	_, err := a.Verify(ctx, &pb.VerifyRequest{Partitions: []int32{2}})
	wantStatus(t, err, codes.InvalidArgument, "partition 2: must be 0 to 1")

	resp, err := a.Verify(ctx, &pb.VerifyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	p0, p1 := resp.GetPartitions()[0], resp.GetPartitions()[1]
	if p0.GetVerdict() != "agree" || p0.GetLeader() != "n1" || p0.GetReplicas()[0].GetDigest() != fmt.Sprintf("ab%062x", 0) {
		t.Fatalf("partition 0: %v", p0)
	}
	if p1.GetVerdict() != "error" || p1.GetError() != `node n2 does not lead partition 1 (leader: "n1")` {
		t.Fatalf("partition 1: %v", p1)
	}
	n1.leaders[2] = ""
	resp, err = a.Verify(ctx, &pb.VerifyRequest{Partitions: []int32{1}})
	if err != nil || resp.GetPartitions()[0].GetError() != "partition 1 has no known leader" {
		t.Fatalf("verify of a partition without a leader: %v, %v", resp, err)
	}
}

// A drain waits up to 5 s (by the Admin's clock) for the meta leader to
// learn every descriptor, then refuses; one learned meanwhile goes ahead.
func TestAdminDrainWaitsForDescriptors(t *testing.T) {
	f := newFakeAdminNode("n1", "n1", "n2", "n3", "n4")
	f.missing.Store(2)
	clk := clock.NewFake(time.Unix(1000, 0))
	a := NewAdmin(AdminConfig{Node: f, Rebalancer: fakeRebalancer{}, Clock: clk})
	// drain answers a dry-run drain of n4, advancing the fake clock by
	// 100 ms every real millisecond meanwhile, and says how far it moved.
	drain := func(during func(waited time.Duration)) (error, time.Duration) {
		start := clk.Monotonic()
		errc := make(chan error, 1)
		go func() {
			_, err := a.Drain(ctxT(t), &pb.NodeRequest{Node: "n4", DryRun: true})
			errc <- err
		}()
		for {
			select {
			case err := <-errc:
				return err, clk.Monotonic() - start
			case <-time.After(time.Millisecond):
				clk.Advance(100 * time.Millisecond)
				if during != nil {
					during(clk.Monotonic() - start)
				}
			}
		}
	}
	err, waited := drain(nil)
	wantStatus(t, err, codes.Aborted, "refused: the descriptors of 2 groups are not known yet; retry in a few seconds")
	if waited < descriptorWait {
		t.Fatalf("refused after %v of the clock, want %v", waited, descriptorWait)
	}

	err, waited = drain(func(waited time.Duration) {
		if waited >= time.Second {
			f.missing.Store(0)
		}
	})
	if err != nil || waited >= descriptorWait {
		t.Fatalf("drain once every descriptor is known: %v after %v", err, waited)
	}
}

// WAIT's count is the leader's: asked here when this node leads, else once
// of the leader's node.
func TestAdminReplicatedAt(t *testing.T) {
	ctx := context.Background()
	n1, n2 := newFakeAdminNode("n1", "n1", "n2", "n3"), newFakeAdminNode("n2", "n1", "n2", "n3")
	gid := replica.GroupOf(0)
	n1.groups[gid] = &fakeAdminGroup{st: replica.Status{Group: gid, Replica: 1, State: replica.StateLeader, Commit: 10,
		Progress: map[replica.ReplicaID]replica.PeerProgress{1: {Match: 10}, 2: {Match: 10}, 3: {Match: 4}}}}
	a1, a2 := newTestAdmin(n1), newTestAdmin(n2)
	if got, err := a1.ReplicatedAt(ctx, 0, 1); err != nil || got != 1 {
		t.Fatalf("on the leader: %d %v, want 1", got, err)
	}
	if _, err := a2.ReplicatedAt(ctx, 0, 1); !errors.Is(err, replica.ErrNotApplied) {
		t.Fatalf("no known leader: %v", err)
	}
	n2.conns["n1"] = serveAdmin(t, a1)
	n2.leaders[gid] = "n1"
	if got, err := a2.ReplicatedAt(ctx, 0, 1); err != nil || got != 1 {
		t.Fatalf("through the leader's node: %d %v, want 1", got, err)
	}
	n1.groups[gid].st.State = replica.StateFollower // the leader moved
	if got, err := a2.ReplicatedAt(ctx, 0, 1); err != nil || got != 0 {
		t.Fatalf("after the leader moved: %d %v, want 0", got, err)
	}
}
