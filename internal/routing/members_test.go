package routing

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/kv/kvtest"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// metaReplica is a fake local replica of the meta group: the kv state
// machine over an in-memory store, seeded as founding seeds it.
type metaReplica struct {
	mu     sync.Mutex
	state  *kvtest.Group
	index  uint64
	status replica.Status
	// meanwhile, when set, runs once before the next proposal applies (a
	// change made by someone else between the read and the write).
	meanwhile func()
}

func newMetaReplica(t *testing.T, members []cluster.Member, s cluster.Settings) *metaReplica {
	t.Helper()
	r := &metaReplica{state: kvtest.NewGroup(0),
		status: replica.Status{Group: 0, State: replica.StateLeader, LeaderNode: "a", Descriptor: desc(0, 1, "a", "b", "c")}}
	if err := r.state.Seed(cluster.MetaSeed(testID, members, s)); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.index, err = r.state.Applied(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *metaReplica) Status() replica.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

func (r *metaReplica) IsLeader() bool { return r.Status().State == replica.StateLeader }

func (r *metaReplica) Read(_ context.Context, _ replica.ReadMode, fn func(storage.View) error) error {
	return r.state.View(fn)
}

func (r *metaReplica) Propose(_ context.Context, cmd []byte) ([]byte, uint64, error) {
	r.mu.Lock()
	f := r.meanwhile
	r.meanwhile = nil
	r.mu.Unlock()
	if f != nil {
		f()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.index++
	res, err := r.state.Apply(kv.Entry{Index: r.index, Term: 1, Time: 1, Data: cmd})
	return res, r.index, err
}

// metaTable is a table on node a whose local replica of the meta group is
// r (none when r is nil), reading the member list from its store.
func metaTable(t *testing.T, r *metaReplica, s cluster.Settings) *Table {
	group := func() (MetaGroup, bool) {
		if r == nil {
			return nil, false
		}
		return r, true
	}
	store := storage.NewMem()
	if r != nil {
		store = r.state.Store()
	}
	return New(Config{Node: "a", ClusterID: testID, Settings: s, Replicas: &fakeReplicas{st: map[replica.GroupID]replica.Status{}},
		Meta: StoreMeta(store, group), MetaGroup: group, Peers: &fakePeers{}, Clock: clock.NewFake(time.Unix(1e9, 0))})
}

func founders() []cluster.Member {
	return []cluster.Member{{Name: "a", Addr: "a:1"}, {Name: "b", Addr: "b:1"}, {Name: "c", Addr: "c:1"}}
}

func markDown(node string) func(cluster.Meta) ([]cluster.Member, error) {
	return func(m cluster.Meta) ([]cluster.Member, error) {
		for _, x := range m.Members {
			if x.Name == node {
				x.State = cluster.NodeDown
				return []cluster.Member{x}, nil
			}
		}
		return nil, nil
	}
}

// ChangeMeta on the meta leader writes under the epoch it read, retries
// when someone else changed the list meanwhile, and refreshes the view.
func TestChangeMeta(t *testing.T) {
	s := cluster.DefaultSettings(3)
	s.Partitions = 4
	r := newMetaReplica(t, founders(), s)
	tb := metaTable(t, r, s)
	if err := tb.InitMeta(nil); err != nil {
		t.Fatal(err)
	}
	if mv := tb.Meta(); mv == nil || len(mv.Members) != 3 {
		t.Fatalf("the local replica's list was not read: %+v", mv)
	}
	start := tb.Meta().Epoch
	if !tb.LeadsMeta() {
		t.Fatal("LeadsMeta false on the meta leader")
	}
	ctx := context.Background()
	// Someone else marks b down between the read and the write: the
	// first proposal fails its condition, and the change is computed
	// again from the new list.
	r.meanwhile = func() {
		if _, err := tb.ChangeMeta(ctx, markDown("b")); err != nil {
			t.Errorf("the change meanwhile: %v", err)
		}
	}
	calls := 0
	m, err := tb.ChangeMeta(ctx, func(m cluster.Meta) ([]cluster.Member, error) {
		calls++
		return markDown("c")(m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("change computed %d times, want 2 (once more after the conflict)", calls)
	}
	if m.Epoch != start+2 {
		t.Fatalf("epoch %d after two changes from %d", m.Epoch, start)
	}
	read, ok, err := tb.ReadMeta(ctx)
	if err != nil || !ok || read.Epoch != m.Epoch {
		t.Fatalf("ReadMeta: epoch %d ok %v %v, want %d", read.Epoch, ok, err, m.Epoch)
	}
	mv := tb.Meta()
	for _, name := range []string{"b", "c"} {
		if x, _ := mv.Member(name); mv.Epoch != m.Epoch || x.StateOf() != cluster.NodeDown {
			t.Fatalf("view at epoch %d has %s %s, want down at %d", mv.Epoch, name, x.StateOf(), m.Epoch)
		}
	}
	// A change of nothing writes nothing.
	if m2, err := tb.ChangeMeta(ctx, func(cluster.Meta) ([]cluster.Member, error) { return nil, nil }); err != nil || m2.Epoch != m.Epoch {
		t.Fatalf("empty change: epoch %d %v", m2.Epoch, err)
	}
}

func TestChangeMetaNotLeader(t *testing.T) {
	s := cluster.DefaultSettings(3)
	r := newMetaReplica(t, founders(), s)
	r.status.State, r.status.LeaderNode = replica.StateFollower, "b"
	tb := metaTable(t, r, s)
	_, err := tb.ChangeMeta(context.Background(), markDown("c"))
	if !errors.Is(err, cluster.ErrNotMetaLeader) || !strings.Contains(err.Error(), "b does") {
		t.Fatalf("on a follower: %v, want ErrNotMetaLeader naming b", err)
	}
	// No replica: the leader as routes know it.
	tb = metaTable(t, nil, s)
	tb.observe(0, Route{Desc: desc(0, 1, "a", "b", "c"), Term: 3, Leader: "c"})
	_, err = tb.ChangeMeta(context.Background(), markDown("b"))
	if !errors.Is(err, cluster.ErrNotMetaLeader) || !strings.Contains(err.Error(), "c does") {
		t.Fatalf("without a replica: %v, want ErrNotMetaLeader naming c", err)
	}
	if _, ok, err := tb.ReadMeta(context.Background()); ok || err != nil {
		t.Fatalf("ReadMeta without a replica: ok %v %v", ok, err)
	}
}

// InitMeta without a local meta replica: the list saved at the last
// change, else the founders.
func TestInitMetaWithoutReplica(t *testing.T) {
	s := cluster.DefaultSettings(3)
	tb := metaTable(t, nil, s)
	if err := tb.InitMeta(founders()); err != nil {
		t.Fatal(err)
	}
	if mv := tb.Meta(); mv.Epoch != 0 || len(mv.Members) != 3 {
		t.Fatalf("from founders: epoch %d, %d members", mv.Epoch, len(mv.Members))
	}
	saved := append(founders(), cluster.Member{Name: "d", Addr: "d:1"})
	tb.LearnMeta(5, saved, nil, false) // a change: saved in the store
	again := New(tb.cfg)
	if err := again.InitMeta(founders()); err != nil {
		t.Fatal(err)
	}
	if mv := again.Meta(); mv.Epoch != 5 || len(mv.Members) != 4 {
		t.Fatalf("from the saved list: epoch %d, %d members", mv.Epoch, len(mv.Members))
	}
	if a, ok := again.Resolve("d"); !ok || a != "d:1" {
		t.Fatalf("d resolves to %q %v", a, ok)
	}
}

// The clients' view: this node's own addresses win over what it
// published; a group held here shows its local state.
func TestClusterView(t *testing.T) {
	f := newFixtureOf(t, 4)
	f.b.LearnMeta(2, f.members, map[string]cluster.Advertised{
		"a": {HTTP: "a:8", Redis: "a:6"}, "b": {GRPC: "b:7", HTTP: "old:8", Redis: "old:6"}}, true)
	v := f.b.ClusterView(cluster.Advertised{GRPC: "b:1", HTTP: "b:8", Redis: "b:6"})
	if v.Node != "b" || v.Epoch != 2 || len(v.Nodes) != 3 || len(v.Partitions) != 4 || v.Meta == nil || v.Meta.Partition != -1 {
		t.Fatalf("view: %+v", v)
	}
	if n := v.Nodes[0]; n.Name != "a" || n.GRPC != "a:1" || n.HTTP != "a:8" || n.Redis != "a:6" {
		t.Fatalf("a as published: %+v", n)
	}
	if n := v.Nodes[1]; n.Name != "b" || n.GRPC != "b:1" || n.HTTP != "b:8" || n.Redis != "b:6" {
		t.Fatalf("b, this node: %+v", n)
	}
	p := v.Partitions[2]
	if p.Group != 3 || p.Leader != "b" || p.Term != 2 || p.MembershipVersion != 1 || p.Local == nil ||
		strings.Join(p.Voters, ",") != "a,b,c" || strings.Join(p.VotersOutgoing, ",") != "a" {
		t.Fatalf("partition 2: %+v", p)
	}
	// Node a holds no replica of partition 0 and has learned nothing.
	if p := f.a.ClusterView(cluster.Advertised{}).Partitions[0]; p.Local != nil || p.Leader != "" || len(p.Replicas) != 0 {
		t.Fatalf("an unknown partition: %+v", p)
	}
}
