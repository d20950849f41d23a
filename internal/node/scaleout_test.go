package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/testkit"
)

// Five nodes, P=16, R=3: each node hosts exactly the replicas the ring
// gives it, and every key written through any node is readable through
// every node, in every read mode.
func TestFiveNodesByTheRing(t *testing.T) {
	tn := startNodes(t, 5, 16, nil)
	tn.ready()
	n1 := tn.nodes["n1"]
	pl, err := cluster.Placement(tn.cfgs["n1"].InitialCluster, n1.id.Settings)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range tn.nodes {
		var want, got []int
		for p := range 16 {
			if slices.Contains(pl.Replicas(p), name) {
				want = append(want, p)
			}
			if _, ok := n.host.Group(replica.GroupOf(p)); ok {
				got = append(got, p)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s hosts partitions %v; the ring gives it %v", name, got, want)
		}
	}
	ctx := context.Background()
	var keys [][]byte
	for i := range 48 {
		key := []byte(fmt.Sprintf("key-%d", i))
		keys = append(keys, key)
		n := tn.nodes[fmt.Sprintf("n%d", i%5+1)]
		sess := api.NewSession(n.NewClientID())
		seq, low := sess.Begin()
		rep, err := n.Propose(ctx, n.Partition(key), kv.NewCommand(kv.Put(key, key)).WithSession(sess.Client, seq, low))
		sess.End(seq)
		if err != nil || rep.Code != kv.CodeOK {
			t.Fatalf("put %s through %s: %+v %v", key, n.Name(), rep, err)
		}
	}
	for name, n := range tn.nodes {
		for _, key := range keys {
			for _, mode := range []replica.ReadMode{replica.Linearizable, replica.Follower} {
				err := readValue(ctx, n, n.Partition(key), mode, key, string(key))
				if err != nil {
					t.Fatalf("mode %v read of %s through %s: %v", mode, key, name, err)
				}
			}
		}
	}
}

// Founders given zones and capacities in --initial-cluster are placed by
// them: no partition has two replicas in one zone while there are R zones,
// and a node of capacity 2 holds more replicas than one of capacity 1.
func TestFoundersZonesAndCapacity(t *testing.T) {
	zones := map[string]string{"n1": "a", "n2": "a", "n3": "b", "n4": "c", "n5": "c"}
	tn := startNodes(t, 5, 16, func(cfg *Config) {
		for i := range cfg.InitialCluster {
			m := &cfg.InitialCluster[i]
			m.Zone = zones[m.Name]
			if m.Name == "n3" {
				m.Capacity = 2
			}
		}
	})
	tn.ready()
	counts := map[string]int{}
	for p := range 16 {
		seen := map[string]bool{}
		for name, n := range tn.nodes {
			if _, ok := n.host.Group(replica.GroupOf(p)); !ok {
				continue
			}
			counts[name]++
			if seen[zones[name]] {
				t.Fatalf("partition %d has two replicas in zone %s", p, zones[name])
			}
			seen[zones[name]] = true
		}
	}
	for name, c := range counts {
		if name != "n3" && c >= counts["n3"] {
			t.Fatalf("replicas per node %v: n3 (capacity 2) should hold the most", counts)
		}
	}
	t.Logf("replicas per node: %v", counts)
	// A founder whose --zone disagrees with its entry is refused.
	cfg := tn.cfgs["n1"]
	cfg.Zone, cfg.GRPCListener, cfg.DataDir = "z", nil, t.TempDir()
	cfg.GRPCAddr = "127.0.0.1:0"
	if _, err := Start(cfg); err == nil || !strings.Contains(err.Error(), `--zone "z" differs`) {
		t.Fatalf("a founder with another --zone: %v", err)
	}
}

// Every node's routing table names a leader for every partition, also
// those it holds no replica of (learned from its peers).
func TestRoutesForPartitionsHeldElsewhere(t *testing.T) {
	tn := startNodes(t, 5, 16, nil)
	tn.ready()
	for name, n := range tn.nodes {
		testkit.WaitFor(t, 10*time.Second, name+" to know every partition's leader", func() bool {
			v := n.Cluster()
			for _, p := range v.Partitions {
				if p.Leader == "" || len(p.Replicas) != 3 || len(p.ReplicaIDs) != 3 {
					return false
				}
			}
			return v.Meta != nil && v.Meta.Leader != ""
		})
		held := 0
		for p := range 16 {
			if _, ok := n.host.Group(replica.GroupOf(p)); ok {
				held++
			}
		}
		if held == 16 {
			t.Fatalf("%s holds every partition; the test needs some held elsewhere", name)
		}
	}
}

// Reads of a partition held elsewhere keep working after every holder has
// restarted: the reader's broken streams to them are dialled again (a
// regression: only forwarded writes used to notice a broken stream, so a
// node that only read from a restarted peer failed every read to it).
func TestRemoteReadsAfterHoldersRestart(t *testing.T) {
	tn := startNodes(t, 5, 4, nil)
	tn.ready()
	ctx := context.Background()
	n1 := tn.nodes["n1"]
	// A partition n1 holds no replica of, and a key in it.
	p := -1
	for q := range 4 {
		if _, ok := n1.host.Group(replica.GroupOf(q)); !ok {
			p = q
			break
		}
	}
	if p < 0 {
		t.Skip("n1 holds every partition")
	}
	key := ""
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("k%d", i); n1.Partition([]byte(k)) == p {
			key = k
		}
	}
	if _, err := n1.Propose(ctx, p, kv.NewCommand(kv.Put([]byte(key), []byte("v")))); err != nil {
		t.Fatal(err)
	}
	var holders []string
	for name, n := range tn.nodes {
		if _, ok := n.host.Group(replica.GroupOf(p)); ok {
			holders = append(holders, name)
		}
	}
	// Read from each holder in turn, so n1 has a stream to every one.
	readFrom := func(holder string) error {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		rep, err := n1.fwd.Read(rctx, holder, replica.GroupOf(p), replica.Linearizable, kv.GetQuery([]byte(key)))
		if err == nil && rep.Responses[0].Code != kv.CodeOK {
			err = fmt.Errorf("%s not found", key)
		}
		return err
	}
	for _, h := range holders {
		if err := readFrom(h); err != nil {
			t.Fatalf("read from %s: %v", h, err)
		}
	}
	for _, h := range holders {
		tn.stop(h)
		tn.restart(h)
		tn.ready()
	}
	for _, h := range holders {
		if err := readFrom(h); err != nil {
			t.Fatalf("a read through n1 from %s after it restarted: %v", h, err)
		}
	}
}
