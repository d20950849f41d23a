package hashring

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tb is what the checks need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// names returns members called prefix0, prefix1, ... of capacity 1 and no
// zone.
func names(prefix string, n int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{Name: fmt.Sprintf("%s%d", prefix, i)}
	}
	return ms
}

// factorAt is RelaxStep^k the way the package documentation says it is
// computed.
func factorAt(k int) float64 {
	f := 1.0
	for range k {
		f *= RelaxStep
	}
	return f
}

// wantCaps computes every member's share and cap at factor f from the rules
// in the package documentation, independently of the placer: members
// sorted by name, zero capacity meaning 1.
func wantCaps(ms []Member, cfg Config, f float64) (shares []float64, caps []int) {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	c := cfg.LoadFactor
	if c == 0 {
		c = DefaultLoadFactor
	}
	w := func(m Member) float64 {
		if m.Capacity == 0 {
			return 1
		}
		return m.Capacity
	}
	var sum float64
	for _, m := range ms {
		sum += w(m)
	}
	for _, m := range ms {
		s := float64(cfg.Replicas*cfg.Partitions) * w(m) / sum
		shares = append(shares, s)
		cp := cfg.Partitions
		if !math.IsInf(c, 1) {
			cp = int(min(float64(cfg.Partitions), math.Ceil(f*c*s)))
		}
		caps = append(caps, cp)
	}
	return shares, caps
}

// checkPlacement checks every invariant the package documentation promises
// of pl = Place(ms, cfg):
//   - every partition has R distinct replicas, all members;
//   - the per-node counts are those of the replicas;
//   - Factor = RelaxStep^Steps, Reason is zero exactly when Steps is, and
//     every node carries at most ⌈Factor·c·share⌉ (and Cap says so);
//   - the zone rule holds replica by replica;
//   - replica k of partition p is the first of p's successors (Ring's
//     Successors, not the placer's walk) that the rules allow, given the
//     loads of partitions 0..p-1: the greedy pass replayed;
//   - the pass at RelaxStep^(Steps-1) fails (the factor is the smallest).
func checkPlacement(t tb, ms []Member, cfg Config, pl *Placement) {
	t.Helper()
	P, R := cfg.Partitions, cfg.Replicas
	nodes := pl.Nodes()
	if len(nodes) != len(ms) {
		t.Fatalf("%d nodes, want %d", len(nodes), len(ms))
	}
	idx := make(map[string]int, len(nodes))
	zoneOf := make(map[string]string, len(nodes))
	zoneSize := map[string]int{}
	for i, n := range nodes {
		if i > 0 && nodes[i-1].Name >= n.Name {
			t.Fatalf("nodes not sorted by name: %q then %q", nodes[i-1].Name, n.Name)
		}
		idx[n.Name] = i
		zoneOf[n.Name] = n.Zone
		zoneSize[n.Zone]++
	}

	rx := pl.Relaxation()
	if rx.Steps < 0 || rx.Factor != factorAt(rx.Steps) {
		t.Fatalf("relaxation %+v: factor is not RelaxStep^Steps = %v", rx, factorAt(rx.Steps))
	}
	if (rx.Steps == 0) != (rx.Reason == 0) || rx.Relaxed() != (rx.Steps > 0) {
		t.Fatalf("relaxation %+v: a reason exactly when raised", rx)
	}
	shares, caps := wantCaps(ms, cfg, rx.Factor)

	load := make([]int, len(nodes))
	leaders := make([]int, len(nodes))
	for p := range P {
		rs := pl.Replicas(p)
		if len(rs) != R {
			t.Fatalf("partition %d: %d replicas %v, want %d", p, len(rs), rs, R)
		}
		if pl.Leader(p) != rs[0] {
			t.Fatalf("partition %d: leader %q, replicas %v", p, pl.Leader(p), rs)
		}
		// Replay the greedy pass on the ring's successors, in the order
		// the pass chose the replicas.
		chosen := make([]string, R)
		for k, n := range pl.chosen[p*R : (p+1)*R] {
			chosen[k] = pl.nodes[n].Name
		}
		if !slices.Equal(slices.Sorted(slices.Values(chosen)), slices.Sorted(slices.Values(rs))) ||
			!slices.Equal(slices.DeleteFunc(slices.Clone(chosen), func(s string) bool { return s == rs[0] }), rs[1:]) {
			t.Fatalf("partition %d: replicas %v are not the chosen %v with the leader moved first", p, rs, chosen)
		}
		leaders[idx[rs[0]]]++
		used := map[string]int{}
		for k, name := range chosen {
			rs := chosen
			i, ok := idx[name]
			if !ok {
				t.Fatalf("partition %d: replica %q is not a member", p, name)
			}
			if slices.Contains(rs[:k], name) {
				t.Fatalf("partition %d: two replicas on %q: %v", p, name, rs)
			}
			minUsed := math.MaxInt
			for z, size := range zoneSize {
				if used[z] < size {
					minUsed = min(minUsed, used[z])
				}
			}
			if used[zoneOf[name]] != minUsed {
				t.Fatalf("partition %d: replica %d on %q in zone %q which already has %d, while another zone has %d (replicas %v)",
					p, k, name, zoneOf[name], used[zoneOf[name]], minUsed, rs)
			}
			want := ""
			for s := range pl.Ring().Successors(PartitionHash(p)) {
				j := idx[s]
				if !slices.Contains(rs[:k], s) && load[j] < caps[j] && used[zoneOf[s]] == minUsed {
					want = s
					break
				}
			}
			if name != want {
				t.Fatalf("partition %d: replica %d is %q, want the first eligible successor %q (replicas %v)", p, k, name, want, rs)
			}
			used[zoneOf[name]]++
			load[i]++
		}
	}
	for i, n := range nodes {
		if n.Replicas != load[i] || n.Leaders != leaders[i] {
			t.Fatalf("node %q: reports %d replicas, %d leaders; placement has %d, %d", n.Name, n.Replicas, n.Leaders, load[i], leaders[i])
		}
		if n.Share != shares[i] || n.Cap != caps[i] {
			t.Fatalf("node %q: share %v cap %d, want %v and %d (factor %v)", n.Name, n.Share, n.Cap, shares[i], caps[i], rx.Factor)
		}
		if load[i] > caps[i] {
			t.Fatalf("node %q: %d replicas over its cap %d (share %.2f, factor %v)", n.Name, load[i], caps[i], shares[i], rx.Factor)
		}
		if got, ok := pl.Node(n.Name); !ok || got != n {
			t.Fatalf("Node(%q) = %+v, %v; want %+v", n.Name, got, ok, n)
		}
	}

	if rx.Steps > 0 {
		// The smallest factor: one step less must fail, for a reason that
		// Reason reports.
		pr := newPlacer(pl.Ring(), pl.Config())
		pr.setCaps(factorAt(rx.Steps - 1))
		ok, why := pr.countFits()
		if ok {
			ok, why = pr.greedy()
		}
		if ok {
			t.Fatalf("relaxation %v: the pass at %d steps fits too", rx, rx.Steps-1)
		}
		if rx.Reason&why == 0 {
			t.Fatalf("relaxation %v: the pass at %d steps failed for %v", rx, rx.Steps-1, why)
		}
	}
}

// checkSame fails unless a and b place every partition identically.
func checkSame(t tb, a, b *Placement) {
	t.Helper()
	if a.Partitions() != b.Partitions() || a.Relaxation() != b.Relaxation() {
		t.Fatalf("placements differ: P %d vs %d, relaxation %v vs %v", a.Partitions(), b.Partitions(), a.Relaxation(), b.Relaxation())
	}
	for p := range a.Partitions() {
		if ra, rb := a.Replicas(p), b.Replicas(p); !slices.Equal(ra, rb) {
			t.Fatalf("partition %d: %v vs %v", p, ra, rb)
		}
	}
	if !slices.Equal(a.Nodes(), b.Nodes()) {
		t.Fatalf("node loads differ:\n%v\n%v", a.Nodes(), b.Nodes())
	}
}
