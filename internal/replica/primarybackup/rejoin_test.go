package primarybackup

import (
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
)

// TestRejoinUnderLoad: a backup that left the in-sync set rejoins it while
// the primary takes a write every step and the network always has a few
// messages in flight (a pipeline), so that at no tick does the backup
// hold every entry the primary appended unless the primary makes room
// (the catch-up barrier: Options, doc.go "Joining the in-sync set").
func TestRejoinUnderLoad(t *testing.T) {
	for _, mode := range []Mode{ModeSync, ModeAsync} {
		t.Run(mode.String(), func(t *testing.T) {
			if joined, accepted := rejoinUnderLoad(t, mode); joined < 0 {
				t.Fatalf("the backup never rejoined the in-sync set under continuous load (%d writes accepted)", accepted)
			}
		})
	}
	// Without the barrier it never does: the cost the barrier bounds.
	broken.noBarrier = true
	defer func() { broken.noBarrier = false }()
	if joined, accepted := rejoinUnderLoad(t, ModeSync); joined >= 0 {
		t.Fatalf("without the barrier the backup rejoined after %d steps (%d writes): the load no longer shows the cost", joined, accepted)
	}
}

// rejoinUnderLoad returns the step at which the backup rejoined (-1:
// never) and the writes the primary accepted meanwhile; after it rejoined,
// writes must go on being accepted.
func rejoinUnderLoad(t *testing.T, mode Mode) (joined, accepted int) {
	cl := newCluster(t, 7, 3, Options{Mode: mode})
	for range 40 {
		cl.tick()
		cl.settle(10000)
	}
	p := cl.primary()
	if p == nil || !p.core.inOffice() || len(p.core.rec.InSync) != 3 {
		t.Fatalf("no primary in office with every replica in sync")
	}
	var away replica.ReplicaID
	for _, id := range cl.ids {
		if id != p.id {
			away = id
		}
	}
	for _, id := range cl.ids {
		if id != away {
			cl.cut[[2]replica.ReplicaID{id, away}] = true
			cl.cut[[2]replica.ReplicaID{away, id}] = true
		}
	}
	for i := 0; i < 200 && slices.Contains(p.core.rec.InSync, away); i++ {
		cl.tick()
		cl.settle(10000)
	}
	if slices.Contains(p.core.rec.InSync, away) {
		t.Fatalf("replica %d never left the in-sync set", away)
	}
	cl.cut = map[[2]replica.ReplicaID]bool{}
	const depth, steps = 6, 4000
	rounds := func() {
		for _, id := range cl.ids {
			for cl.round(cl.nodes[id]) {
			}
		}
	}
	joined = -1
	for step := range steps {
		if _, err := cl.propose(p); err == nil {
			accepted++
		}
		rounds()
		for len(cl.net) > depth {
			cl.deliver(0)
			rounds()
		}
		cl.storeStep()
		if step%3 == 0 {
			cl.tick()
		}
		if p.core.role != rolePrimary {
			t.Fatalf("step %d: %d is no longer primary", step, p.id)
		}
		if slices.Contains(p.core.rec.InSync, away) {
			joined = step
			break
		}
	}
	if joined < 0 {
		t.Logf("%s: replica %d did not rejoin in %d steps of load; %d writes accepted", mode, away, steps, accepted)
		return joined, accepted
	}
	t.Logf("%s: replica %d rejoined after %d steps (%d ticks) of load; %d writes accepted meanwhile", mode, away, joined, joined/3, accepted)
	after := 0
	for range 100 {
		if _, err := cl.propose(p); err == nil {
			after++
		}
		rounds()
		cl.settle(10000)
	}
	if after == 0 {
		t.Fatalf("%s: no write accepted after the backup rejoined", mode)
	}
	return joined, accepted
}
