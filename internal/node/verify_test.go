package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/testkit"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

func counter(n *Node, name string) float64 {
	mfs, _ := n.Registry().Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}

func readyCheck(n *Node, name string) api.Check {
	for _, c := range n.Ready() {
		if c.Name == name {
			return c
		}
	}
	return api.Check{Name: name, Reason: "no such check"}
}

// A value flipped in one replica's store behind the engine's back is found
// by cairn admin verify's RPC (a mismatch naming that replica, the
// metric, the node's /readyz), the replica stops serving (its node reads
// from the leader instead), and it is rebuilt: its node asks the leader to
// remove it, the rebalancer adds a new replica there, which catches up
// from a snapshot of the majority; a check then agrees again.
func TestConsistencyMismatchFoundAndRepaired(t *testing.T) {
	tn := startNodes(t, 3, 2, func(c *Config) { c.ConsistencyCheckInterval = -1 })
	tn.ready()
	ctx := context.Background()
	n1 := tn.nodes["n1"]
	const p = 1
	gid := replica.GroupOf(p)
	var key []byte
	for i := 0; key == nil; i++ {
		if k := []byte(fmt.Sprintf("k%d", i)); n1.Partition(k) == p {
			key = k
		}
	}
	for i, k := range [][]byte{key, []byte("{" + string(key) + "}other")} {
		if _, err := n1.Propose(ctx, p, kv.NewCommand(kv.Put(k, []byte(fmt.Sprintf("value-%d", i))))); err != nil {
			t.Fatal(err)
		}
	}

	admin := n1.admin
	resp, err := admin.Verify(ctx, &cairnv1.VerifyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetPartitions()) != 2 {
		t.Fatalf("verify checked %d partitions, want 2", len(resp.GetPartitions()))
	}
	for _, pc := range resp.GetPartitions() {
		if pc.GetVerdict() != "agree" || len(pc.GetReplicas()) != 3 {
			t.Fatalf("partition %d: %v, want 3 replicas agreeing", pc.GetPartition(), pc)
		}
	}

	// Flip a byte of the value on a follower, once every replica has it.
	var leader, bad string
	testkit.WaitFor(t, 10*time.Second, "every replica to apply the writes", func() bool {
		for _, n := range tn.nodes {
			g, ok := n.host.Group(gid)
			if !ok {
				return false
			}
			if _, has, _ := kv.Get(n.store, uint64(gid), key); !has {
				return false
			}
			if g.IsLeader() {
				leader = n.cfg.Name
			}
		}
		return leader != ""
	})
	for name := range tn.nodes {
		if name != leader {
			bad = name
			break
		}
	}
	flipValue(t, tn.nodes[bad].store, gid, key)
	badG, _ := tn.nodes[bad].host.Group(gid)
	badID := badG.Status().Replica

	resp, err = admin.Verify(ctx, &cairnv1.VerifyRequest{Partitions: []int32{p}})
	if err != nil {
		t.Fatal(err)
	}
	pc := resp.GetPartitions()[0]
	if pc.GetVerdict() != "mismatch" || pc.GetLeader() != leader {
		t.Fatalf("after the flip: %v, want a mismatch judged by %s", pc, leader)
	}
	for _, r := range pc.GetReplicas() {
		if r.GetDiffers() != (r.GetNode() == bad) || !r.GetReported() || len(r.GetDigest()) != 64 || r.GetIndex() != pc.GetIndex() {
			t.Fatalf("replica %v: want only the one on %s to differ, every one reported at %d", r, bad, pc.GetIndex())
		}
	}
	if got := counter(tn.nodes[leader], "cairn_consistency_mismatches_total"); got != 1 {
		t.Fatalf("cairn_consistency_mismatches_total on %s = %v, want 1", leader, got)
	}
	want := fmt.Sprintf("group %d replica %d differs from the majority at index %d", gid, badID, pc.GetIndex())
	testkit.WaitFor(t, 5*time.Second, bad+"'s /readyz to fail its consistency check", func() bool {
		c := readyCheck(tn.nodes[bad], "consistency")
		return !c.OK && strings.Contains(c.Reason, want)
	})
	if c := readyCheck(tn.nodes[leader], "consistency"); !c.OK {
		t.Fatalf("the leader's consistency check fails: %s", c.Reason)
	}
	// Its node still answers reads of the partition, right, from elsewhere.
	err = readValue(ctx, tn.nodes[bad], p, replica.Linearizable, key, "value-0")
	if err != nil {
		t.Fatalf("a read on %s: %v", bad, err)
	}

	// The repair: a new replica on the same node, rebuilt from a snapshot.
	testkit.WaitFor(t, 60*time.Second, "a new replica on "+bad+" to replace the one that differs", func() bool {
		g, ok := tn.nodes[bad].host.Group(gid)
		if !ok {
			return false
		}
		st := g.Status()
		m, ok := st.Descriptor.Replica(st.Replica)
		return st.Replica > badID && st.Diverged == 0 && ok && m.Role == replica.RoleVoter && len(st.Descriptor.Voters) == 3
	})
	testkit.WaitFor(t, 30*time.Second, "a check that agrees after the repair", func() bool {
		resp, err := admin.Verify(ctx, &cairnv1.VerifyRequest{Partitions: []int32{p}})
		return err == nil && resp.GetPartitions()[0].GetVerdict() == "agree"
	})
	if c := readyCheck(tn.nodes[bad], "consistency"); !c.OK {
		t.Fatalf("after the repair %s's consistency check still fails: %s", bad, c.Reason)
	}
	item, ok, err := kv.Get(tn.nodes[bad].store, uint64(gid), key)
	if err != nil || !ok || string(item.Value) != "value-0" {
		t.Fatalf("the rebuilt replica holds %q, %v, %v; want value-0", item.Value, ok, err)
	}
}

// flipValue changes one byte of key's stored record in store, behind the
// engine's back (a disk or a bug that changed one replica's state).
func flipValue(t *testing.T, store storage.Store, gid replica.GroupID, key []byte) {
	t.Helper()
	k := storage.DataKey(uint64(gid), key)
	v, err := store.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	v = bytes.Clone(v)
	v[len(v)-1] ^= 0x20
	b := store.NewBatch()
	defer b.Close()
	if err := errors.Join(b.Set(k, v), b.Commit(true)); err != nil {
		t.Fatal(err)
	}
}

// Verify refuses a partition that does not exist, naming the range.
func TestVerifyRefusesUnknownPartition(t *testing.T) {
	tn := startNodes(t, 1, 2, func(c *Config) { c.ConsistencyCheckInterval = -1 })
	tn.ready()
	_, err := tn.nodes["n1"].admin.Verify(context.Background(), &cairnv1.VerifyRequest{Partitions: []int32{2}})
	if err == nil || !strings.Contains(err.Error(), "must be 0 to 1") {
		t.Fatalf("verify of partition 2 of 2: %v", err)
	}
}
