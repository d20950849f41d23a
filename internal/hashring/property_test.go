package hashring

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// genCluster draws a cluster and a config within the ranges: N from
// 3 to 100, P from 64 to 4096 (log-uniform, so most cases stay small), R up
// to 5, up to 6 zones, capacities from a few sizes, c from a few values.
// Uneven mode draws capacities up to 40× apart, which forces relaxation.
func genCluster(t *rapid.T) ([]Member, Config) {
	n := rapid.IntRange(3, 100).Draw(t, "N")
	e := rapid.IntRange(6, 11).Draw(t, "log2 P")
	p := 1<<e + rapid.IntRange(0, 1<<e).Draw(t, "P offset")
	r := rapid.IntRange(1, min(5, n)).Draw(t, "R")
	zones := rapid.IntRange(0, 6).Draw(t, "zones")
	caps := []float64{0, 1}
	if rapid.Bool().Draw(t, "weighted") {
		caps = []float64{0.5, 1, 1.5, 2, 4}
		if rapid.Bool().Draw(t, "uneven") {
			caps = []float64{0.1, 1, 4}
		}
	}
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{
			Name:     fmt.Sprintf("node-%d", rapid.IntRange(0, 1<<20).Draw(t, "id")),
			Capacity: rapid.SampledFrom(caps).Draw(t, "capacity"),
		}
		if zones > 0 {
			ms[i].Zone = fmt.Sprintf("zone-%d", rapid.IntRange(0, zones-1).Draw(t, "zone"))
		}
	}
	// Names must be unique: number any repeats apart.
	seen := map[string]bool{}
	for i := range ms {
		for seen[ms[i].Name] {
			ms[i].Name += "'"
		}
		seen[ms[i].Name] = true
	}
	cfg := Config{
		Partitions: p,
		Replicas:   r,
		VNodes:     rapid.SampledFrom([]int{0, 0, 16, 64}).Draw(t, "V"),
		LoadFactor: rapid.SampledFrom([]float64{0, 0, 1, 1.1, 2, math.Inf(1)}).Draw(t, "c"),
	}
	return ms, cfg
}

// TestPropertyPlacement: every promise of checkPlacement holds, and the
// placement does not depend on the order of the members.
func TestPropertyPlacement(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ms, cfg := genCluster(t)
		pl, err := Place(ms, cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkPlacement(t, ms, cfg, pl)
		shuffled := rapid.Permutation(ms).Draw(t, "shuffled")
		again, err := Place(shuffled, cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, pl, again)
	})
}

// TestPropertyZones: with at least R zones no partition has two replicas in
// one zone, whatever the weights (the caps give way instead).
func TestPropertyZones(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ms, cfg := genCluster(t)
		zones := map[string]bool{}
		for _, m := range ms {
			zones[m.Zone] = true
		}
		if len(zones) < cfg.Replicas {
			t.Skip("fewer zones than replicas")
		}
		pl, err := Place(ms, cfg)
		if err != nil {
			t.Fatal(err)
		}
		zoneOf := map[string]string{}
		for _, m := range ms {
			zoneOf[m.Name] = m.Zone
		}
		for p := range cfg.Partitions {
			var zs []string
			for _, r := range pl.Replicas(p) {
				if slices.Contains(zs, zoneOf[r]) {
					t.Fatalf("partition %d: two replicas in zone %q: %v", p, zoneOf[r], pl.Replicas(p))
				}
				zs = append(zs, zoneOf[r])
			}
		}
	})
}

// TestPropertyPlainRingMovesOnlyWhatItMust: without bounds or zones, a join
// moves exactly the replicas the joiner takes, each from one old replica,
// and a leave moves exactly the leaver's — the consistent-hashing promise
// that bounded loads relax.
func TestPropertyPlainRingMovesOnlyWhatItMust(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ms, cfg := genCluster(t)
		for i := range ms {
			ms[i].Zone = ""
		}
		cfg.LoadFactor = math.Inf(1)
		base, err := Place(ms, cfg)
		if err != nil {
			t.Fatal(err)
		}
		joiner := Member{Name: "joiner", Capacity: rapid.SampledFrom([]float64{0.5, 1, 2}).Draw(t, "joiner capacity")}
		joined, err := Place(append(slices.Clone(ms), joiner), cfg)
		if err != nil {
			t.Fatal(err)
		}
		mv, err := Diff(base, joined)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := joined.Node("joiner")
		if mv.Added != j.Replicas || mv.Removed != j.Replicas {
			t.Fatalf("join: %d added, %d removed, the joiner holds %d", mv.Added, mv.Removed, j.Replicas)
		}
		for _, c := range mv.Changes {
			if len(c.Added) > 0 && (len(c.Added) != 1 || c.Added[0] != "joiner") {
				t.Fatalf("join: partition %d gained %v", c.Partition, c.Added)
			}
		}

		if len(ms) == cfg.Replicas {
			return
		}
		k := rapid.IntRange(0, len(ms)-1).Draw(t, "leaver")
		left, err := Place(slices.Delete(slices.Clone(ms), k, k+1), cfg)
		if err != nil {
			t.Fatal(err)
		}
		mv, err = Diff(base, left)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := base.Node(ms[k].Name)
		if mv.Added != l.Replicas || mv.Removed != l.Replicas {
			t.Fatalf("leave: %d added, %d removed, the leaver held %d", mv.Added, mv.Removed, l.Replicas)
		}
		for _, c := range mv.Changes {
			if len(c.Removed) > 0 && (len(c.Removed) != 1 || c.Removed[0] != ms[k].Name) {
				t.Fatalf("leave: partition %d lost %v", c.Partition, c.Removed)
			}
		}
	})
}
