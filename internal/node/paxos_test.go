package node

import (
	"context"
	"sync"
	"testing"
	"time"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
)

// A cluster created with --engine paxos runs its partitions' groups on
// Paxos and its meta group on Raft; it takes writes while a node joins and
// another is drained (one voter changes per membership step), keeps every
// acknowledged write through a restart, and its replicas agree.
func TestPaxosCluster(t *testing.T) {
	const P = 4
	paxos := func(c *Config) {
		elasticTweak(c)
		c.Settings.Engine = cluster.EnginePaxos
	}
	tn := startNodes(t, 3, P, paxos)
	tn.ready()
	n1 := tn.nodes["n1"]
	tn.converged(n1, 20*time.Second)
	for _, id := range n1.host.Groups() {
		g, ok := n1.host.Group(id)
		if !ok {
			continue
		}
		want := "paxos"
		if id == 0 {
			want = "raft"
		}
		if got := g.Status().Engine.Name; got != want {
			t.Fatalf("group %d runs %q, want %q", id, got, want)
		}
	}
	var liveMu sync.Mutex
	live := []*Node{n1, tn.nodes["n2"], tn.nodes["n3"]}
	w := startWriter(t, func() []*Node { liveMu.Lock(); defer liveMu.Unlock(); return live })
	ctx := context.Background()

	tn.join("n4", tn.nodes["n2"], elasticTweak)
	tn.converged(n1, 90*time.Second)
	if _, err := admin(n1).Drain(ctx, &cairnv1.NodeRequest{Node: "n3"}); err != nil {
		t.Fatal(err)
	}
	liveMu.Lock()
	live = []*Node{n1, tn.nodes["n2"]}
	liveMu.Unlock()
	tn.converged(n1, 90*time.Second)

	acked := w.finish()
	if len(acked) < 50 {
		t.Fatalf("only %d writes acknowledged during the moves", len(acked))
	}
	tn.stop("n2")
	tn.restart("n2")
	tn.converged(n1, 30*time.Second)
	for key := range acked {
		if err := readBack(n1, key); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	for p := range P {
		g, ok := n1.host.Group(replica.GroupOf(p))
		if !ok || !g.IsLeader() {
			continue
		}
		chk, err := g.CheckConsistency(ctx)
		if err != nil {
			t.Fatalf("partition %d: consistency check: %v", p, err)
		}
		if chk.Verdict != replica.VerdictAgree {
			t.Fatalf("partition %d: replicas %v: %+v", p, chk.Verdict, chk)
		}
	}
	t.Logf("%d acknowledged writes, all present after a join, a drain and a restart", len(acked))
}
