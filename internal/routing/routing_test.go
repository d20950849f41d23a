package routing

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// fakeReplicas are a node's local replicas: statuses set by the test.
type fakeReplicas struct {
	mu      sync.Mutex
	st      map[replica.GroupID]replica.Status
	removed []replica.Descriptor // what RemoveStale was handed
}

func (f *fakeReplicas) Groups() []replica.GroupID {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []replica.GroupID
	for gid := range f.st {
		out = append(out, gid)
	}
	return out
}

func (f *fakeReplicas) Status(gid replica.GroupID) (replica.Status, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.st[gid]
	return st, ok
}

func (f *fakeReplicas) set(st replica.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st[st.Group] = st
}

// RemoveStale removes the local replica when desc is newer and does not
// name node "a" (the only node that holds replicas it can lose here).
func (f *fakeReplicas) RemoveStale(desc replica.Descriptor) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, desc)
	if st, ok := f.st[desc.Group]; ok && desc.Version > st.Descriptor.Version {
		if _, named := desc.ReplicaOn("a"); !named {
			delete(f.st, desc.Group)
			return true, nil
		}
	}
	return false, nil
}

type fakeMeta struct{}

func (fakeMeta) ReadLocal() (cluster.Meta, map[string]cluster.Advertised, bool, error) {
	return cluster.Meta{}, nil, false, nil
}
func (fakeMeta) SaveMembers(uint64, []cluster.Member) error { return nil }
func (fakeMeta) LoadMembers() (uint64, []cluster.Member, bool, error) {
	return 0, nil, false, nil
}

// fakePeers calls the other tables' SyncRoutes directly, and records every
// exchange.
type fakePeers struct {
	mu     sync.Mutex
	tables map[string]*Table
	calls  []exchange
}

type exchange struct {
	req  *cairnv1.SyncRoutesRequest
	resp *cairnv1.SyncRoutesResponse
}

func (p *fakePeers) SyncRoutes(ctx context.Context, node string, req *cairnv1.SyncRoutesRequest) (*cairnv1.SyncRoutesResponse, error) {
	req = proto.Clone(req).(*cairnv1.SyncRoutesRequest) // as if over the wire
	tb, ok := p.tables[node]
	if !ok {
		return nil, errors.New("unreachable")
	}
	resp, err := tb.SyncRoutes(ctx, req)
	if err != nil {
		return nil, err
	}
	resp = proto.Clone(resp).(*cairnv1.SyncRoutesResponse)
	p.mu.Lock()
	p.calls = append(p.calls, exchange{req, resp})
	p.mu.Unlock()
	return resp, nil
}

func (p *fakePeers) take() []exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.calls
	p.calls = nil
	return c
}

const partitions = 64

var testID = cluster.ID{1, 2, 3}

type fixture struct {
	peers    *fakePeers
	a, b     *Table
	ra, rb   *fakeReplicas
	regA     *prometheus.Registry
	members  []cluster.Member
	clk      *clock.Fake
	settings cluster.Settings
}

// newFixture: node b holds every group (term 2, b leads), node a holds
// group 9 only, at version 1, where b holds it at version 1 too.
func newFixture(t *testing.T) *fixture { return newFixtureOf(t, partitions) }

func newFixtureOf(t *testing.T, partitions int) *fixture {
	f := &fixture{peers: &fakePeers{tables: map[string]*Table{}}, clk: clock.NewFake(time.Unix(1e9, 0))}
	f.settings = cluster.DefaultSettings(3)
	f.settings.Partitions = partitions
	f.members = []cluster.Member{{Name: "a", Addr: "a:1"}, {Name: "b", Addr: "b:1"}, {Name: "c", Addr: "c:1"}}
	f.ra = &fakeReplicas{st: map[replica.GroupID]replica.Status{}}
	f.rb = &fakeReplicas{st: map[replica.GroupID]replica.Status{}}
	f.regA = prometheus.NewRegistry()
	mk := func(name string, r *fakeReplicas, reg prometheus.Registerer) *Table {
		tb := New(Config{Node: name, ClusterID: testID, Settings: f.settings, Replicas: r, Meta: fakeMeta{},
			Peers: f.peers, Clock: f.clk, Registry: reg})
		tb.LearnMeta(1, f.members, nil, true)
		f.peers.tables[name] = tb
		return tb
	}
	f.a, f.b = mk("a", f.ra, f.regA), mk("b", f.rb, nil)
	for gid := range partitions + 1 {
		f.rb.set(replica.Status{Group: replica.GroupID(gid), Term: 2, LeaderNode: "b", Descriptor: desc(replica.GroupID(gid), 1, "a", "b", "c")})
	}
	f.ra.set(replica.Status{Group: 9, Term: 2, LeaderNode: "b", Descriptor: desc(9, 1, "a", "b", "c")})
	// c answers nothing: it is not in fakePeers.tables, so leave it out of
	// the member list's peers by marking it removed.
	f.members[2].State = cluster.NodeRemoved
	f.a.LearnMeta(1, f.members, nil, true)
	f.b.LearnMeta(1, f.members, nil, true)
	return f
}

// desc is a descriptor of gid at version v whose voters are on nodes, with
// an engine section (a joint change's outgoing voters) that a lossy copy
// would drop.
func desc(gid replica.GroupID, v uint64, nodes ...string) replica.Descriptor {
	d := replica.Descriptor{Group: gid, Version: v, NextReplicaID: replica.ReplicaID(len(nodes) + 1)}
	for i, n := range nodes {
		id := replica.ReplicaID(i + 1)
		d.Replicas = append(d.Replicas, replica.Member{ID: id, Node: n, Role: replica.RoleVoter})
		d.Voters = append(d.Voters, id)
	}
	d.Engine = replica.JointConf{Outgoing: []replica.ReplicaID{1}}.Section()
	return d
}

func gossipBytes(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "cairn_routing_gossip_bytes_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no cairn_routing_gossip_bytes_total")
	return 0
}

// TestDeltaExchange: a node that knows nothing gets every entry; then a
// quiet exchange is the digest and an empty answer; then one changed
// descriptor is sent alone, byte-exact, and a stale local replica is
// removed with exactly that descriptor.
func TestDeltaExchange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	f.a.gossip(ctx)
	calls := f.peers.take()
	if len(calls) != 2 || !calls[0].resp.GetDiffers() || len(calls[1].req.GetVersions()) != partitions+1 {
		t.Fatalf("first sync: %d calls, want a digest that differs, then the versions", len(calls))
	}
	if got := len(calls[1].resp.GetRoutes()); got != partitions { // a already holds group 9 as new
		t.Fatalf("first sync sent %d entries, want %d", got, partitions)
	}
	for gid := range partitions + 1 {
		r, ok := f.a.Route(replica.GroupID(gid))
		want, _ := f.rb.Status(replica.GroupID(gid))
		if !ok || !reflect.DeepEqual(r.Desc, want.Descriptor) || r.Term != 2 || r.Leader != "b" {
			t.Fatalf("group %d: a has %+v, want %+v", gid, r, want.Descriptor)
		}
	}

	// Quiet: one call each way, the digest and an empty answer.
	before := gossipBytes(t, f.regA)
	f.a.gossip(ctx)
	f.b.gossip(ctx)
	calls = f.peers.take()
	if len(calls) != 2 {
		t.Fatalf("quiet round: %d calls, want 1 per node", len(calls))
	}
	for _, c := range calls {
		if len(c.req.GetVersions()) != 0 || proto.Size(c.resp) != 0 {
			t.Fatalf("quiet round sent versions (%d) or an answer of %d bytes", len(c.req.GetVersions()), proto.Size(c.resp))
		}
	}
	quiet := gossipBytes(t, f.regA) - before
	t.Logf("quiet round at %d partitions: request %d bytes, answer %d; a counted %v bytes (its call and b's)",
		partitions, proto.Size(calls[0].req), proto.Size(calls[0].resp), quiet)
	if quiet > 2*40 {
		t.Fatalf("a quiet round cost a %v bytes", quiet)
	}

	// One descriptor changes on b: group 9 moves off a (a learner joins
	// on d; a leaves). a gets it alone and removes its replica with it.
	moved := desc(9, 2, "b", "c", "d")
	moved.Learners = []replica.ReplicaID{3}
	moved.Voters = moved.Voters[:2]
	moved.Replicas[2].Role = replica.RoleLearner
	f.rb.set(replica.Status{Group: 9, Term: 2, LeaderNode: "b", Descriptor: moved})
	f.a.gossip(ctx)
	calls = f.peers.take()
	if len(calls) != 2 || !calls[0].resp.GetDiffers() {
		t.Fatalf("changed round: %d calls, want a digest that differs, then the versions", len(calls))
	}
	routes := calls[1].resp.GetRoutes()
	if len(routes) != 1 {
		t.Fatalf("changed round sent %d entries, want 1", len(routes))
	}
	if got, _ := replica.DecodeDescriptor(routes[0].GetEncoded()); !reflect.DeepEqual(got, moved) {
		t.Fatalf("sent %+v, want %+v", got, moved)
	}
	if r, _ := f.a.Route(9); !reflect.DeepEqual(r.Desc, moved) {
		t.Fatalf("a routes group 9 by %+v, want %+v", r.Desc, moved)
	}
	f.ra.mu.Lock()
	removed, held := f.ra.removed, f.ra.st[9]
	f.ra.mu.Unlock()
	if len(removed) == 0 || !reflect.DeepEqual(removed[len(removed)-1], moved) {
		t.Fatalf("RemoveStale was handed %+v, want the exact new descriptor", removed)
	}
	if held.Descriptor.Version != 0 {
		t.Fatal("a still holds group 9")
	}
}

// TestQuietCostIndependentOfPartitions: a quiet round is the same few
// bytes at 16 partitions and at 1024.
func TestQuietCostIndependentOfPartitions(t *testing.T) {
	var sizes []int
	for _, p := range []int{16, 256, 1024} {
		f := newFixtureOf(t, p)
		f.a.gossip(context.Background())
		f.peers.take()
		f.a.gossip(context.Background())
		calls := f.peers.take()
		if len(calls) != 1 || proto.Size(calls[0].resp) != 0 {
			t.Fatalf("%d partitions: a quiet round of %d calls", p, len(calls))
		}
		sizes = append(sizes, proto.Size(calls[0].req))
	}
	if sizes[0] != sizes[1] || sizes[1] != sizes[2] || sizes[0] > 32 {
		t.Fatalf("quiet requests of %v bytes at 16, 256, 1024 partitions", sizes)
	}
}

// TestMemberListGossip: a higher epoch travels with its records and
// addresses; an equal one is not sent.
func TestMemberListGossip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.a.gossip(ctx)
	f.peers.take()
	members := append(f.members, cluster.Member{Name: "d", Addr: "d:1", Zone: "z2", Capacity: 2, State: cluster.NodeJoining})
	adv := map[string]cluster.Advertised{"d": {GRPC: "d:1", HTTP: "d:2", Redis: "d:3"}}
	f.b.LearnMeta(2, members, adv, true)
	f.a.gossip(ctx)
	calls := f.peers.take()
	if len(calls) != 1 || len(calls[0].resp.GetMembers()) != len(members) {
		t.Fatalf("%d calls; want one answer with %d members", len(calls), len(members))
	}
	mv := f.a.Meta()
	if mv.Epoch != 2 || !reflect.DeepEqual(mv.Members, sortedByName(members)) || !reflect.DeepEqual(mv.Adv, adv) {
		t.Fatalf("a learned epoch %d, %+v, %+v", mv.Epoch, mv.Members, mv.Adv)
	}
	if addr, ok := f.a.Resolve("d"); !ok || addr != "d:1" {
		t.Fatalf("a resolves d to %q", addr)
	}
	f.a.gossip(ctx)
	if calls := f.peers.take(); len(calls[0].resp.GetMembers()) != 0 {
		t.Fatal("an equal epoch was sent again")
	}
}

// TestOtherCluster: a peer of another cluster is refused.
func TestOtherCluster(t *testing.T) {
	f := newFixture(t)
	_, err := f.b.SyncRoutes(context.Background(), &cairnv1.SyncRoutesRequest{ClusterId: []byte("other")})
	if err == nil {
		t.Fatal("gossip from another cluster was answered")
	}
}

// TestRunOnFakeClock: Run gossips at once and every other interval of
// the fake clock, and stops when told.
func TestRunOnFakeClock(t *testing.T) {
	f := newFixture(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { f.a.Run(stop, 500*time.Millisecond); close(done) }()
	waitCalls := func(want int) {
		t.Helper()
		for i := 0; i < 2000; i++ {
			f.peers.mu.Lock()
			n := len(f.peers.calls)
			f.peers.mu.Unlock()
			if n >= want {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("no gossip call %d", want)
	}
	waitCalls(2) // the first round: digest, then versions
	f.peers.take()
	for range 4 {
		f.clk.Advance(500 * time.Millisecond)
		time.Sleep(10 * time.Millisecond)
	}
	waitCalls(2) // two more rounds in 2 s: one quiet call each
	close(stop)
	<-done
	if calls := f.peers.take(); len(calls) != 2 {
		t.Fatalf("%d calls in two intervals of four, want 2", len(calls))
	}
}
