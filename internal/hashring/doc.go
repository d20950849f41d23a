// Package hashring places partitions on nodes: a consistent-hash ring with
// virtual nodes, bounded loads and zone spreading (DESIGN.md, Placement).
// It is pure: Place is a deterministic function of its arguments, so every
// node that holds the members and settings of the meta group computes the
// same placement. It starts no goroutine, reads no clock and does no I/O.
//
//	pl, err := hashring.Place(members, hashring.Config{Partitions: 256, Replicas: 3})
//	if err != nil { /* names the member or setting at fault */ }
//	pl.Replicas(p)          // partition p's nodes, the preferred leader first
//	pl.Nodes()              // per node: share, cap, replicas, leaders
//	pl.Relaxation()         // whether, by how much and why caps were raised
//	next, _ := hashring.Place(append(members, joiner), cfg)
//	mv, _ := hashring.Diff(pl, next) // what the rebalancer must move
//
// # The ring
//
// Members are sorted by name first; their order in the argument never
// matters. A member of capacity w (0 means 1) owns max(1, round(V·w))
// points; point j of member "n" is at xxhash64(n ‖ uint64be(j)), and
// partition p is at PartitionHash(p) = xxhash64(uint64be(p)). Points are in
// ring order: by hash, then (on a 64-bit collision) by member name, then by
// j. The successors of a position h are the distinct members in the order
// of their first point at or after h, wrapping around.
//
// # Placement
//
// With N members, P partitions, R replicas, load factor c and
// capacities w_i, member i's weighted share is s_i = R·P·w_i/Σw (Σw summed
// in name order) and its cap at factor f is
//
//	cap_i(f) = min(P, ⌈f·c·s_i⌉)   (P when c = +Inf)
//
// computed in float64 exactly as written: math.Ceil(f * c * s_i) with
// s_i = float64(R*P) * w_i / Σw.
//
// A greedy pass at factor f places partitions 0, 1, ..., P-1 in that order.
// Replica k (k = 0..R-1) of partition p is the first of p's successors that
//
//   - is not already one of p's replicas,
//   - carries fewer than cap_i(f) replicas of the partitions placed so far
//     (bounded loads), and
//   - is in a zone holding the fewest replicas of p among the zones that
//     still have a member not holding one (zone rule; members without a zone
//     are the zone "").
//
// The zone rule is hard. With at least R zones it means no two replicas of a
// partition share a zone; with fewer, no zone gets a second replica before
// every zone has one (unless every member of a zone already holds one), and
// so on. With c = +Inf no cap binds and the replicas are the first R
// successors the zone rule allows.
//
// # Preferred leaders
//
// Replicas(p)[0] is the partition's preferred leader. Going through the
// partitions in order 0..P-1, it is the first of p's replicas (in the order
// the pass chose them) that leads fewer than ceil(P·w/Σw) partitions so
// far, w its capacity; when all of them are at that cap, the one with the
// fewest leaderships per unit of capacity. Leaders so spread as evenly as
// the weights allow (N=3, P=64: 22/22/20 where the first-chosen rule gave
// 23/24/17), and a partition keeps its first-chosen node as leader unless
// that node already leads its share.
//
// # Relaxation
//
// The pass can fail: some replica has no member meeting all three
// conditions. Place tries f = RelaxStep^k (RelaxStep = 17/16, the power
// computed by k successive float64 multiplications starting from 1) for k =
// 0, 1, 2, ... and keeps the first pass that places every replica; the
// Placement reports that k as Relaxation.Steps and f as Relaxation.Factor.
// So every node carries at most cap_i(Factor) replicas, Factor is 1 when
// nothing was raised, and the pass at RelaxStep^(Steps-1) fails. Relaxation
// always ends: once every cap is P no cap binds. Relaxation.Reason collects
// why the attempts before it failed:
//
//   - ReasonCapacity: no member outside the partition's replicas had room,
//     or the caps sum to less than R·P (very uneven weights, or N close to
//     R: with N = R every node carries all P partitions);
//   - ReasonZones: some member had room but the zone rule excluded it, or,
//     with at least R zones, the zones cannot carry R·P replicas at one
//     per partition each (zones of very uneven capacity).
//
// (Place skips, without a greedy pass, factors at which the caps fail the
// counting conditions in those two reasons: such a pass could only fail.)
//
// # Movement
//
// When a node joins N others the ideal move is its share, R·P/(N+1) replicas
// at equal capacities; when one of N leaves, R·P/N. A plain ring (c = +Inf,
// no zones) moves exactly those replicas. Bounded loads move more, because a
// node that fills up earlier or later shifts which later partitions skip
// it, and because every cap moves with N. How much more depends mostly on
// the replicas per node, R·P/N (TestMovementReport logs the figures, R = 3,
// c = 1.25):
//
//   - 16 or more replicas a node: about 1.0–1.1× the ideal, with equal or
//     mixed capacities and with zones of equal size;
//   - fewer (P = 64 on 30 nodes, say): the caps bind on many nodes and a
//     join or a leave moves 1.3–2× the ideal;
//   - zones of unequal size: a small zone must hold a replica of every
//     partition, above its share, so the caps are raised and a change can
//     move up to about 1.5× even at high loads.
//
// Averaged over random clusters (N from 3 to 100, P from 64 to 4096) a join
// or a leave moves 1.1–1.3× the ideal (TestMovementBound asserts at most
// 1.5×). Diff counts the moves between two placements.
package hashring
