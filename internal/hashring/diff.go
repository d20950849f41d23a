package hashring

import (
	"errors"
	"fmt"
	"slices"
)

// ErrPartitionsDiffer: two placements of different P cannot be compared
// partition by partition (P is fixed when a cluster is created).
var ErrPartitionsDiffer = errors.New("hashring: placements have different partition counts")

// Change is how one partition's placement differs between two placements.
type Change struct {
	Partition int
	// Added are on the new placement only, in its order.
	Added []string
	// Removed are on the old placement only, in its order.
	Removed []string
	// Leader is set when the preferred leader differs (a leadership
	// transfer, possibly with no replica moving).
	Leader bool
}

// Movement is what it takes to go from one placement to another.
type Movement struct {
	// Changes lists, by partition, every partition whose replicas or
	// preferred leader differ.
	Changes []Change
	// Added and Removed count replicas over all partitions; with the same R
	// on both sides they are equal, and each is the number of replicas that
	// move.
	Added, Removed int
	// LeaderChanges counts partitions whose preferred leader differs.
	LeaderChanges int
	// Replicas is R·P of the new placement.
	Replicas int
}

// Fraction is the share of the new placement's replicas that are new:
// Added / Replicas.
func (m Movement) Fraction() float64 { return float64(m.Added) / float64(m.Replicas) }

// Diff compares two placements partition by partition, by member name (the
// two may have different members, R and V).
func Diff(from, to *Placement) (Movement, error) {
	if from.cfg.Partitions != to.cfg.Partitions {
		return Movement{}, fmt.Errorf("%w: %d and %d", ErrPartitionsDiffer, from.cfg.Partitions, to.cfg.Partitions)
	}
	mv := Movement{Replicas: to.cfg.Partitions * to.cfg.Replicas}
	has := func(pl *Placement, rs []int32, name string) bool {
		return slices.ContainsFunc(rs, func(n int32) bool { return pl.nodes[n].Name == name })
	}
	for p := range to.cfg.Partitions {
		a, b := from.replicaIndexes(p), to.replicaIndexes(p)
		var c Change
		for _, n := range b {
			if name := to.nodes[n].Name; !has(from, a, name) {
				c.Added = append(c.Added, name)
			}
		}
		for _, n := range a {
			if name := from.nodes[n].Name; !has(to, b, name) {
				c.Removed = append(c.Removed, name)
			}
		}
		c.Leader = from.nodes[a[0]].Name != to.nodes[b[0]].Name
		if len(c.Added) == 0 && len(c.Removed) == 0 && !c.Leader {
			continue
		}
		c.Partition = p
		mv.Changes = append(mv.Changes, c)
		mv.Added += len(c.Added)
		mv.Removed += len(c.Removed)
		if c.Leader {
			mv.LeaderChanges++
		}
	}
	return mv, nil
}
