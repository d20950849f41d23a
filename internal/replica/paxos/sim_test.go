package paxos

import (
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

// TestSimulation runs seeded random histories — message loss,
// duplication and reordering, partitions, crashes (inside rounds too),
// truncation and snapshots, leader transfers, proposals and reads at any
// replica — checking safety after every step, then heals the cluster and
// checks that a proposal commits everywhere and nothing committed was
// lost. A failure prints its seed; replay it with TestSimulationSeed.
func TestSimulation(t *testing.T) {
	seeds := 150
	if testing.Short() {
		seeds = 30
	}
	for _, voters := range []int{3, 5} {
		t.Run(fmt.Sprintf("voters=%d", voters), func(t *testing.T) {
			reads := 0
			for seed := range uint64(seeds) {
				reads += runSeed(t, seed, voters, 1500)
				if t.Failed() {
					t.Fatalf("seed %d failed", seed)
				}
			}
			t.Logf("%d seeds, %d reads checked", seeds, reads)
			if reads == 0 {
				t.Error("no read was ever answered")
			}
		})
	}
}

// TestSimulationMembership is TestSimulation with one learner and
// membership changes at random (a stop each, every one raising the
// epoch), with the harness checking, besides what is committed, that no
// slot ever has two values chosen.
func TestSimulationMembership(t *testing.T) {
	seeds := 100
	if testing.Short() {
		seeds = 20
	}
	for _, voters := range []int{3, 5} {
		t.Run(fmt.Sprintf("voters=%d", voters), func(t *testing.T) {
			epochs := uint64(0)
			for seed := range uint64(seeds) {
				cl := runSeedMembers(t, seed, voters, 1, 1500)
				if t.Failed() {
					t.Fatalf("seed %d failed", seed)
				}
				if l := cl.leader(); l != nil {
					epochs += l.core.epoch
				}
			}
			t.Logf("%d seeds, %d epochs begun", seeds, epochs)
			if epochs == 0 {
				t.Error("no membership change was ever chosen")
			}
		})
	}
}

func runSeed(t *testing.T, seed uint64, voters, steps int) int {
	cl := runSeedTB(t, seed, voters, steps)
	if testing.Verbose() {
		t.Logf("seed %d: committed up to %d, %d reads", seed, cl.chk.maxIndex, cl.reads)
	}
	return cl.reads
}

func runSeedTB(t testing.TB, seed uint64, voters, steps int) *cluster {
	return runSeedMembers(t, seed, voters, 0, steps)
}

// runSeedMembers is runSeedTB with learners; with learners it also
// changes the membership at random: a leader promotes a learner, or
// demotes a voter while there are more than voters, each change a stop
// that raises the epoch. (Without learners the history is runSeedTB's
// as it always was: the pinned seeds stay where they are.)
func runSeedMembers(t testing.TB, seed uint64, voters, learners, steps int) *cluster {
	cl := newCluster(t, seed, voters, learners)
	rng := cl.rng
	cl.drop = 0.02 + rng.Float64()*0.1
	cl.dup = rng.Float64() * 0.05
	cl.crashInRound = rng.Float64() * 0.02
	cl.delay = rng.Float64() * 0.3
	for step := range steps {
		up := cl.upNodes()
		switch r := rng.IntN(1000); {
		case r < 200:
			cl.tick()
		case r < 700:
			for k := 1 + rng.IntN(10); k > 0 && len(cl.net) > 0; k-- {
				cl.deliver(rng.IntN(len(cl.net)))
			}
		case r < 850:
			if len(up) > 0 {
				cl.propose(up[rng.IntN(len(up))])
			}
		case r < 880:
			if len(up) > 0 {
				ctx := fmt.Sprintf("r%d-%d", seed, step)
				cl.pending[ctx] = cl.chk.maxIndex
				up[rng.IntN(len(up))].core.ReadIndex([]byte(ctx))
			}
		case r < 890:
			if len(up) > 0 {
				cl.crash(up[rng.IntN(len(up))])
			}
		case r < 910:
			for _, id := range cl.ids {
				if n := cl.nodes[id]; !n.up {
					cl.logf("restart %d", id)
					cl.start(n)
					break
				}
			}
		case r < 930:
			cl.partition()
		case r < 940:
			if l := cl.leader(); l != nil {
				l.core.TransferLeader(cl.ids[rng.IntN(len(cl.ids))])
			}
		case r < 960:
			if len(up) > 0 {
				cl.truncate(up[rng.IntN(len(up))])
			}
		case r < 980 && learners > 0:
			cl.changeMembers(voters)
		}
		for _, n := range cl.upNodes() {
			for cl.round(n) {
			}
		}
	}
	cl.heal()
	cl.settle(100000)
	// A proposal commits everywhere. The one proposed may be lost (a
	// stale leader's, healed just now): a few more are tried, each a new
	// proposal; one committed somewhere but not everywhere fails.
	for attempt := 1; ; attempt++ {
		var data []byte
		for range 500 {
			if l := cl.leader(); l != nil {
				if d, ok := cl.propose(l); ok {
					data = d
					break
				}
			}
			cl.tick()
			cl.settle(100000)
		}
		if data != nil && cl.waitCommitted(data, 500) {
			break
		}
		if _, committed := cl.chk.byData[string(data)]; data == nil || committed || attempt == 5 {
			cl.fail("seed %d: LIVENESS: no proposal committed everywhere after healing (leader %v)", seed, cl.leader() != nil)
		}
		cl.logf("the proposal after healing was lost: again")
	}
	cl.checkConverged()
	return cl
}

// changeMembers has the leader, if any, promote a learner or demote a
// voter while there are more than min.
func (cl *cluster) changeMembers(min int) {
	l := cl.leader()
	if l == nil {
		return
	}
	id := cl.ids[cl.rng.IntN(len(cl.ids))]
	op := driver.ChangeOp{Kind: driver.AddVoter, Replica: id}
	if l.core.isVoter(id) {
		if len(l.core.cfg.Voters) <= min {
			return
		}
		op.Kind = driver.AddLearner
	}
	err := l.core.ProposeChange(driver.Change{Context: []byte("sim"), Ops: []driver.ChangeOp{op}})
	cl.logf("%d proposes change %v: %v", l.id, op, err)
}

func (cl *cluster) upNodes() []*node {
	var up []*node
	for _, id := range cl.ids {
		if n := cl.nodes[id]; n.up {
			up = append(up, n)
		}
	}
	return up
}

// partition isolates one replica, or heals every cut.
func (cl *cluster) partition() {
	if len(cl.cut) > 0 || cl.rng.IntN(3) == 0 {
		cl.cut = map[[2]replica.ReplicaID]bool{}
		cl.logf("heal partition")
		return
	}
	x := cl.ids[cl.rng.IntN(len(cl.ids))]
	if l := cl.leader(); l != nil && cl.rng.IntN(2) == 0 {
		x = l.id // more leader changes, more stale leaders
	}
	for _, y := range cl.ids {
		if y != x {
			cl.cut[[2]replica.ReplicaID{x, y}] = true
			cl.cut[[2]replica.ReplicaID{y, x}] = true
		}
	}
	cl.logf("isolate %d", x)
}

// truncate drops some of n's applied log, as the driver does.
func (cl *cluster) truncate(n *node) {
	to := n.applied - uint64(cl.rng.IntN(4))
	if to <= n.core.trunc.Index || to > n.applied {
		return
	}
	b := n.store.NewBatch()
	defer b.Close()
	must(cl.t, n.core.Log().StageTruncate(storage.LogOf(b), to))
	must(cl.t, b.Commit(false))
}
