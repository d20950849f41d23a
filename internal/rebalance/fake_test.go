package rebalance

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNode is a node as the loops see it: a meta group it leads, whose
// ChangeMeta is a compare-and-swap on the fake's records, peers that
// answer unless silenced, and local replicas the test sets up.
type fakeNode struct {
	name     string
	settings cluster.Settings
	passes   chan struct{} // one send (if room) per ReadMeta: a pass began
	clk      clock.Clock   // stamps changedAt when set
	mu       struct {
		sync.Mutex
		meta      cluster.Meta
		leads     bool
		draining  bool
		silent    map[string]bool
		cut       map[string]bool
		descs     []replica.Descriptor
		missing   int
		leaders   map[replica.GroupID]string
		groups    map[replica.GroupID]*fakeGroup
		recovered map[string]Recovery  // ForceRecover's answer per node
		changes   []changeCall         // ChangeReplicas calls
		changedAt map[string]time.Time // by member: when ChangeMeta last wrote it, by clk
	}
}

type changeCall struct {
	node            string
	gid             replica.GroupID
	voters          []string
	expectedVersion uint64
}

func newFakeNode(name string, settings cluster.Settings, members ...cluster.Member) *fakeNode {
	f := &fakeNode{name: name, settings: settings, passes: make(chan struct{}, 100)}
	f.mu.meta = cluster.Meta{Members: sortMembers(members)}
	f.mu.leads = true
	f.mu.silent, f.mu.cut = map[string]bool{}, map[string]bool{}
	f.mu.leaders, f.mu.groups = map[replica.GroupID]string{}, map[replica.GroupID]*fakeGroup{}
	f.mu.recovered = map[string]Recovery{}
	f.mu.changedAt = map[string]time.Time{}
	return f
}

func sortMembers(ms []cluster.Member) []cluster.Member {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b cluster.Member) int { return strings.Compare(a.Name, b.Name) })
	return ms
}

func (f *fakeNode) lock() func() { f.mu.Lock(); return f.mu.Unlock }

func (f *fakeNode) setSilent(node string, silent bool) { defer f.lock()(); f.mu.silent[node] = silent }

func (f *fakeNode) setDescs(descs []replica.Descriptor, missing int) {
	defer f.lock()()
	f.mu.descs, f.mu.missing = descs, missing
}

func (f *fakeNode) state(node string) string {
	defer f.lock()()
	m, _ := f.mu.meta.Member(node)
	return m.StateOf()
}

func (f *fakeNode) Name() string    { return f.name }
func (f *fakeNode) Draining() bool  { defer f.lock()(); return f.mu.draining }
func (f *fakeNode) LeadsMeta() bool { defer f.lock()(); return f.mu.leads }
func (f *fakeNode) RefreshMeta()    {}

func (f *fakeNode) ReadMeta(context.Context) (cluster.Meta, bool, error) {
	select {
	case f.passes <- struct{}{}:
	default:
	}
	defer f.lock()()
	m := f.mu.meta
	m.Members = slices.Clone(m.Members)
	return m, true, nil
}

func (f *fakeNode) ChangeMeta(_ context.Context, change func(cluster.Meta) ([]cluster.Member, error)) (cluster.Meta, error) {
	defer f.lock()()
	cur := f.mu.meta
	cur.Members = slices.Clone(cur.Members)
	changed, err := change(cur)
	if err != nil || len(changed) == 0 {
		return cur, err
	}
	for _, c := range changed {
		i := slices.IndexFunc(cur.Members, func(m cluster.Member) bool { return m.Name == c.Name })
		cur.Members[i] = c
		if f.clk != nil {
			f.mu.changedAt[c.Name] = f.clk.Now()
		}
	}
	cur.Epoch++
	f.mu.meta = cur
	return cur, nil
}

func (f *fakeNode) View() (View, bool) {
	defer f.lock()()
	v := View{Epoch: f.mu.meta.Epoch, Members: slices.Clone(f.mu.meta.Members)}
	v.Target, v.Err = cluster.Targets(v.Members, f.settings)
	return v, true
}

func (f *fakeNode) Descriptors() ([]replica.Descriptor, int) {
	defer f.lock()()
	return slices.Clone(f.mu.descs), f.mu.missing
}

func (f *fakeNode) Route(gid replica.GroupID) (replica.Descriptor, string, bool) {
	defer f.lock()()
	for _, d := range f.mu.descs {
		if d.Group == gid {
			return d, f.mu.leaders[gid], true
		}
	}
	return replica.Descriptor{}, "", false
}

func (f *fakeNode) Groups() []replica.GroupID {
	defer f.lock()()
	var out []replica.GroupID
	for gid := range f.mu.groups {
		out = append(out, gid)
	}
	slices.Sort(out)
	return out
}

func (f *fakeNode) Group(gid replica.GroupID) (Group, bool) {
	defer f.lock()()
	g, ok := f.mu.groups[gid]
	if !ok {
		return nil, false
	}
	return g, true
}

func (f *fakeNode) Cut(node string) bool { defer f.lock()(); return f.mu.cut[node] }

func (f *fakeNode) Peer(node string) (Peer, error) { return fakePeer{f, node}, nil }

var errSilent = errors.New("fake: the node does not answer")

type fakePeer struct {
	f    *fakeNode
	node string
}

func (p fakePeer) Ping(context.Context) (string, error) {
	defer p.f.lock()()
	if p.f.mu.silent[p.node] {
		return "", errSilent
	}
	return p.node, nil
}

func (p fakePeer) ChangeReplicas(_ context.Context, gid replica.GroupID, voters []string, expectedVersion uint64) (uint64, error) {
	defer p.f.lock()()
	p.f.mu.changes = append(p.f.mu.changes, changeCall{p.node, gid, voters, expectedVersion})
	return expectedVersion + 1, nil
}

func (p fakePeer) ForceRecover(_ context.Context, gid replica.GroupID, dryRun bool) (Recovery, error) {
	defer p.f.lock()()
	rec, ok := p.f.mu.recovered[p.node]
	if !ok || p.f.mu.silent[p.node] {
		return Recovery{}, errSilent
	}
	if !dryRun {
		rec.MembershipVersion = 99
	}
	return rec, nil
}

// fakeGroup is a local replica with a set status.
type fakeGroup struct {
	mu        sync.Mutex
	st        replica.Status
	transfers []replica.ReplicaID
}

func (g *fakeGroup) Status() replica.Status { g.mu.Lock(); defer g.mu.Unlock(); return g.st }

func (g *fakeGroup) TransferLeader(_ context.Context, to replica.ReplicaID) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.transfers = append(g.transfers, to)
	return nil
}

// desc is a descriptor of gid at version with a voter on each node, IDs
// from 1 in order.
func desc(gid replica.GroupID, version uint64, nodes ...string) replica.Descriptor {
	d := replica.Descriptor{Group: gid, Version: version, NextReplicaID: replica.ReplicaID(len(nodes) + 1)}
	for i, n := range nodes {
		id := replica.ReplicaID(i + 1)
		d.Replicas = append(d.Replicas, replica.Member{ID: id, Node: n, Role: replica.RoleVoter})
		d.Voters = append(d.Voters, id)
	}
	return d
}

func members(names ...string) []cluster.Member {
	var out []cluster.Member
	for _, n := range names {
		out = append(out, cluster.Member{Name: n, Addr: n + ":7379"})
	}
	return out
}

var start = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// newTest returns a Rebalancer over f on a fake clock, with the timings
// of the node tests (elastic_test.go): a 1.5 s dead-after, 100 ms passes.
func newTest(f *fakeNode) (*Rebalancer, *clock.Fake) {
	clk := clock.NewFake(start)
	r := New(Config{Node: f, Clock: clk, Settings: f.settings, DeadAfter: 1500 * time.Millisecond, MaxConcurrentMoves: 1,
		RequestTimeout: 2 * time.Second, RebalanceInterval: 100 * time.Millisecond, LeaderBalanceInterval: 100 * time.Millisecond,
		RepairInterval: 100 * time.Millisecond})
	return r, clk
}
