package rebalance

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
)

var settings = cluster.Settings{Partitions: 4}.WithDefaults(3)

// TestFailureDetector steps passes on a fake clock, 100 ms apart, with a
// 1.5 s dead-after: a member silent from the start is marked down at the
// pass 1.5 s after this node began leading (not one pass earlier), one
// silent for less than dead-after never is, and a down one that answers
// again is marked up at the next pass.
func TestFailureDetector(t *testing.T) {
	// n4 keeps the placement possible with n3 down (R = 3).
	f := newFakeNode("n1", settings, members("n1", "n2", "n3", "n4")...)
	r, clk := newTest(f)
	ctx := context.Background()
	var moves sync.WaitGroup
	defer moves.Wait()
	f.setSilent("n3", true)
	for i := 0; i <= 25; i++ {
		f.setSilent("n2", i >= 5 && i < 18) // silent 1.3 s, below dead-after
		if i == 20 {
			f.setSilent("n3", false)
		}
		if err := r.pass(ctx, &moves); err != nil {
			t.Fatalf("pass %d: %v", i, err)
		}
		want := cluster.NodeUp
		if i >= 15 && i < 20 {
			want = cluster.NodeDown
		}
		if got := f.state("n3"); got != want {
			t.Fatalf("after the pass at %v: n3 (silent from the start, answering from 2s) is %s, want %s",
				clk.Now().Sub(start), got, want)
		}
		if got := f.state("n2"); got != cluster.NodeUp {
			t.Fatalf("after the pass at %v: n2 (silent from 0.5s to 1.8s) is %s, want up", clk.Now().Sub(start), got)
		}
		clk.Advance(100 * time.Millisecond)
	}
}

// TestNewLeaderWaitsDeadAfter: a node that leads the meta group anew (its
// state reset) waits dead-after from its first pass as leader before it
// marks anyone down, however long the member was silent before.
func TestNewLeaderWaitsDeadAfter(t *testing.T) {
	f := newFakeNode("n1", settings, members("n1", "n2", "n3", "n4")...)
	r, clk := newTest(f)
	var moves sync.WaitGroup
	defer moves.Wait()
	f.setSilent("n2", true)
	for i := 0; i <= 26; i++ {
		if err := r.pass(context.Background(), &moves); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			r.reset() // leadership lost and won again: leading anew from pass 11
		}
		want := cluster.NodeUp
		if i == 26 { // 1.5 s after pass 11
			want = cluster.NodeDown
		}
		if got := f.state("n2"); got != want {
			t.Fatalf("after pass %d: n2 (silent throughout) is %s, want %s", i, got, want)
		}
		clk.Advance(100 * time.Millisecond)
	}
}

// TestDrainFinishes: a draining member is moved off, then marked removed
// once no descriptor names it.
func TestDrainFinishes(t *testing.T) {
	ms := members("n1", "n2", "n3", "n4")
	ms[3].State = cluster.NodeDraining
	f := newFakeNode("n1", settings, ms...)
	r, _ := newTest(f)
	ctx := context.Background()
	var descs []replica.Descriptor
	for gid := range settings.Partitions + 1 {
		descs = append(descs, desc(replica.GroupID(gid), 5, "n1", "n2", "n3"))
	}
	descs[2] = desc(2, 5, "n1", "n2", "n4")
	f.setDescs(descs, 0)
	f.mu.Lock()
	f.mu.leaders[2] = "n2"
	f.mu.Unlock()

	var moves sync.WaitGroup
	if err := r.pass(ctx, &moves); err != nil {
		t.Fatal(err)
	}
	moves.Wait()
	if got := f.state("n4"); got != cluster.NodeDraining {
		t.Fatalf("n4 is %s while group 2 still has a replica on it, want draining", got)
	}
	f.mu.Lock()
	changes := slices.Clone(f.mu.changes)
	f.mu.Unlock()
	if len(changes) != 1 || changes[0].node != "n2" || changes[0].gid != 2 || changes[0].expectedVersion != 5 ||
		slices.Contains(changes[0].voters, "n4") || len(changes[0].voters) != 3 {
		t.Fatalf("ChangeReplicas calls %+v, want one on n2 for group 2 at version 5 to three voters without n4", changes)
	}
	if st := r.Status(); st.GetMovesDone() != 1 {
		t.Fatalf("status: %d moves done, want 1", st.GetMovesDone())
	}

	descs[2] = desc(2, 6, "n1", "n2", "n3")
	f.setDescs(descs, 0)
	if err := r.pass(ctx, &moves); err != nil {
		t.Fatal(err)
	}
	moves.Wait()
	if got := f.state("n4"); got != cluster.NodeRemoved {
		t.Fatalf("n4 is %s once no descriptor names it, want removed", got)
	}
}

// TestDrainWaitsForEveryDescriptor: with a group's descriptor unknown, a
// drained-looking member is not removed (the unknown group may hold it).
func TestDrainWaitsForEveryDescriptor(t *testing.T) {
	ms := members("n1", "n2", "n3", "n4")
	ms[3].State = cluster.NodeDraining
	f := newFakeNode("n1", settings, ms...)
	r, _ := newTest(f)
	f.setDescs([]replica.Descriptor{desc(1, 5, "n1", "n2", "n3")}, settings.Partitions)
	var moves sync.WaitGroup
	if err := r.pass(context.Background(), &moves); err != nil {
		t.Fatal(err)
	}
	moves.Wait()
	if got := f.state("n4"); got != cluster.NodeDraining {
		t.Fatalf("n4 is %s with %d descriptors unknown, want draining", got, settings.Partitions)
	}
}

// TestRunOnFakeClock drives Run's rebalancer loop by the fake clock alone:
// a silent member is marked down once dead-after has passed by it.
func TestRunOnFakeClock(t *testing.T) {
	f := newFakeNode("n1", settings, members("n1", "n2", "n3", "n4")...)
	f.setSilent("n3", true)
	r, clk := newTest(f)
	f.clk = clk
	r.cfg.LeaderBalanceInterval, r.cfg.RepairInterval = 0, 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for f.state("n3") != cluster.NodeDown {
		if time.Now().After(deadline) {
			t.Fatalf("n3 silent for %v of fake time, not marked down", clk.Now().Sub(start))
		}
		// The loop may not have made its ticker yet, or still be in a
		// pass: a tick lost then only delays the next pass.
		clk.Advance(100 * time.Millisecond)
		select {
		case <-f.passes:
		case <-time.After(10 * time.Millisecond):
		}
	}
	r.mu.Lock()
	since := r.mu.leaderSince
	r.mu.Unlock()
	f.mu.Lock()
	downAt := f.mu.changedAt["n3"]
	f.mu.Unlock()
	if took := downAt.Sub(since); took < 1500*time.Millisecond {
		t.Fatalf("n3 marked down %v after this node began leading, before dead-after (1.5s)", took)
	}
}

func TestMovedVoters(t *testing.T) {
	d := desc(1, 3, "a", "b", "c")
	d.Replicas = append(d.Replicas, replica.Member{ID: 4, Node: "d", Role: replica.RoleLearner}, replica.Member{ID: 5, Node: "e", Role: replica.RoleLearner})
	d.Learners = []replica.ReplicaID{4, 5}
	for _, tc := range []struct {
		name   string
		m      cluster.Move
		target []string
		want   []string
	}{
		{"add and remove, target order", cluster.Move{Group: 1, Add: "f", Remove: "a"}, []string{"f", "c", "b"}, []string{"f", "c", "b"}},
		{"a learner the target keeps is promoted", cluster.Move{Group: 1, Remove: "a"}, []string{"d", "b", "c"}, []string{"d", "b", "c"}},
		{"remove only", cluster.Move{Group: 1, Remove: "c"}, []string{"a", "b"}, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := movedVoters(d, tc.m, tc.target); !slices.Equal(got, tc.want) {
				t.Fatalf("movedVoters = %v, want %v", got, tc.want)
			}
		})
	}
}
