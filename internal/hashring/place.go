package hashring

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// ErrTooFewMembers: a placement needs at least R members.
var ErrTooFewMembers = errors.New("hashring: fewer members than replicas")

// DefaultLoadFactor is the bounded-loads c: no node carries more than
// ⌈1.25 × its weighted share⌉ replicas, while a join or a leave still moves
// close to the minimum when nodes carry a few dozen replicas or more (see
// Movement in the package documentation).
const DefaultLoadFactor = 1.25

// RelaxStep is the ratio between successive cap factors tried when the
// caps do not fit: Factor = RelaxStep^Steps. 17/16 is exact in binary, so
// every node computes the same factors by repeated multiplication.
const RelaxStep = 17.0 / 16

// Config is what a placement depends on besides the members. The cluster
// stores it with the cluster's settings.
type Config struct {
	// Partitions is P, at least 1. No default: it is fixed at creation.
	Partitions int
	// Replicas is R, between 1 and the number of members. No default.
	Replicas int
	// VNodes is V, the virtual nodes of a node of capacity 1. Default
	// DefaultVNodes (0 means the default).
	VNodes int
	// LoadFactor is c ≥ 1: a node carries at most ⌈c × its weighted share⌉
	// replicas. Default DefaultLoadFactor (0 means the default); math.Inf(1)
	// turns the bound off (a plain consistent-hash ring, zones still apply).
	LoadFactor float64
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.VNodes == 0 {
		c.VNodes = DefaultVNodes
	}
	if c.LoadFactor == 0 {
		c.LoadFactor = DefaultLoadFactor
	}
	return c
}

// Validate checks c once defaults are filled in (zero VNodes and LoadFactor
// are valid). Every problem is one error wrapping ErrInvalidConfig; all are
// joined.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Partitions < 1 || c.Partitions > math.MaxInt32 {
		bad("partitions %d: must be 1 to %d", c.Partitions, math.MaxInt32)
	}
	if c.Replicas < 1 || c.Replicas > math.MaxInt32 {
		bad("replicas %d: must be 1 to %d", c.Replicas, math.MaxInt32)
	}
	if c.VNodes < 1 {
		bad("vnodes %d: must be at least 1", c.VNodes)
	}
	if math.IsNaN(c.LoadFactor) || c.LoadFactor < 1 {
		bad("load factor %v: must be at least 1 (+Inf for no bound)", c.LoadFactor)
	}
	if len(errs) == 0 && c.Partitions > math.MaxInt/c.Replicas {
		bad("partitions × replicas %d × %d overflows", c.Partitions, c.Replicas)
	}
	return errors.Join(errs...)
}

// Reason says why the caps had to be raised; a bit set.
type Reason uint8

const (
	// ReasonCapacity: the caps could not carry R·P replicas, one per
	// partition per node — weights too uneven, or N too close to R.
	ReasonCapacity Reason = 1 << iota
	// ReasonZones: there was room on some node, but none in a zone the
	// partition could still use.
	ReasonZones
)

func (r Reason) String() string {
	var s []string
	if r&ReasonCapacity != 0 {
		s = append(s, "capacity")
	}
	if r&ReasonZones != 0 {
		s = append(s, "zones")
	}
	if r&^(ReasonCapacity|ReasonZones) != 0 {
		s = append(s, fmt.Sprintf("Reason(%#x)", uint8(r&^(ReasonCapacity|ReasonZones))))
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "+")
}

// Relaxation reports by how much the caps were raised.
type Relaxation struct {
	// Steps is the k of the first attempt that placed every replica.
	Steps int
	// Factor = RelaxStep^Steps multiplies every cap:
	// cap_i = min(P, ⌈Factor·c·share_i⌉). 1 when the caps fit as configured.
	Factor float64
	// Reason is the union of why the attempts 0..Steps-1 failed; zero when
	// Steps is 0.
	Reason Reason
}

// Relaxed reports whether the caps had to be raised.
func (r Relaxation) Relaxed() bool { return r.Steps > 0 }

func (r Relaxation) String() string {
	if r.Steps == 0 {
		return "none"
	}
	return fmt.Sprintf("caps ×%.4g (%d steps; %s)", r.Factor, r.Steps, r.Reason)
}

// NodeLoad is what a placement puts on one member.
type NodeLoad struct {
	Member
	// VNodes is max(1, round(V·Capacity)), the member's points on the ring.
	VNodes int
	// Share is the weighted share R·P·Capacity/ΣCapacity.
	Share float64
	// Cap is min(P, ⌈Factor·c·Share⌉) with the Relaxation's Factor; P when
	// c is +Inf. Invariant: Replicas <= Cap.
	Cap int
	// Replicas is how many partitions have a replica here.
	Replicas int
	// Leaders is how many partitions have their first replica (the
	// preferred leader) here.
	Leaders int
}

// Placement is where every partition's replicas go. It is immutable and
// safe for concurrent use.
type Placement struct {
	cfg   Config // defaults filled in
	ring  *Ring
	nodes []NodeLoad // by name, like ring.members
	// replicas[p*R : (p+1)*R] are partition p's nodes (indexes into nodes),
	// the preferred leader first, then the others in the order chosen.
	replicas []int32
	// chosen holds the same nodes in the order the greedy pass chose them
	// (clockwise from p's hash).
	chosen []int32
	relax  Relaxation
}

// Place computes the placement of cfg.Partitions partitions, cfg.Replicas
// replicas each, on members. It is a pure function of the members (their
// names, capacities and zones, not their order) and cfg: every node that
// computes it gets the same placement. The rules are in the package
// documentation.
func Place(members []Member, cfg Config) (*Placement, error) {
	cfg = cfg.withDefaults()
	errCfg := cfg.Validate()
	ms, errMembers := normalizeMembers(members)
	if err := errors.Join(errCfg, errMembers); err != nil {
		return nil, err
	}
	if cfg.Replicas > len(ms) {
		return nil, fmt.Errorf("%w: %d replicas need at least %d members, have %d; add members or lower --replicas",
			ErrTooFewMembers, cfg.Replicas, cfg.Replicas, len(ms))
	}
	ring, err := buildRing(ms, cfg.VNodes)
	if err != nil {
		return nil, err
	}
	pr := newPlacer(ring, cfg)
	return pr.solve(), nil
}

// placer holds the state of one Place call.
type placer struct {
	cfg  Config
	ring *Ring
	n    int // members
	p, r int

	share    []float64 // R·P·w_i/Σw
	zone     []int32   // member → zone index (zones sorted by name)
	zoneSize []int     // members per zone
	zones    int
	start    []int    // partition → ring index of its first point
	caps     []int    // this attempt's caps
	load     []int    // replicas per member so far
	out      []int32  // P×R
	cand     []int32  // this partition's distinct members in ring order, discovered lazily
	seen     []uint32 // member → stamp of the partition that discovered it
	chosen   []uint32 // member → stamp of the partition that chose it
	stamp    uint32
	zoneUsed []int // replicas of this partition per zone
}

func newPlacer(ring *Ring, cfg Config) *placer {
	n := len(ring.members)
	pr := &placer{
		cfg: cfg, ring: ring, n: n, p: cfg.Partitions, r: cfg.Replicas,
		share:  make([]float64, n),
		zone:   make([]int32, n),
		caps:   make([]int, n),
		load:   make([]int, n),
		out:    make([]int32, cfg.Partitions*cfg.Replicas),
		cand:   make([]int32, 0, n),
		seen:   make([]uint32, n),
		chosen: make([]uint32, n),
	}
	// NB: Σw is summed in name order and every share is one multiplication
	// and one division, so every node computes bit-identical shares (no
	// expression here has the x*y+z shape a compiler may fuse).
	var sum float64
	for _, m := range ring.members {
		sum += m.Capacity
	}
	rp := float64(pr.p * pr.r)
	for i, m := range ring.members {
		pr.share[i] = rp * m.Capacity / sum
	}
	var names []string
	for _, m := range ring.members {
		names = append(names, m.Zone)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	pr.zones = len(names)
	pr.zoneSize = make([]int, pr.zones)
	pr.zoneUsed = make([]int, pr.zones)
	for i, m := range ring.members {
		z, _ := slices.BinarySearch(names, m.Zone)
		pr.zone[i] = int32(z)
		pr.zoneSize[z]++
	}
	pr.start = make([]int, pr.p)
	for p := range pr.p {
		pr.start[p] = ring.search(PartitionHash(p))
	}
	return pr
}

// setCaps sets the caps for factor f: min(P, ⌈f·c·share_i⌉).
func (pr *placer) setCaps(f float64) {
	for i := range pr.caps {
		if math.IsInf(pr.cfg.LoadFactor, 1) {
			pr.caps[i] = pr.p
			continue
		}
		x := math.Ceil(f * pr.cfg.LoadFactor * pr.share[i])
		if x >= float64(pr.p) {
			pr.caps[i] = pr.p
		} else {
			pr.caps[i] = int(x)
		}
	}
}

// countFits is a necessary condition for the caps to fit, cheap to check:
// the nodes can carry R·P replicas, and with at least R zones (one replica
// per zone per partition) so can the zones. Failing it saves a greedy pass
// that could only fail; passing it proves nothing.
func (pr *placer) countFits() (bool, Reason) {
	need := pr.p * pr.r
	total := 0
	for _, c := range pr.caps {
		total += c
	}
	if total < need {
		return false, ReasonCapacity
	}
	if pr.zones >= pr.r {
		perZone := make([]int, pr.zones)
		for i, c := range pr.caps {
			perZone[pr.zone[i]] += c
		}
		total = 0
		for _, c := range perZone {
			total += min(c, pr.p)
		}
		if total < need {
			return false, ReasonZones
		}
	}
	return true, 0
}

// solve tries the caps at Factor = RelaxStep^k for k = 0, 1, ... and keeps
// the first greedy pass that places every replica.
func (pr *placer) solve() *Placement {
	var why Reason
	f := 1.0
	for k := 0; ; k++ {
		if k > 0 {
			f *= RelaxStep
		}
		pr.setCaps(f)
		ok, r := pr.countFits()
		if ok {
			ok, r = pr.greedy()
		}
		if ok {
			return pr.result(Relaxation{Steps: k, Factor: f, Reason: why})
		}
		why |= r
		// Once every cap is P no cap binds, and the greedy pass places
		// every partition on its first R eligible successors (R ≤ N).
		if !slices.ContainsFunc(pr.caps, func(c int) bool { return c < pr.p }) {
			panic(fmt.Sprintf("hashring: no placement with uncapped nodes (P=%d R=%d N=%d)", pr.p, pr.r, pr.n))
		}
	}
}

// greedy places every partition in order with the current caps. Replica k
// of partition p is the first member clockwise from p's hash that
//   - is not already a replica of p,
//   - carries fewer replicas than its cap, and
//   - is in a zone with the fewest replicas of p among the zones that still
//     have a member not yet a replica of p (the zone rule).
//
// It reports false and why when some replica has no such member.
func (pr *placer) greedy() (bool, Reason) {
	clear(pr.load)
	// NB: partitions go in index order, each whole. Three other orders were
	// measured in case they made fewer cascades on a join or a leave: ring
	// order (by PartitionHash), and replica-major (every partition's replica
	// 0, then every replica 1, ...) in index or ring order. None moved
	// consistently less (within ±4% of index order over 200 random clusters
	// per family), and index order is the simplest to state.
	for p := range pr.p {
		pr.stamp++
		if pr.stamp == 0 { // wrapped: forget every old stamp
			clear(pr.seen)
			clear(pr.chosen)
			pr.stamp = 1
		}
		clear(pr.zoneUsed)
		pr.cand = pr.cand[:0]
		pos, walked := pr.start[p], 0
		out := pr.out[p*pr.r : (p+1)*pr.r]
		for k := range pr.r {
			minUsed := pr.minZoneUsed()
			found := int32(-1)
			for ci := 0; ; ci++ {
				if ci == len(pr.cand) {
					// Discover the next distinct member clockwise.
					for walked < len(pr.ring.owners) {
						o := pr.ring.owners[pos]
						if pos++; pos == len(pr.ring.owners) {
							pos = 0
						}
						walked++
						if pr.seen[o] != pr.stamp {
							pr.seen[o] = pr.stamp
							pr.cand = append(pr.cand, o)
							break
						}
					}
					if ci == len(pr.cand) {
						break // every member seen
					}
				}
				c := pr.cand[ci]
				if pr.chosen[c] == pr.stamp || pr.load[c] >= pr.caps[c] || pr.zoneUsed[pr.zone[c]] != minUsed {
					continue
				}
				found = c
				break
			}
			if found < 0 {
				return false, pr.stuckReason()
			}
			pr.chosen[found] = pr.stamp
			pr.load[found]++
			pr.zoneUsed[pr.zone[found]]++
			out[k] = found
		}
	}
	return true, 0
}

// minZoneUsed is the fewest replicas of the current partition in a zone
// that still has a member not holding one.
func (pr *placer) minZoneUsed() int {
	m := math.MaxInt
	for z, used := range pr.zoneUsed {
		if used < pr.zoneSize[z] {
			m = min(m, used)
		}
	}
	return m
}

// stuckReason says why no member fits the current replica: ReasonZones if
// some member not yet chosen has room (so the zone rule excluded it),
// ReasonCapacity if none has.
func (pr *placer) stuckReason() Reason {
	for i := range pr.n {
		if pr.chosen[i] != pr.stamp && pr.load[i] < pr.caps[i] {
			return ReasonZones
		}
	}
	return ReasonCapacity
}

func (pr *placer) result(relax Relaxation) *Placement {
	pl := &Placement{
		cfg:      pr.cfg,
		ring:     pr.ring,
		nodes:    make([]NodeLoad, pr.n),
		replicas: slices.Clone(pr.out),
		chosen:   pr.out,
		relax:    relax,
	}
	var weight float64
	for i, m := range pr.ring.members {
		pl.nodes[i] = NodeLoad{Member: m, VNodes: pr.ring.vnodes[i], Share: pr.share[i], Cap: pr.caps[i]}
		weight += m.Capacity
	}
	// Preferred leaders: partition by partition, the first replica (in the
	// order chosen) still under its leader cap ceil(P·w/Σw), else the one
	// furthest below its share. Leaders then spread as evenly as the
	// weights allow, and most partitions keep their first-chosen node.
	for p := range pr.p {
		rs := pl.replicas[p*pr.r : (p+1)*pr.r]
		lead := -1
		for k, n := range rs {
			if float64(pl.nodes[n].Leaders) < math.Ceil(float64(pr.p)*pr.ring.members[n].Capacity/weight) {
				lead = k
				break
			}
		}
		if lead < 0 {
			lead = 0
			for k, n := range rs {
				if float64(pl.nodes[n].Leaders)/pr.ring.members[n].Capacity < float64(pl.nodes[rs[lead]].Leaders)/pr.ring.members[rs[lead]].Capacity {
					lead = k
				}
			}
		}
		l := rs[lead]
		copy(rs[1:lead+1], rs[:lead])
		rs[0] = l
		pl.nodes[l].Leaders++
		for _, n := range rs {
			pl.nodes[n].Replicas++
		}
	}
	return pl
}

// Config returns the placement's config, defaults filled in.
func (pl *Placement) Config() Config { return pl.cfg }

// Ring returns the ring the placement walked.
func (pl *Placement) Ring() *Ring { return pl.ring }

// Partitions is P.
func (pl *Placement) Partitions() int { return pl.cfg.Partitions }

// Replicas returns the names of partition p's replicas, the preferred
// leader first, then in the order they were chosen (clockwise from p's
// hash, skipping the ineligible). The slice is the caller's. It panics if p
// is not in [0, P).
func (pl *Placement) Replicas(p int) []string {
	rs := pl.replicaIndexes(p)
	names := make([]string, len(rs))
	for i, n := range rs {
		names[i] = pl.nodes[n].Name
	}
	return names
}

// Leader returns partition p's preferred leader, Replicas(p)[0].
func (pl *Placement) Leader(p int) string {
	return pl.nodes[pl.replicaIndexes(p)[0]].Name
}

func (pl *Placement) replicaIndexes(p int) []int32 {
	if p < 0 || p >= pl.cfg.Partitions {
		panic(fmt.Sprintf("hashring: partition %d out of range [0, %d)", p, pl.cfg.Partitions))
	}
	r := pl.cfg.Replicas
	return pl.replicas[p*r : (p+1)*r]
}

// Nodes returns what the placement puts on each member, by name. The slice
// is the caller's.
func (pl *Placement) Nodes() []NodeLoad { return slices.Clone(pl.nodes) }

// Node returns what the placement puts on the member called name.
func (pl *Placement) Node(name string) (NodeLoad, bool) {
	i, ok := slices.BinarySearchFunc(pl.nodes, name, func(n NodeLoad, name string) int {
		return strings.Compare(n.Name, name)
	})
	if !ok {
		return NodeLoad{}, false
	}
	return pl.nodes[i], true
}

// Relaxation reports by how much the caps were raised, and why.
func (pl *Placement) Relaxation() Relaxation { return pl.relax }
