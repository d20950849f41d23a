package paxos

import (
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
)

// TestMembership: a learner promoted, a voter removed, one change at a
// time; the group keeps committing under each configuration, and the
// removed voter no longer counts.
func TestMembership(t *testing.T) {
	cl := newCluster(t, 3, 3, 1) // voters 1-3, learner 4
	l := cl.elect(t)
	if err := l.core.ProposeChange(driver.Change{Context: []byte("promote"), Ops: []driver.ChangeOp{{Kind: driver.AddVoter, Replica: 4}}}); err != nil {
		t.Fatal(err)
	}
	if err := l.core.ProposeChange(driver.Change{Ops: []driver.ChangeOp{{Kind: driver.Remove, Replica: 1}}}); err != driver.ErrDropped {
		t.Fatalf("a second pending change: %v, want ErrDropped", err)
	}
	if _, ok := cl.propose(l); ok {
		t.Fatal("a proposal above a pending change was taken")
	}
	l = cl.elect(t) // phase 1 again under the new configuration
	for _, id := range cl.ids {
		if got := cl.nodes[id].core.cfg.Voters; !slices.Equal(got, []replica.ReplicaID{1, 2, 3, 4}) {
			t.Fatalf("replica %d voters %v", id, got)
		}
	}
	d, _ := cl.propose(l)
	if !cl.waitCommitted(d, 20) {
		t.Fatal("no commit with four voters")
	}
	// A two-voter swap is not single-step.
	if err := l.core.ProposeChange(driver.Change{Ops: []driver.ChangeOp{{Kind: driver.Remove, Replica: 2}, {Kind: driver.Remove, Replica: 3}}}); err != driver.ErrDropped {
		t.Fatalf("two voters at once: %v", err)
	}
	victim := replica.ReplicaID(1)
	if l.id == victim {
		victim = 2
	}
	if err := l.core.ProposeChange(driver.Change{Ops: []driver.ChangeOp{{Kind: driver.Remove, Replica: victim}}}); err != nil {
		t.Fatal(err)
	}
	l = cl.elect(t)
	// The removed replica is destroyed, as the node does.
	cl.crash(cl.nodes[victim])
	delete(cl.nodes, victim)
	cl.ids = slices.DeleteFunc(cl.ids, func(id replica.ReplicaID) bool { return id == victim })
	// Three voters left, one of them crashed too: two of three still commit.
	var other *node
	for _, id := range cl.ids {
		if n := cl.nodes[id]; n.up && n != l && other == nil {
			other = n
		}
	}
	cl.crash(other)
	d, _ = cl.propose(l)
	if !cl.waitCommitted(d, 50) {
		cl.fail("no commit with two of the three remaining voters")
	}
	cl.heal()
	cl.settle(100000)
	d, _ = cl.propose(cl.elect(t))
	if !cl.waitCommitted(d, 50) {
		cl.fail("no commit after healing")
	}
	cl.checkConverged()
}
