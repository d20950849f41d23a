package node

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
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
			if _, ok := n.host.Group(replica.GroupID(cluster.GroupOf(p))); ok {
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
				err := n.Read(ctx, n.Partition(key), mode, func(v storage.View, group uint64) error {
					it, ok, err := kv.Get(v, group, key)
					if err == nil && (!ok || string(it.Value) != string(key)) {
						err = fmt.Errorf("got %q, found %v", it.Value, ok)
					}
					return err
				})
				if err != nil {
					t.Fatalf("mode %v read of %s through %s: %v", mode, key, name, err)
				}
			}
		}
	}
}
