package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/grpcapi"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/testkit"
	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// elasticTweak makes the rebalancer quick for tests.
func elasticTweak(cfg *Config) {
	cfg.RebalanceInterval = 100 * time.Millisecond
	cfg.LeaderBalanceInterval = 500 * time.Millisecond
}

// join starts a new, empty node that joins through the node via.
func (tn *testNodes) join(name string, via *Node, tweak func(*Config)) *Node {
	tn.t.Helper()
	return tn.c.Add(name, tn.starter(func(cfg *Config, _ []cluster.Member) {
		cfg.Join = via.GRPCAddr()
		if tweak != nil {
			tweak(cfg)
		}
	}))
}

// admin calls the Admin service of node n in-process.
func admin(n *Node) *grpcapi.Admin { return n.admin }

// converged waits until the meta leader's rebalancer has nothing in
// flight or queued and knows every group.
func (tn *testNodes) converged(via *Node, d time.Duration) *cairnv1.StatusResponse {
	tn.t.Helper()
	var st *cairnv1.StatusResponse
	defer func() {
		if tn.t.Failed() {
			tn.t.Logf("last status: %v", st)
		}
	}()
	testkit.WaitFor(tn.t, d, "the placement to converge", func() bool {
		var err error
		st, err = admin(via).Status(context.Background(), &cairnv1.StatusRequest{})
		if err != nil {
			return false
		}
		for _, ns := range st.GetNodes() {
			if s := ns.GetMember().GetState(); s == cluster.NodeJoining || s == cluster.NodeDraining {
				return false
			}
			// NB: seen twice in about eight runs: no move in flight or
			// queued, yet a node one replica over its cap for a moment
			// (probably the status counting from descriptors learned by
			// gossip, which can lag the last removal; not yet proven).
			// Converged means within the caps too; a node that never
			// gets there fails the wait.
			if ns.GetCap() > 0 && ns.GetReplicas() > ns.GetCap() {
				return false
			}
		}
		return len(st.GetInFlight()) == 0 && len(st.GetQueued()) == 0 && st.GetGroupsKnown() == st.GetGroups() && st.GetUnderReplicated() == 0
	})
	return st
}

// replicasAdded sums, over every group, the replica IDs handed out so far
// (NextReplicaID - 1), read from the groups' own descriptors on the
// nodes holding them: the membership changes actually applied.
func (tn *testNodes) replicasAdded(partitions int) uint64 {
	var sum uint64
	for gid := range partitions + 1 {
		var best replica.Descriptor
		for _, n := range tn.nodes {
			if g, ok := n.host.Group(replica.GroupID(gid)); ok {
				if d := g.Status().Descriptor; d.Version > best.Version {
					best = d
				}
			}
		}
		sum += uint64(best.NextReplicaID) - 1
	}
	return sum
}

func adds(moves []*cairnv1.Move) uint64 {
	var n uint64
	for _, m := range moves {
		if m.GetAdd() != "" {
			n++
		}
	}
	return n
}

// writer puts keys through the nodes until stopped, and remembers every
// acknowledged one.
type writer struct {
	mu    sync.Mutex
	acked map[string]bool
	stop  chan struct{}
	done  sync.WaitGroup
}

func startWriter(t *testing.T, nodes func() []*Node) *writer {
	w := &writer{acked: map[string]bool{}, stop: make(chan struct{})}
	for c := range 4 {
		w.done.Add(1)
		go func() {
			defer w.done.Done()
			for i := 0; ; i++ {
				select {
				case <-w.stop:
					return
				default:
				}
				ns := nodes()
				n := ns[i%len(ns)]
				key := fmt.Sprintf("w%d-%d", c, i)
				sess := api.NewSession(n.NewClientID())
				seq, low := sess.Begin()
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				rep, err := n.Propose(ctx, n.Partition([]byte(key)), kv.NewCommand(kv.Put([]byte(key), []byte(key))).WithSession(sess.Client, seq, low))
				cancel()
				if err == nil && rep.Code == kv.CodeOK {
					w.mu.Lock()
					w.acked[key] = true
					w.mu.Unlock()
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return w
}

func (w *writer) finish() map[string]bool {
	close(w.stop)
	w.done.Wait()
	return w.acked
}

// Grow 3 → 5 nodes and shrink back to 3 under a write load: every
// acknowledged write is readable afterwards, every node's replica count
// is within the ring's bound, and the membership changes the groups
// applied are exactly what --dry-run predicted.
func TestGrowAndShrinkUnderLoad(t *testing.T) {
	const P = 8
	tn := startNodes(t, 3, P, elasticTweak)
	tn.ready()
	n1 := tn.nodes["n1"]
	tn.converged(n1, 20*time.Second)
	var live []*Node
	var liveMu sync.Mutex
	setLive := func(ns ...*Node) { liveMu.Lock(); live = ns; liveMu.Unlock() }
	setLive(n1, tn.nodes["n2"], tn.nodes["n3"])
	w := startWriter(t, func() []*Node { liveMu.Lock(); defer liveMu.Unlock(); return live })
	ctx := context.Background()

	step := func(what string, predicted uint64, act func()) {
		t.Helper()
		before := tn.replicasAdded(P)
		start := time.Now()
		act()
		st := tn.converged(n1, 90*time.Second)
		if got := tn.replicasAdded(P) - before; got != predicted {
			t.Fatalf("%s: the groups added %d replicas; --dry-run predicted %d", what, got, predicted)
		}
		for _, ns := range st.GetNodes() {
			if ns.GetReplicas() > ns.GetCap() {
				t.Fatalf("%s: %s holds %d replicas, over the ring's cap %d", what, ns.GetMember().GetName(), ns.GetReplicas(), ns.GetCap())
			}
		}
		t.Logf("%s: %d replicas added in %v", what, predicted, time.Since(start).Round(time.Millisecond))
	}

	for _, name := range []string{"n4", "n5"} {
		dry, err := admin(n1).Join(ctx, &cairnv1.JoinRequest{Name: name, GrpcAddr: "127.0.0.1:1", DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if adds(dry.GetMoves()) == 0 {
			t.Fatalf("a join of %s plans no moves", name)
		}
		// The dry run named another address; the real join plans by name.
		step("join "+name, adds(dry.GetMoves()), func() { tn.join(name, tn.nodes["n2"], elasticTweak) })
	}
	setLive(n1, tn.nodes["n2"], tn.nodes["n3"], tn.nodes["n4"], tn.nodes["n5"])
	for _, name := range []string{"n5", "n4"} {
		dry, err := admin(tn.nodes["n3"]).Drain(ctx, &cairnv1.NodeRequest{Node: name, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		step("drain "+name, adds(dry.GetMoves()), func() {
			if _, err := admin(tn.nodes["n3"]).Drain(ctx, &cairnv1.NodeRequest{Node: name}); err != nil {
				t.Fatal(err)
			}
		})
		st, _ := admin(n1).Status(ctx, &cairnv1.StatusRequest{})
		for _, ns := range st.GetNodes() {
			if ns.GetMember().GetName() == name && (ns.GetMember().GetState() != cluster.NodeRemoved || ns.GetReplicas() != 0) {
				t.Fatalf("drained %s: state %s, %d replicas", name, ns.GetMember().GetState(), ns.GetReplicas())
			}
		}
		// A removed node fails /readyz, so load balancers stop sending
		// it requests.
		testkit.WaitFor(t, 10*time.Second, name+" to fail its member check", func() bool {
			for _, c := range tn.nodes[name].Ready() {
				if c.Name == "member" && !c.OK {
					return true
				}
			}
			return false
		})
	}
	acked := w.finish()
	if len(acked) < 100 {
		t.Fatalf("only %d writes acknowledged during the moves", len(acked))
	}
	for key := range acked {
		err := readBack(n1, key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	t.Logf("%d acknowledged writes, all present", len(acked))
}

// stop stops node name (its data stays).
func (tn *testNodes) stop(name string) {
	tn.t.Helper()
	tn.c.Stop(name)
	delete(tn.nodes, name)
}

// restart starts node name again on its data directory and address.
func (tn *testNodes) restart(name string) *Node {
	tn.t.Helper()
	return tn.c.Restart(name)
}

func (tn *testNodes) state(via *Node, name string) string {
	st, err := admin(via).Status(context.Background(), &cairnv1.StatusRequest{})
	if err != nil {
		return ""
	}
	for _, ns := range st.GetNodes() {
		if ns.GetMember().GetName() == name {
			return ns.GetMember().GetState()
		}
	}
	return ""
}

// A node not heard from for --dead-after is marked down and only its
// replicas are rebuilt elsewhere; when it comes back it is marked up,
// its stale replicas are removed, and the placement converges again.
func TestDeadNodeReplacedAndReconciled(t *testing.T) {
	const P = 8
	tweak := func(cfg *Config) { elasticTweak(cfg); cfg.DeadAfter = 1500 * time.Millisecond }
	tn := startNodes(t, 4, P, tweak)
	tn.ready()
	tn.converged(tn.nodes["n1"], 20*time.Second)
	ctx := context.Background()
	for i := range 32 {
		key := fmt.Sprintf("k%d", i)
		n := tn.nodes["n1"]
		if _, err := n.Propose(ctx, n.Partition([]byte(key)), kv.NewCommand(kv.Put([]byte(key), []byte(key)))); err != nil {
			t.Fatal(err)
		}
	}
	// n4 holds no meta replica (4 founders: meta on n1..n3), so the meta
	// leader survives its loss.
	held := 0
	for gid := range P + 1 {
		if r, ok := tn.nodes["n1"].route(replica.GroupID(gid)); ok {
			if _, on := r.Desc.ReplicaOn("n4"); on {
				held++
			}
		}
	}
	before := tn.replicasAdded(P)
	tn.stop("n4")
	start := time.Now()
	testkit.WaitFor(t, 20*time.Second, "n4 to be marked down", func() bool { return tn.state(tn.nodes["n1"], "n4") == cluster.NodeDown })
	st := tn.converged(tn.nodes["n1"], 60*time.Second)
	t.Logf("all groups back at R live replicas %v after the stop", time.Since(start).Round(time.Millisecond))
	if got := tn.replicasAdded(P) - before; got != uint64(held) {
		t.Fatalf("n4 held %d replicas; %d were added while it was down (only its replicas may move)", held, got)
	}
	for _, ns := range st.GetNodes() {
		if ns.GetMember().GetName() == "n4" && ns.GetReplicas() != 0 {
			t.Fatalf("down n4 is still named by %d descriptors", ns.GetReplicas())
		}
	}
	n4 := tn.restart("n4")
	testkit.WaitFor(t, 20*time.Second, "n4 to be marked up", func() bool { return tn.state(tn.nodes["n1"], "n4") == cluster.NodeUp })
	tn.converged(tn.nodes["n1"], 60*time.Second)
	// Every replica n4 hosts is named by its group's newest descriptor.
	testkit.WaitFor(t, 20*time.Second, "n4's stale replicas to be removed", func() bool {
		for _, gid := range n4.host.Groups() {
			r, ok := tn.nodes["n1"].route(gid)
			if !ok {
				return false
			}
			if _, named := r.Desc.ReplicaOn("n4"); !named {
				return false
			}
		}
		return true
	})
	for i := range 32 {
		key := fmt.Sprintf("k%d", i)
		err := readBack(n4, key)
		if err != nil {
			t.Fatalf("%s after n4 came back: %v", key, err)
		}
	}
}

// Admin commands that would break the cluster are refused with a clear
// error and change nothing.
func TestAdminRefusals(t *testing.T) {
	tn := startNodes(t, 3, 4, elasticTweak)
	tn.ready()
	n1 := tn.nodes["n1"]
	st := tn.converged(n1, 20*time.Second)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"join with a taken name", func() error {
			_, err := admin(n1).Join(ctx, &cairnv1.JoinRequest{Name: "n2", GrpcAddr: "127.0.0.1:9"})
			return err
		}, "the name n2 is taken"},
		{"join with a taken address", func() error {
			_, err := admin(n1).Join(ctx, &cairnv1.JoinRequest{Name: "n9", GrpcAddr: tn.cfgs["n2"].GRPCListener.Addr().String()})
			return err
		}, "belongs to member n2"},
		{"join with other settings", func() error {
			_, err := admin(n1).Join(ctx, &cairnv1.JoinRequest{Name: "n9", GrpcAddr: "127.0.0.1:9", Settings: &cairnv1.ClusterSettings{Partitions: 64}})
			return err
		}, "--partitions 64 differs from the cluster's 4"},
		{"join with a bad name", func() error {
			_, err := admin(n1).Join(ctx, &cairnv1.JoinRequest{Name: "n 9", GrpcAddr: "127.0.0.1:9"})
			return err
		}, "join refused"},
		{"drain below R", func() error {
			_, err := admin(n1).Drain(ctx, &cairnv1.NodeRequest{Node: "n3"})
			return err
		}, "too few nodes"},
		{"remove below R", func() error {
			_, err := admin(n1).Remove(ctx, &cairnv1.NodeRequest{Node: "n2"})
			return err
		}, "too few nodes"},
		{"drain an unknown node", func() error {
			_, err := admin(n1).Drain(ctx, &cairnv1.NodeRequest{Node: "n7"})
			return err
		}, `no member is named "n7"`},
	} {
		err := tc.call()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	after, err := admin(n1).Status(ctx, &cairnv1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if after.GetEpoch() != st.GetEpoch() || len(after.GetNodes()) != 3 {
		t.Fatalf("a refused command changed the member list: epoch %d → %d, %d members", st.GetEpoch(), after.GetEpoch(), len(after.GetNodes()))
	}
	// A node that cannot reach the meta group says so, and names its leader.
	leader := n1.metaLeader()
	var other *Node
	for name, n := range tn.nodes {
		if name != leader {
			other = n
		}
	}
	for name := range tn.nodes {
		if name != other.Name() {
			other.tr.SetFault(name, transport.Outbound, transport.Fault{Drop: 1})
		}
	}
	// Connections are by address: those to the addresses below are new.
	for name := range tn.nodes {
		if name != other.Name() {
			other.routing.SetAddr(name, "127.0.0.1:1") // unreachable
		}
	}
	_, err = admin(other).Status(ctx, &cairnv1.StatusRequest{})
	if err == nil || !strings.Contains(err.Error(), "cannot reach the meta group") {
		t.Fatalf("status through a cut-off node: %v", err)
	}
	t.Logf("cut-off node says: %v", err)
}

// Restarting a node in the middle of a move — the node receiving the new
// replica, then the meta group's leader — still converges, with every
// acknowledged write present.
func TestRestartDuringMoveConverges(t *testing.T) {
	const P = 8
	tn := startNodes(t, 3, P, elasticTweak)
	tn.ready()
	tn.converged(tn.nodes["n1"], 20*time.Second)
	ctx := context.Background()
	acked := map[string]bool{}
	put := func(n *Node, key string) {
		if rep, err := n.Propose(ctx, n.Partition([]byte(key)), kv.NewCommand(kv.Put([]byte(key), []byte(key)))); err == nil && rep.Code == kv.CodeOK {
			acked[key] = true
		}
	}
	for i := range 200 {
		put(tn.nodes["n2"], fmt.Sprintf("a%d", i))
	}
	inFlight := func() *cairnv1.Move {
		for _, n := range tn.nodes {
			if st, err := admin(n).Status(ctx, &cairnv1.StatusRequest{}); err == nil && len(st.GetInFlight()) > 0 {
				return st.GetInFlight()[0]
			}
		}
		return nil
	}
	tn.join("n4", tn.nodes["n1"], elasticTweak)
	var m *cairnv1.Move
	testkit.WaitFor(t, 20*time.Second, "a move in flight", func() bool { m = inFlight(); return m != nil })
	t.Logf("restarting %s during %v", m.GetAdd(), m)
	tn.stop(m.GetAdd())
	tn.restart(m.GetAdd())
	for i := range 100 {
		put(tn.nodes["n3"], fmt.Sprintf("b%d", i))
	}
	tn.join("n5", tn.nodes["n3"], elasticTweak)
	testkit.WaitFor(t, 20*time.Second, "a move in flight", func() bool { m = inFlight(); return m != nil })
	leader := tn.nodes["n1"].metaLeader()
	if leader == "" {
		t.Fatal("no meta leader known")
	}
	t.Logf("restarting the meta leader %s during %v", leader, m)
	tn.stop(leader)
	time.Sleep(300 * time.Millisecond)
	tn.restart(leader)
	var via *Node
	for _, n := range tn.nodes {
		via = n
	}
	st := tn.converged(via, 90*time.Second)
	for _, ns := range st.GetNodes() {
		if ns.GetMember().GetState() != cluster.NodeUp || ns.GetReplicas() == 0 {
			t.Fatalf("after the restarts %s is %s with %d replicas", ns.GetMember().GetName(), ns.GetMember().GetState(), ns.GetReplicas())
		}
	}
	for key := range acked {
		n := tn.nodes["n5"]
		err := readBack(n, key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
}

// A partition that lost two of its three voters is unavailable until an
// operator runs unsafe recovery: the report names the survivor and what is
// dropped, nothing changes without confirmation, and after it the
// partition serves again, keeps what the survivor had applied, and is
// rebuilt to R replicas.
func TestUnsafeRecover(t *testing.T) {
	for _, engine := range []string{cluster.EngineRaft, cluster.EnginePaxos} {
		t.Run(engine, func(t *testing.T) { testUnsafeRecover(t, engine) })
	}
}

func testUnsafeRecover(t *testing.T, engine string) {
	const P = 4
	// Long enough that the two stops below end before either node is
	// marked down (which would start repairing the partition).
	tweak := func(cfg *Config) {
		elasticTweak(cfg)
		cfg.DeadAfter = 5 * time.Second
		cfg.Settings.Engine = engine
	}
	tn := startNodes(t, 5, P, tweak)
	tn.ready()
	n1 := tn.nodes["n1"]
	tn.converged(n1, 20*time.Second)
	ctx := context.Background()
	// A partition with two voters on nodes other than the meta leader.
	metaLeader := n1.metaLeader()
	p, lost := -1, []string(nil)
	for q := range P {
		r, _ := n1.route(replica.GroupOf(q))
		var others []string
		for _, m := range r.Desc.Replicas {
			if m.Node != metaLeader && m.Node != "n1" {
				others = append(others, m.Node)
			}
		}
		if len(others) >= 2 {
			p, lost = q, others[:2]
			break
		}
	}
	if p < 0 {
		t.Skip("no partition with two voters away from n1 and the meta leader")
	}
	keys := []string{}
	for i := 0; len(keys) < 20; i++ {
		key := fmt.Sprintf("u%d", i)
		if n1.Partition([]byte(key)) != p {
			continue
		}
		if _, err := n1.Propose(ctx, p, kv.NewCommand(kv.Put([]byte(key), []byte(key)))); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	// Refused while the quorum is there.
	if _, err := admin(n1).UnsafeRecover(ctx, &cairnv1.UnsafeRecoverRequest{Partition: int32(p)}); err == nil || !strings.Contains(err.Error(), "still has a quorum") {
		t.Fatalf("unsafe recovery of a healthy partition: %v", err)
	}
	var wg sync.WaitGroup
	for _, name := range lost { // at once: neither hands the other leadership
		delete(tn.nodes, name)
		wg.Go(func() { tn.c.Stop(name) })
	}
	wg.Wait()
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := n1.Propose(pctx, p, kv.NewCommand(kv.Put([]byte("nope"), []byte("x"))))
	cancel()
	if err == nil {
		t.Fatalf("partition %d took a write with two of its three voters stopped", p)
	}
	before, _ := n1.route(replica.GroupOf(p))
	plan, err := admin(n1).UnsafeRecover(ctx, &cairnv1.UnsafeRecoverRequest{Partition: int32(p)})
	if err != nil {
		t.Fatal(err)
	}
	if plan.GetDone() || len(plan.GetUnreachable()) != 2 || plan.GetSurvivor() == "" {
		t.Fatalf("plan %v", plan)
	}
	t.Logf("plan: %v", plan)
	done, err := admin(n1).UnsafeRecover(ctx, &cairnv1.UnsafeRecoverRequest{Partition: int32(p), Confirm: true})
	if err != nil {
		t.Fatal(err)
	}
	if !done.GetDone() {
		t.Fatalf("recovery %v", done)
	}
	if _, err := n1.Propose(ctx, p, kv.NewCommand(kv.Put([]byte("after"), []byte("x")))); err != nil {
		t.Fatalf("a write after the recovery: %v", err)
	}
	// NB: the placement's status counts from descriptors learned by
	// gossip, which may still show the three voters from before the
	// recovery for a moment; so first wait for the rebuild itself: a
	// newer descriptor with three voters again.
	testkit.WaitFor(t, 60*time.Second, fmt.Sprintf("partition %d rebuilt to 3 voters", p), func() bool {
		r, ok := n1.route(replica.GroupOf(p))
		return ok && r.Desc.Version > before.Desc.Version && len(r.Desc.Voters) == 3
	})
	st := tn.converged(n1, 60*time.Second)
	t.Logf("rebuilt: %d moves done", st.GetMovesDone())
	for _, key := range keys {
		err := readBack(n1, key)
		if err != nil {
			t.Fatalf("%s after the recovery: %v", key, err)
		}
	}
	r, _ := n1.route(replica.GroupOf(p))
	if len(r.Desc.Voters) != 3 {
		t.Fatalf("partition %d has %d voters after the rebuild", p, len(r.Desc.Voters))
	}
}

// readBack reads key through n, linearizably, and wants the value key (as
// every writer in these tests writes).
func readBack(n *Node, key string) error {
	if err := readValue(context.Background(), n, n.Partition([]byte(key)), replica.Linearizable, []byte(key), key); err != nil {
		return fmt.Errorf("acknowledged write lost: %w", err)
	}
	return nil
}
