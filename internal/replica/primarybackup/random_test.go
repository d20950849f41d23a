package primarybackup

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
)

// runRandom runs one seeded history of faults over n cores: crashes and
// restarts, cut links, replicas cut off from the meta group, lost and late
// messages, a meta group without a leader at times, logs truncated (so
// lagging backups get snapshots), proposals and reads throughout; then it heals, checks
// that the group serves again and that nothing committed was lost. The
// harness checks safety after every round. It returns what was committed.
func runRandom(t testing.TB, seed uint64, n, steps int) *cluster {
	return runHistory(t, seed, n, steps, false, false)
}

// runHistory is runRandom; truncate: logs are truncated at times too;
// transfers: the primary is asked at times to hand over to a random
// replica (TransferLeader: a switchover, when it is an in-sync voter). Each
// a history of its own, so that the seeds broken_test.go pins keep theirs.
func runHistory(t testing.TB, seed uint64, n, steps int, truncate, transfers bool) *cluster {
	return runHistoryWith(t, seed, n, steps, truncate, transfers, Options{})
}

// runHistoryWith is runHistory with the engine's options (async mode).
func runHistoryWith(t testing.TB, seed uint64, n, steps int, truncate, transfers bool, opts Options) *cluster {
	cl := newCluster(t, seed, n, opts)
	r := cl.rng
	cl.logf("seed %d", seed)
	for step := range steps {
		switch x := r.IntN(100); {
		case x < 30:
			if p := cl.primary(); p != nil {
				if data, err := cl.propose(p); err == nil {
					cl.logf("step %d: %d proposes %s", step, p.id, show(data))
				}
			}
		case x < 38:
			if p := cl.primary(); p != nil {
				ctx := fmt.Sprintf("r%d", step)
				cl.pending[ctx] = cl.chk.maxIndex
				p.core.ReadIndex([]byte(ctx))
			}
		case x < 41:
			nd := cl.nodes[cl.ids[r.IntN(n)]]
			if nd.up {
				cl.crash(nd)
			} else {
				cl.logf("restart %d", nd.id)
				cl.start(nd)
			}
		case x < 44:
			a, b := cl.ids[r.IntN(n)], cl.ids[r.IntN(n)]
			if a != b {
				cl.logf("cut %d-%d", a, b)
				cl.cut[[2]replica.ReplicaID{a, b}] = true
				cl.cut[[2]replica.ReplicaID{b, a}] = true
			}
		case x < 45:
			id := cl.ids[r.IntN(n)]
			cl.logf("cut %d from the meta group", id)
			cl.metaCut[id] = true
		case x < 46 && transfers && r.IntN(2) == 0:
			if p := cl.primary(); p != nil {
				to := cl.ids[r.IntN(n)]
				if in := p.core.rec.InSync; len(in) > 0 && r.IntN(4) > 0 {
					to = in[r.IntN(len(in))] // mostly to an in-sync member
				}
				cl.logf("step %d: %d asked to hand over to %d", step, p.id, to)
				p.core.TransferLeader(to)
			}
		case x < 46:
			cl.logf("heal links")
			cl.cut = map[[2]replica.ReplicaID]bool{}
			cl.metaCut = map[replica.ReplicaID]bool{}
		case x < 47:
			if !truncate || r.IntN(2) == 0 {
				cl.meta.SetUnavailable(r.IntN(3) == 0)
			} else if nd := cl.nodes[cl.ids[r.IntN(n)]]; nd.up {
				cl.truncate(nd)
			}
		case x < 49:
			cl.drop = []float64{0, 0, 0.05, 0.2}[r.IntN(4)]
			cl.delay = []float64{0, 0, 0.1}[r.IntN(3)]
		case x < 75:
			cl.tick()
		default:
			for range r.IntN(20) + 1 {
				if len(cl.net) > 0 {
					cl.deliver(r.IntN(len(cl.net)))
				}
			}
		}
		for _, id := range cl.ids {
			cl.round(cl.nodes[id])
		}
		if r.IntN(3) == 0 {
			cl.storeStep()
		}
	}
	cl.logf("heal")
	cl.heal()
	// Every replica is up and linked again: the primary re-syncs each
	// backup and adds it back to the in-sync set.
	var p *node
	for range 500 {
		cl.tick()
		cl.settle(20000)
		// (A switchover asked for may still be under way: writes wait.)
		// (Async: and a backup answered this tenure, else writes are refused.)
		if p = cl.primary(); p != nil && p.core.inOffice() && len(p.core.rec.InSync) == n && p.core.lead.transferee == 0 &&
			(!p.core.async() || p.core.backupAnswered()) {
			break
		}
	}
	if p == nil || !p.core.inOffice() || len(p.core.rec.InSync) != n {
		cl.fail("seed %d: no primary in office with every replica in sync after healing (%+v)", seed, p)
	}
	data, err := cl.propose(p)
	if err != nil {
		cl.fail("seed %d: %d refuses a write after healing: %v", seed, p.id, err)
	}
	if !cl.waitCommitted(data, 300) {
		cl.fail("seed %d: a write after healing did not commit everywhere", seed)
	}
	cl.checkConverged()
	return cl
}

// TestRandom runs seeded histories, odd seeds with log truncation and
// snapshots, seeds divisible by 3 with switchovers (PB_SEEDS sets how many; a failure prints its seed, and
// PB_SEED replays one).
func TestRandom(t *testing.T) {
	seeds := 60
	if s, err := strconv.Atoi(os.Getenv("PB_SEEDS")); err == nil {
		seeds = s
	}
	first := uint64(1)
	if s, err := strconv.ParseUint(os.Getenv("PB_SEED"), 10, 64); err == nil {
		first, seeds = s, 1
	}
	for seed := first; seed < first+uint64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			n := 3
			if seed%4 == 0 {
				n = 5
			}
			runHistory(t, seed, n, 1500, seed%2 == 1, seed%3 == 0)
		})
	}
}

// TestRandomAsync runs seeded histories in async mode (PB_SEEDS, PB_SEED
// as TestRandom), odd seeds with truncation: what a failover loses must be
// entries a newer epoch superseded, each rolled back and recorded by every
// replica that applied it, and every replica converges on the new log.
func TestRandomAsync(t *testing.T) {
	seeds := 40
	if s, err := strconv.Atoi(os.Getenv("PB_SEEDS")); err == nil {
		seeds = s
	}
	first := uint64(1)
	if s, err := strconv.ParseUint(os.Getenv("PB_SEED"), 10, 64); err == nil {
		first, seeds = s, 1
	}
	lost, rolled := 0, 0
	for seed := first; seed < first+uint64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			cl := runHistoryWith(t, seed, 3, 1500, seed%2 == 1, seed%3 == 0, Options{Mode: ModeAsync})
			for _, ls := range cl.chk.lost {
				lost += len(ls)
			}
			rolled += len(cl.chk.rolledBack)
		})
	}
	t.Logf("%d seeds: %d applied entries lost in failovers, %d rollbacks recorded", seeds, lost, rolled)
}
