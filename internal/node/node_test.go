package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/testkit"
	"github.com/cairnkv/cairn/internal/testkit/testcluster"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger() *slog.Logger {
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// testNodes is an in-process cluster of nodes on the shared harness
// (testcluster.Cluster): real gRPC, real Pebble in the test's temporary
// directory, short ticks.
type testNodes struct {
	t *testing.T
	c *testcluster.Cluster[*Node]
	// nodes are the running nodes and cfgs how each was last started,
	// kept by start (the harness calls it on the test's goroutine).
	nodes map[string]*Node
	cfgs  map[string]Config
}

// startNodes starts count founders n1..n<count> with partitions
// partitions, each Config changed by tweak (nil: none).
func startNodes(t *testing.T, count, partitions int, tweak func(*Config)) *testNodes {
	t.Helper()
	tn := &testNodes{t: t, nodes: map[string]*Node{}, cfgs: map[string]Config{}}
	tn.c = testcluster.Start(t, count, tn.starter(func(cfg *Config, founders []cluster.Member) {
		cfg.InitialCluster, cfg.Settings = founders, cluster.Settings{Partitions: partitions}
		if tweak != nil {
			tweak(cfg)
		}
	}), nil)
	return tn
}

// starter is the harness's StartFunc for a node configured by set.
func (tn *testNodes) starter(set func(*Config, []cluster.Member)) testcluster.StartFunc[*Node] {
	return func(name, dir string, lis net.Listener, founders []cluster.Member) (*Node, error) {
		cfg := Config{
			Name: name, DataDir: dir, GRPCListener: lis,
			TickInterval: 20 * time.Millisecond, Logger: testLogger(),
			// Off unless a test turns it on: tests that count forwarded
			// requests need leaders to stay where they are.
			LeaderBalanceInterval: -1,
		}
		set(&cfg, founders)
		n, err := Start(cfg)
		if err == nil {
			tn.nodes[name], tn.cfgs[name] = n, cfg
		}
		return n, err
	}
}

func (tn *testNodes) ready() {
	for name, n := range tn.nodes {
		testkit.WaitFor(tn.t, 15*time.Second, name+" to be ready", func() bool {
			for _, c := range n.Ready() {
				if !c.OK {
					return false
				}
			}
			return true
		})
	}
}

func forwarded(n *Node) float64 {
	mfs, _ := n.Registry().Gather()
	for _, mf := range mfs {
		if mf.GetName() == "cairn_forwarded_requests_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// Every node serves every key: writes on a node that does not lead the
// partition are forwarded exactly once; reads are served locally.
func TestEveryNodeServesEveryKey(t *testing.T) {
	tn := startNodes(t, 3, 4, nil)
	tn.ready()
	ctx := context.Background()
	for name, n := range tn.nodes {
		for p := range n.Partitions() {
			key := []byte(fmt.Sprintf("%s-%d", name, p))
			p := n.Partition(key)
			g, _ := n.host.Group(replica.GroupOf(p))
			leads := g.Status().State == replica.StateLeader
			before := forwarded(n)
			sess := api.NewSession(n.NewClientID())
			seq, low := sess.Begin()
			rep, err := n.Propose(ctx, p, kv.NewCommand(kv.Put(key, []byte("v"))).WithSession(sess.Client, seq, low))
			sess.End(seq)
			if err != nil || rep.Code != kv.CodeOK {
				t.Fatalf("put %s on %s: %+v %v", key, name, rep, err)
			}
			want := 1.0
			if leads {
				want = 0
			}
			if got := forwarded(n) - before; got != want {
				t.Fatalf("put on %s (leader=%v) forwarded %v requests, want %v", name, leads, got, want)
			}
			for other, o := range tn.nodes {
				err := readValue(ctx, o, p, replica.Linearizable, key, "v")
				if err != nil {
					t.Fatalf("linearizable read of %s on %s after the write on %s: %v", key, other, name, err)
				}
			}
		}
	}
}

// Below --min-free-disk writes are refused with NOSPACE and reads go on.
func TestNoSpaceRefusesWrites(t *testing.T) {
	var free uint64 = 1 << 40
	tn := startNodes(t, 1, 2, func(c *Config) {
		c.FreeDisk = func(string) (uint64, error) { return free, nil }
	})
	tn.ready()
	n := tn.nodes["n1"]
	ctx := context.Background()
	if _, err := n.Propose(ctx, 0, kv.NewCommand(kv.Put([]byte("k"), []byte("v")))); err != nil {
		t.Fatal(err)
	}
	free = 1 << 20
	n.checkDisk()
	_, err := n.Propose(ctx, 0, kv.NewCommand(kv.Put([]byte("k"), []byte("w"))))
	if api.OutcomeOf(err) != api.NoSpace {
		t.Fatalf("put below the free-disk floor: %v, want NOSPACE", err)
	}
	err = readValue(ctx, n, 0, replica.Linearizable, []byte("k"), "v")
	if err != nil {
		t.Fatalf("read below the free-disk floor: %v", err)
	}
}

// A lone node with only a name and a data directory is a working cluster,
// and a restart with a conflicting --partitions is refused naming both.
func TestLoneNodeAndConflictingRestart(t *testing.T) {
	dir := t.TempDir()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Name: "solo", DataDir: dir, GRPCListener: lis, TickInterval: 20 * time.Millisecond, Logger: testLogger()}
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n.Partitions() != 64 {
		t.Fatalf("default partitions = %d", n.Partitions())
	}
	ctx := context.Background()
	if _, err := n.Propose(ctx, 3, kv.NewCommand(kv.Put([]byte("k"), []byte("v")))); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.GRPCListener = nil
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.Settings = cluster.Settings{Partitions: 8}
	cfg.Explicit = map[string]bool{"partitions": true}
	if _, err := Start(cfg); err == nil || !strings.Contains(err.Error(), "64") || !strings.Contains(err.Error(), "8") {
		t.Fatalf("restart with --partitions 8 over 64: %v; want a refusal naming both", err)
	}
}

// With more founders than replicas a node lacks some partitions: its writes
// and reads of them go to a node that holds them, and a read sees its own
// node's earlier write, in every mode, including a scan of more pairs than
// one page of a remote read carries.
func TestPartitionsHeldElsewhere(t *testing.T) {
	tn := startNodes(t, 4, 4, nil)
	tn.ready()
	ctx := context.Background()
	for name, n := range tn.nodes {
		for p := range n.Partitions() {
			if _, ok := n.host.Group(replica.GroupOf(p)); ok {
				continue
			}
			key := []byte(fmt.Sprintf("%s-%d", name, p))
			rep, err := n.Propose(ctx, p, kv.NewCommand(kv.Put(key, []byte("v"))))
			if err != nil || rep.Code != kv.CodeOK {
				t.Fatalf("put to partition %d held elsewhere, on %s: %+v %v", p, name, rep, err)
			}
			for _, mode := range []replica.ReadMode{replica.Linearizable, replica.Follower} {
				err = readValue(ctx, n, p, mode, key, "v")
				if err != nil {
					t.Fatalf("mode %v read of partition %d on %s, which holds no replica: %v", mode, p, name, err)
				}
			}
		}
	}
	// A scan across several remote pages: 600 keys in one partition (hash
	// tag), read through a node without a replica of it.
	var far *Node
	var p int
	for _, n := range tn.nodes {
		for q := range n.Partitions() {
			if _, ok := n.host.Group(replica.GroupOf(q)); !ok {
				far, p = n, q
			}
		}
	}
	if far == nil {
		t.Fatal("no node lacks a partition with 4 nodes and 3 replicas")
	}
	tag := ""
	for i := 0; ; i++ {
		if tag = fmt.Sprintf("t%d", i); far.Partition([]byte("{"+tag+"}")) == p {
			break
		}
	}
	const keys = 600
	for i := 0; i < keys; i += 100 {
		var reqs []kv.Request
		for j := i; j < i+100; j++ {
			reqs = append(reqs, kv.Put([]byte(fmt.Sprintf("{%s}%04d", tag, j)), []byte("x")))
		}
		if rep, err := far.Propose(ctx, p, kv.NewCommand(reqs...)); err != nil || rep.Code != kv.CodeOK {
			t.Fatalf("mset: %+v %v", rep, err)
		}
	}
	rep, err := far.Read(ctx, p, replica.Linearizable, kv.ScanQuery([]byte("{"+tag+"}"), kv.PrefixEnd([]byte("{"+tag+"}")), keys+10))
	if err == nil && (len(rep.Items) != keys || rep.Next != nil) {
		err = fmt.Errorf("scanned %d keys (next %q), want %d", len(rep.Items), rep.Next, keys)
	}
	if err != nil {
		t.Fatalf("remote scan: %v", err)
	}
	// And page by page, resuming where each page stopped.
	n := 0
	for q := kv.ScanQuery([]byte("{"+tag+"}"), kv.PrefixEnd([]byte("{"+tag+"}")), 64); ; n++ {
		rep, err := far.Read(ctx, p, replica.Linearizable, q)
		if err != nil {
			t.Fatalf("remote scan page %d: %v", n, err)
		}
		if rep.Next == nil {
			break
		}
		q.Start = rep.Next
	}
	if n != keys/64 {
		t.Fatalf("%d pages after the first, want %d", n, keys/64)
	}
}

// A door that cannot listen stops the start with an error naming the flag,
// and the node shuts down cleanly (no panic, no leak).
func TestRunRefusesABusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), Config{
		Name: "solo", DataDir: t.TempDir(), GRPCListener: lis,
		HTTPAddr: busy.Addr().String(), RedisAddr: "127.0.0.1:0",
		TickInterval: 20 * time.Millisecond, Logger: testLogger(),
	})
	if err == nil || !strings.Contains(err.Error(), "--http-addr") {
		t.Fatalf("Run with a busy --http-addr: %v; want an error naming it", err)
	}
}

// readValue reads key of partition p through n in mode, and wants value.
func readValue(ctx context.Context, n *Node, p int, mode replica.ReadMode, key []byte, value string) error {
	rep, err := n.Read(ctx, p, mode, kv.GetQuery(key))
	if err != nil {
		return err
	}
	if r := rep.Responses[0]; r.Code != kv.CodeOK || string(r.Value) != value {
		return fmt.Errorf("got %v %q, want %q", r.Code, r.Value, value)
	}
	return nil
}
