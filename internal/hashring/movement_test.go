package hashring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// A family of random clusters: how the i-th member (and the joiner, i = N)
// gets its capacity and zone.
type family struct {
	name   string
	member func(rng *rand.Rand, i int) Member
}

var (
	uniform  = family{"equal capacities", func(*rand.Rand, int) Member { return Member{} }}
	weighted = family{"capacities 0.5-2", func(rng *rand.Rand, _ int) Member {
		return Member{Capacity: 0.5 + 1.5*rng.Float64()}
	}}
	evenZones = family{"3 zones, round robin", func(_ *rand.Rand, i int) Member {
		return Member{Zone: fmt.Sprintf("zone-%d", i%3)}
	}}
	randomZones = family{"3 zones, random", func(rng *rand.Rand, _ int) Member {
		return Member{Zone: fmt.Sprintf("zone-%d", rng.IntN(3))}
	}}
	randomZones5 = family{"5 zones, random", func(rng *rand.Rand, _ int) Member {
		return Member{Zone: fmt.Sprintf("zone-%d", rng.IntN(5))}
	}}
)

// movement places a random cluster of family f with n members, then the
// same with one more member and with one fewer, and returns how many
// replicas each change moves as a ratio to the ideal: the joiner's weighted
// share R·P·w/(Σw+w), the leaver's R·P·w/Σw (R·P/(N+1) and R·P/N at equal
// capacities). gone is false when n = R, where no member can leave.
func movement(t testing.TB, rng *rand.Rand, f family, n int, cfg Config) (add, remove float64, gone bool) {
	t.Helper()
	ms := make([]Member, n+1)
	for i := range ms {
		ms[i] = f.member(rng, i)
		if ms[i].Capacity == 0 {
			ms[i].Capacity = 1
		}
		ms[i].Name = fmt.Sprintf("node-%08x", rng.Uint32())
	}
	joiner, ms := ms[n], ms[:n]
	place := func(ms []Member) *Placement {
		pl, err := Place(ms, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return pl
	}
	moved := func(from, to *Placement) float64 {
		mv, err := Diff(from, to)
		if err != nil {
			t.Fatal(err)
		}
		return float64(mv.Added)
	}
	var sum float64
	for _, m := range ms {
		sum += m.Capacity
	}
	rp := float64(cfg.Replicas * cfg.Partitions)
	base := place(ms)
	add = moved(base, place(append(slices.Clone(ms), joiner))) / (rp * joiner.Capacity / (sum + joiner.Capacity))
	if n == cfg.Replicas {
		return add, 0, false
	}
	k := rng.IntN(n)
	remove = moved(base, place(slices.Delete(slices.Clone(ms), k, k+1))) / (rp * ms[k].Capacity / sum)
	return add, remove, true
}

// meanMovement averages movement over samples random clusters of N in
// [3, 100] and P in {64, 128, ..., 4096}, R = 3, default V and c.
func meanMovement(t testing.TB, f family, seed uint64, samples int) (add, remove float64) {
	rng := rand.New(rand.NewPCG(seed, 0))
	removes := 0
	for range samples {
		n := 3 + rng.IntN(98)
		p := 64 << rng.IntN(7)
		a, r, ok := movement(t, rng, f, n, Config{Partitions: p, Replicas: 3})
		add += a
		if ok {
			remove += r
			removes++
		}
	}
	return add / float64(samples), remove / float64(removes)
}

// TestMovementBound: averaged over random clusters, a join moves at most
// 1.5× the ideal R·P/(N+1) replicas and a leave at most 1.5× R·P/N (the
// goal is 1.1×; TestMovementReport logs the figures). These are counts of a
// seeded computation, so the test is deterministic.
//
// Zones of random sizes are logged, not asserted: with a zone per replica a
// small zone must hold a replica of every partition whatever its share, so
// the ideal R·P/(N+1) is out of reach (a joiner in a zone of k nodes takes
// P/(k+1)) and the caps are raised by the relaxation rule; see
// TestMovementReport.
func TestMovementBound(t *testing.T) {
	const samples = 40
	for i, f := range []family{uniform, weighted, evenZones, randomZones} {
		t.Run(f.name, func(t *testing.T) {
			seed := uint64(1000 + i)
			add, remove := meanMovement(t, f, seed, samples)
			t.Logf("seed %d, %d clusters: join moves %.3f× the ideal, leave %.3f×", seed, samples, add, remove)
			if f.name == randomZones.name {
				return
			}
			if add > 1.5 || remove > 1.5 {
				t.Errorf("seed %d: join moves %.3f× the ideal, leave %.3f×; want at most 1.5×", seed, add, remove)
			}
		})
	}
}

// TestMovementReport logs the movement ratios of joins and leaves for a
// few cluster sizes, averaged over a few random clusters each (go test -v
// -run MovementReport). It asserts nothing: TestMovementBound does.
func TestMovementReport(t *testing.T) {
	if testing.Short() {
		t.Skip("a report, not a test")
	}
	for _, f := range []family{uniform, weighted, evenZones, randomZones, randomZones5} {
		for _, n := range []int{5, 10, 30, 100} {
			for _, p := range []int{64, 256, 1024, 4096} {
				if n == 5 && p == 4096 {
					continue
				}
				// Small placements vary more and cost less: average more.
				samples := max(2, 1024/p)
				rng := rand.New(rand.NewPCG(uint64(n), uint64(p)))
				var add, remove float64
				for range samples {
					a, r, _ := movement(t, rng, f, n, Config{Partitions: p, Replicas: 3})
					add += a / float64(samples)
					remove += r / float64(samples)
				}
				t.Logf("%-20s N=%3d P=%4d R=3 (%5.1f replicas a node): join %.3f×  leave %.3f×", f.name, n, p, 3*float64(p)/float64(n), add, remove)
			}
		}
	}
}
