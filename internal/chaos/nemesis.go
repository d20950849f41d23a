package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"
)

// FaultKind names a kind of fault: a nemesis a run asks for, and what a step
// of its schedule does.
type FaultKind string

// The fault kinds.
const (
	// Kill: kill -9 the target nodes; the heal restarts them on their data
	// directories.
	Kill FaultKind = "kill"
	// Pause: SIGSTOP the target nodes; the heal sends SIGCONT.
	Pause FaultKind = "pause"
	// Partition: drop the messages on a set of directed links (a Cut); the
	// heal restores every link.
	Partition FaultKind = "partition"
	// Leader: kill, pause or isolate the leader of a group, chosen when the
	// step runs. Only a nemesis kind: its steps' Action says which.
	Leader FaultKind = "leader"
	// Clock: move the target nodes' clocks by ClockOffset; the heal puts
	// them back.
	Clock FaultKind = "clock"
	// Disk: make the target node's disk misbehave (DiskMode); the heal
	// clears it and restarts the node if the fault stopped it.
	Disk FaultKind = "disk"
	// Membership: change who is in the cluster while it serves (Jepsen's
	// grow and shrink). Each step does one of three things, its Action:
	// Join starts a new, empty node (Member, a fresh name) that joins the
	// cluster; Drain moves every replica off Member, which is then
	// removed and stopped for good; Kill makes the change Change says
	// (Join or Drain of Member), waits for a replica move to be in flight
	// and kills -9 a node taking part in one, chosen when the step runs.
	// The heal restarts a killed node; a join or a drain is not undone.
	// NB: not part of "all" — it adds processes and moves replicas for the
	// rest of the run — so a run asks for it by name.
	Membership FaultKind = "membership"
)

// The actions of Membership steps besides Kill; never nemesis kinds.
const (
	// Join: a new node joins the cluster (cairn server --join).
	Join FaultKind = "join"
	// Drain: every replica is moved off a node, which is then removed.
	Drain FaultKind = "drain"
)

// allKinds is what "all" means, in the order kinds are listed and drawn in.
var allKinds = []FaultKind{Kill, Pause, Partition, Leader, Clock, Disk}

// knownKinds is every kind, in the order they are listed and drawn in:
// allKinds, then the kinds a run must name.
var knownKinds = append(slices.Clone(allKinds), Membership)

// Shape is the shape of a network partition.
type Shape string

// The partition shapes (Jepsen's grudges).
const (
	// ShapeIsolate cuts one node off from all the others.
	ShapeIsolate Shape = "isolate"
	// ShapeSplit splits the nodes into a majority and a minority.
	ShapeSplit Shape = "split"
	// ShapeRing leaves every node connected to a majority, no two nodes to
	// the same one (Jepsen's majorities-ring).
	ShapeRing Shape = "ring"
	// ShapeBridge splits the nodes in two halves that cannot talk to each
	// other, and one bridge node that talks to both.
	ShapeBridge Shape = "bridge"
)

var allShapes = []Shape{ShapeIsolate, ShapeSplit, ShapeRing, ShapeBridge}

// minNodes is the smallest cluster each shape makes sense for.
func (s Shape) minNodes() int {
	if s == ShapeIsolate {
		return 2
	}
	return 3
}

// DiskMode is how a Disk fault misbehaves.
type DiskMode string

// The disk modes (DESIGN.md "Disk faults").
const (
	// DiskFull: the free-space reading drops below --min-free-disk; the node
	// must refuse writes with NOSPACE and keep serving reads.
	DiskFull DiskMode = "full"
	// DiskFail: writes and syncs of the log fail; the node must stop
	// (fail-stop) and recover from what is durable when the heal restarts
	// it.
	DiskFail DiskMode = "fail"
)

// Nemesis is what a run injects: the kinds of faults, and for partitions the
// shapes.
type Nemesis struct {
	Kinds  []FaultKind // in the order kill, pause, partition, leader, clock, disk, membership; no duplicates
	Shapes []Shape     // the partition shapes to draw from; set when Kinds has Partition
}

// ErrNemesis is wrapped by ParseNemesis's errors.
var ErrNemesis = errors.New("chaos: bad nemesis")

// ParseNemesis parses a comma-separated list of fault kinds, as a --nemesis
// flag takes it: kill, pause, partition (every shape), partition-isolate,
// partition-split, partition-ring, partition-bridge, leader, clock, disk,
// membership; "all" for every kind and shape but membership, which a run
// must name ("all,membership"); "none" or "" for no faults.
func ParseNemesis(s string) (Nemesis, error) {
	kinds := make(map[FaultKind]bool)
	shapes := make(map[Shape]bool)
	for _, tok := range strings.Split(s, ",") {
		tok = strings.ToLower(strings.TrimSpace(tok))
		switch {
		case tok == "" || tok == "none":
		case tok == "all":
			for _, k := range allKinds {
				kinds[k] = true
			}
			for _, sh := range allShapes {
				shapes[sh] = true
			}
		case tok == string(Partition):
			kinds[Partition] = true
			for _, sh := range allShapes {
				shapes[sh] = true
			}
		case strings.HasPrefix(tok, "partition-"):
			sh := Shape(strings.TrimPrefix(tok, "partition-"))
			if !slices.Contains(allShapes, sh) {
				return Nemesis{}, fmt.Errorf("%w: unknown partition shape %q (want isolate, split, ring or bridge)", ErrNemesis, sh)
			}
			kinds[Partition] = true
			shapes[sh] = true
		case slices.Contains(knownKinds, FaultKind(tok)):
			kinds[FaultKind(tok)] = true
		default:
			return Nemesis{}, fmt.Errorf("%w: unknown fault %q (want a comma-separated list of kill, pause, partition, partition-isolate, partition-split, partition-ring, partition-bridge, leader, clock, disk, membership, all or none)", ErrNemesis, tok)
		}
	}
	var n Nemesis
	for _, k := range knownKinds {
		if kinds[k] {
			n.Kinds = append(n.Kinds, k)
		}
	}
	for _, sh := range allShapes {
		if shapes[sh] {
			n.Shapes = append(n.Shapes, sh)
		}
	}
	return n, nil
}

// String is the canonical form, which ParseNemesis reads back.
func (n Nemesis) String() string {
	if len(n.Kinds) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range n.Kinds {
		if k == Partition && len(n.Shapes) > 0 && len(n.Shapes) < len(allShapes) {
			for _, sh := range n.Shapes {
				parts = append(parts, "partition-"+string(sh))
			}
			continue
		}
		parts = append(parts, string(k))
	}
	return strings.Join(parts, ",")
}

// Link is a directed link between two nodes; a fault injector drops the
// messages From sends To.
type Link struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Cut is a network partition: the directed links to cut. Every cut made here
// is symmetric (both directions of a link are listed).
type Cut struct {
	Shape Shape `json:"shape"`
	// Links to cut, sorted.
	Links []Link `json:"links"`
	// Groups describes the shape: the two sides of an isolate or a split,
	// [one side, bridge, other side] of a bridge; nil for a ring.
	Groups [][]string `json:"groups,omitempty"`
}

// Blocked reports whether c drops the messages from sends to.
func (c Cut) Blocked(from, to string) bool {
	i := sort.Search(len(c.Links), func(i int) bool {
		l := c.Links[i]
		return l.From > from || (l.From == from && l.To >= to)
	})
	return i < len(c.Links) && c.Links[i] == Link{From: from, To: to}
}

// Reach returns, for every node, the nodes it can still send to directly
// under c, itself included, sorted.
func (c Cut) Reach(nodes []string) map[string][]string {
	out := make(map[string][]string, len(nodes))
	for _, a := range nodes {
		var r []string
		for _, b := range nodes {
			if a == b || !c.Blocked(a, b) {
				r = append(r, b)
			}
		}
		sort.Strings(r)
		out[a] = r
	}
	return out
}

func (c Cut) String() string {
	if c.Groups == nil {
		return fmt.Sprintf("%s (%d links cut)", c.Shape, len(c.Links))
	}
	parts := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		parts[i] = strings.Join(g, ",")
	}
	sep := " | "
	if c.Shape == ShapeBridge {
		sep = " ~ "
	}
	return fmt.Sprintf("%s %s", c.Shape, strings.Join(parts, sep))
}

// MakeCut draws a partition of the given shape over nodes with rng. The
// result depends only on the set of nodes, the shape and rng's state. It
// returns an error when the shape needs more nodes than there are (isolate
// needs 2, the others 3).
func MakeCut(shape Shape, nodes []string, rng *rand.Rand) (Cut, error) {
	ns, err := nodeSet(nodes)
	if err != nil {
		return Cut{}, err
	}
	if !slices.Contains(allShapes, shape) {
		return Cut{}, fmt.Errorf("%w: unknown partition shape %q", ErrNemesis, shape)
	}
	n := len(ns)
	if n < shape.minNodes() {
		return Cut{}, fmt.Errorf("%w: a %s partition needs at least %d nodes, have %d", ErrNemesis, shape, shape.minNodes(), n)
	}
	rng.Shuffle(n, func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
	switch shape {
	case ShapeIsolate:
		return Isolate(ns, ns[0]), nil
	case ShapeSplit:
		minority := n - (n/2 + 1)
		return twoSides(ShapeSplit, ns[minority:], ns[:minority]), nil
	case ShapeBridge:
		left, right := ns[1:1+(n-1)/2], ns[1+(n-1)/2:]
		c := Cut{Shape: ShapeBridge}
		c.Links = crossLinks(left, right)
		c.Groups = [][]string{sorted(left), {ns[0]}, sorted(right)}
		sortLinks(c.Links)
		return c, nil
	default: // ShapeRing
		return ring(ns), nil
	}
}

// Isolate cuts victim off from every other node: what a Leader step with a
// Partition action does once the leader is known.
func Isolate(nodes []string, victim string) Cut {
	var rest []string
	for _, n := range nodes {
		if n != victim {
			rest = append(rest, n)
		}
	}
	return twoSides(ShapeIsolate, rest, []string{victim})
}

func twoSides(shape Shape, a, b []string) Cut {
	c := Cut{Shape: shape, Links: crossLinks(a, b), Groups: [][]string{sorted(a), sorted(b)}}
	sortLinks(c.Links)
	return c
}

// ring places the (shuffled) nodes on a circle and keeps only the links
// between nodes at most k apart, k = ⌈⌊n/2⌋/2⌉: each node then reaches
// 2k+1 ≥ ⌊n/2⌋+1 nodes, a majority, and since 2k+1 < n (n ≥ 4) the arcs, so
// the majorities, are all different. With 3 nodes a circle has no link to
// cut, so it cuts one: a path a–b–c, where a sees {a,b}, b all three, c
// {b,c}.
func ring(ns []string) Cut {
	n := len(ns)
	c := Cut{Shape: ShapeRing}
	if n == 3 {
		c.Links = []Link{{ns[0], ns[2]}, {ns[2], ns[0]}}
		sortLinks(c.Links)
		return c
	}
	k := (n/2 + 1) / 2
	for i := range n {
		for j := range n {
			d := (i - j + n) % n
			if i != j && min(d, n-d) > k {
				c.Links = append(c.Links, Link{ns[i], ns[j]})
			}
		}
	}
	sortLinks(c.Links)
	return c
}

func crossLinks(a, b []string) []Link {
	var ls []Link
	for _, x := range a {
		for _, y := range b {
			ls = append(ls, Link{x, y}, Link{y, x})
		}
	}
	return ls
}

func sortLinks(ls []Link) {
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].From != ls[j].From {
			return ls[i].From < ls[j].From
		}
		return ls[i].To < ls[j].To
	})
}

func sorted(ss []string) []string {
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return out
}

// nodeSet returns a sorted copy of nodes, rejecting empty and repeated names.
func nodeSet(nodes []string) ([]string, error) {
	ns := sorted(nodes)
	for i, n := range ns {
		if n == "" {
			return nil, fmt.Errorf("%w: empty node name", ErrNemesis)
		}
		if i > 0 && ns[i-1] == n {
			return nil, fmt.Errorf("%w: node %q named twice", ErrNemesis, n)
		}
	}
	return ns, nil
}

// Step is one step of a Schedule: inject a fault, or heal the one in force.
type Step struct {
	// At is when to take the step, from the start of the run.
	At time.Duration `json:"at"`
	// Heal: undo the fault in force — restart killed nodes, resume paused
	// ones, restore every link, reset clocks and disks. Kind and Action
	// then say what is being healed.
	Heal bool `json:"heal,omitempty"`
	// Kind is the nemesis kind the step belongs to (Leader included).
	Kind FaultKind `json:"kind"`
	// Action is what the injector does: Kill, Pause, Partition, Clock or
	// Disk, and for a Membership step Join, Drain or Kill; never Leader.
	Action FaultKind `json:"action"`
	// Nodes are the targets; empty for a Leader step, whose target the
	// injector resolves when the step runs (the leader then), and for a
	// partition, whose Cut says everything.
	Nodes []string `json:"nodes,omitempty"`
	// Cut is a Partition action's links to cut; nil for a Leader step
	// (cut Isolate(nodes, leader)).
	Cut *Cut `json:"cut,omitempty"`
	// ClockOffset is how far a Clock action moves the nodes' clocks.
	ClockOffset time.Duration `json:"clock_offset,omitempty"`
	// Disk is a Disk action's mode.
	Disk DiskMode `json:"disk,omitempty"`
	// Member is the node a Membership step joins or drains: a fresh name
	// for a join (names are never reused), a node in the cluster at the
	// time for a drain.
	Member string `json:"member,omitempty"`
	// Change is what a Membership step does to Member: Join or Drain.
	// With Action Kill it then kills a node of a replica move in flight,
	// which only the injector can know; Nodes is empty.
	Change FaultKind `json:"change,omitempty"`
}

// TargetsLeader reports whether the step's target is chosen at run time: the
// current leader.
func (s Step) TargetsLeader() bool { return s.Kind == Leader }

func (s Step) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v ", s.At)
	if s.Heal {
		fmt.Fprintf(&b, "heal %s", s.Kind)
		return b.String()
	}
	b.WriteString(s.describe())
	return b.String()
}

// describe says what the step does, without its time.
func (s Step) describe() string {
	target := strings.Join(s.Nodes, ",")
	if s.TargetsLeader() {
		target = "the leader"
	}
	if s.Kind == Membership {
		change := fmt.Sprintf("%s %s", s.Change, s.Member)
		if s.Action == Kill {
			return "kill a node of a replica move after " + change
		}
		return change
	}
	switch s.Action {
	case Partition:
		if s.Cut != nil {
			return "partition " + s.Cut.String()
		}
		return "partition isolate " + target
	case Clock:
		return fmt.Sprintf("clock %s %+v", target, s.ClockOffset)
	case Disk:
		return fmt.Sprintf("disk %s %s", s.Disk, target)
	}
	return fmt.Sprintf("%s %s", s.Action, target)
}

// Fault records a fault step's interval, for annotations and the summary:
// start and end on the history's clock (end 0 when it was never healed), and
// the nodes it hit, which for a Leader step only the injector knows.
func (s Step) Fault(start, end int64, nodes ...string) Fault {
	if len(nodes) == 0 {
		nodes = s.Nodes
		if s.Cut != nil && s.Cut.Shape == ShapeIsolate && len(s.Cut.Groups) == 2 {
			nodes = s.Cut.Groups[1]
		}
		if s.Kind == Membership && s.Action != Kill {
			nodes = []string{s.Member}
		}
	}
	return Fault{Kind: s.Kind, Node: strings.Join(nodes, ","), Start: start, End: end, Detail: s.describe()}
}

// Fault is a fault that was in force over [Start, End], on the history's
// clock. End is 0 when it was still in force when the history ended.
type Fault struct {
	Kind   FaultKind `json:"kind"`
	Node   string    `json:"node,omitempty"` // the node or nodes hit, comma-separated
	Start  int64     `json:"start"`
	End    int64     `json:"end"`
	Detail string    `json:"detail,omitempty"`
}

// Schedule is a nemesis schedule: fault and heal steps, alternating, ending
// with a heal. It is pure data: the same config gives the same schedule.
type Schedule struct {
	Seed     int64         `json:"seed"`
	Duration time.Duration `json:"duration"`
	Nodes    []string      `json:"nodes"`
	Nemesis  string        `json:"nemesis"`
	Steps    []Step        `json:"steps"`
}

func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nemesis %s, seed %d, %v over %s:", s.Nemesis, s.Seed, s.Duration, strings.Join(s.Nodes, ","))
	for _, st := range s.Steps {
		b.WriteString("\n  ")
		b.WriteString(st.String())
	}
	return b.String()
}

// ScheduleConfig is what GenerateSchedule draws a schedule from.
type ScheduleConfig struct {
	Seed     int64
	Duration time.Duration // the length of the run; the last heal comes no later
	Nodes    []string      // node names; their order does not matter
	Nemesis  Nemesis
	// Replicas is R, the replicas of each partition: a Membership drain
	// leaves at least R nodes in the cluster. Zero means min(3, nodes),
	// the servers' default.
	Replicas int
	// FaultMin and FaultMax bound how long a fault lasts; HealMin and
	// HealMax the quiet time before the first fault and between faults.
	// Zero means the note's 5–10 s each (notes/paxos-primary-backup-and-
	// checking.md §5) for runs of 40 s or more, scaled down in proportion
	// for shorter runs, so a short run still sees several faults.
	FaultMin, FaultMax, HealMin, HealMax time.Duration
}

// Offsets a Clock step draws from: within and beyond the default
// --max-clock-offset (500 ms), since beyond it a node must refuse to lead.
var clockOffsets = []time.Duration{100 * time.Millisecond, 400 * time.Millisecond, time.Second, 5 * time.Second}

// GenerateSchedule draws a schedule: a quiet time, then a fault, its heal, a
// quiet time, and so on, each fault healed before the next and the last heal
// no later than Duration. Kinds are drawn uniformly; kill and pause hit one
// node, a minority or a majority; clock and disk one node; leader kills,
// pauses or isolates the leader; membership joins a node, drains one, or
// kills a node in the middle of a replica move (see Membership and
// members.draw). Faults are drawn over the nodes in the cluster at the
// time: the founders in Nodes, plus the nodes joined, minus those drained.
// It returns an error for a config it cannot honour (a partition shape too
// big for the cluster, no nodes, more replicas than nodes).
func GenerateSchedule(cfg ScheduleConfig) (Schedule, error) {
	nodes, err := nodeSet(cfg.Nodes)
	if err != nil {
		return Schedule{}, err
	}
	s := Schedule{Seed: cfg.Seed, Duration: cfg.Duration, Nodes: nodes, Nemesis: cfg.Nemesis.String()}
	if len(cfg.Nemesis.Kinds) == 0 {
		return s, nil
	}
	if cfg.Duration <= 0 {
		return Schedule{}, fmt.Errorf("%w: duration %v must be positive", ErrNemesis, cfg.Duration)
	}
	if len(nodes) == 0 {
		return Schedule{}, fmt.Errorf("%w: no nodes", ErrNemesis)
	}
	replicas := cfg.Replicas
	if replicas == 0 {
		replicas = min(3, len(nodes))
	}
	if replicas < 0 || replicas > len(nodes) {
		return Schedule{}, fmt.Errorf("%w: %d replicas of each partition on %d nodes", ErrNemesis, replicas, len(nodes))
	}
	want := cfg.Nemesis.Shapes
	if len(want) == 0 {
		want = allShapes
	}
	// NB: a drain never leaves fewer than min(3, len(nodes)) nodes
	// (members.floor), so a shape that fits the founders fits every
	// cluster the schedule makes; drawFault checks anyway.
	shapes := fitting(want, len(nodes))
	for _, k := range cfg.Nemesis.Kinds {
		switch {
		case !slices.Contains(knownKinds, k):
			return Schedule{}, fmt.Errorf("%w: unknown fault kind %q", ErrNemesis, k)
		case k == Partition && len(shapes) == 0:
			return Schedule{}, fmt.Errorf("%w: no partition shape in %v fits %d nodes (isolate needs 2, the others 3)", ErrNemesis, want, len(nodes))
		}
	}
	fmin, fmax, hmin, hmax := intervals(cfg)
	if fmin <= 0 || hmin <= 0 || fmax < fmin || hmax < hmin {
		return Schedule{}, fmt.Errorf("%w: fault lengths [%v, %v] and quiet times [%v, %v] must be positive ranges", ErrNemesis, fmin, fmax, hmin, hmax)
	}

	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6361697266)) // "cairn"
	between := func(lo, hi time.Duration) time.Duration {
		d := lo
		if hi > lo {
			d += time.Duration(rng.Int64N(int64(hi - lo + 1)))
		}
		return max(d.Round(time.Millisecond), time.Millisecond)
	}
	m := newMembers(nodes, replicas)
	t := between(hmin, hmax)
	for {
		length := between(fmin, fmax)
		if t+length > cfg.Duration {
			break
		}
		st, err := drawFault(rng, cfg.Nemesis.Kinds, fitting(want, len(m.live)), m)
		if err != nil {
			return Schedule{}, err
		}
		st.At = t
		s.Steps = append(s.Steps, st, Step{At: t + length, Heal: true, Kind: st.Kind, Action: st.Action})
		t += length + between(hmin, hmax)
	}
	return s, nil
}

// fitting returns the shapes of want that n nodes can take.
func fitting(want []Shape, n int) []Shape {
	var out []Shape
	for _, sh := range want {
		if n >= sh.minNodes() {
			out = append(out, sh)
		}
	}
	return out
}

func intervals(cfg ScheduleConfig) (fmin, fmax, hmin, hmax time.Duration) {
	fmin, fmax, hmin, hmax = cfg.FaultMin, cfg.FaultMax, cfg.HealMin, cfg.HealMax
	scale := func(d time.Duration) time.Duration {
		const full = 40 * time.Second
		if cfg.Duration >= full {
			return d
		}
		return time.Duration(float64(d) * float64(cfg.Duration) / float64(full))
	}
	if fmin == 0 {
		fmin = scale(5 * time.Second)
	}
	if fmax == 0 {
		fmax = max(fmin, scale(10*time.Second))
	}
	if hmin == 0 {
		hmin = scale(5 * time.Second)
	}
	if hmax == 0 {
		hmax = max(hmin, scale(10*time.Second))
	}
	return fmin, fmax, hmin, hmax
}

func drawFault(rng *rand.Rand, kinds []FaultKind, shapes []Shape, m *members) (Step, error) {
	k := kinds[rng.IntN(len(kinds))]
	st := Step{Kind: k, Action: k}
	nodes := m.live
	n := len(nodes)
	pick := func(count int) []string {
		perm := rng.Perm(n)[:count]
		out := make([]string, count)
		for i, p := range perm {
			out[i] = nodes[p]
		}
		sort.Strings(out)
		return out
	}
	switch k {
	case Kill, Pause:
		sizes := []int{1}
		if m := (n - 1) / 2; m > 1 {
			sizes = append(sizes, 1+rng.IntN(m)) // a minority
		}
		if n >= 2 {
			sizes = append(sizes, n/2+1) // a majority
		}
		st.Nodes = pick(sizes[rng.IntN(len(sizes))])
	case Partition:
		if len(shapes) == 0 {
			return Step{}, fmt.Errorf("%w: no partition shape fits %d nodes", ErrNemesis, n)
		}
		c, err := MakeCut(shapes[rng.IntN(len(shapes))], nodes, rng)
		if err != nil {
			return Step{}, err
		}
		st.Cut = &c
	case Leader:
		actions := []FaultKind{Kill, Pause}
		if n >= 2 {
			actions = append(actions, Partition)
		}
		st.Action = actions[rng.IntN(len(actions))]
	case Clock:
		st.Nodes = pick(1)
		st.ClockOffset = clockOffsets[rng.IntN(len(clockOffsets))]
		if rng.IntN(2) == 0 {
			st.ClockOffset = -st.ClockOffset
		}
	case Disk:
		st.Nodes = pick(1)
		st.Disk = []DiskMode{DiskFull, DiskFail}[rng.IntN(2)]
	case Membership:
		m.draw(rng, &st)
	}
	return st, nil
}

// members is the cluster as a schedule changes it: who is in it after the
// steps drawn so far. It is the schedule's model, not the cluster's truth:
// a join or drain that fails when the step runs leaves the two apart, and
// the runner then skips the steps that name a node it does not have.
type members struct {
	live   []string        // in the cluster: founders and joined nodes not drained; sorted
	joined []string        // joined nodes still live, in the order they joined
	used   map[string]bool // every name ever in the cluster: names are never reused
	next   int             // the number of the next joiner's name, j<next>
	// floor is the fewest nodes a drain leaves: R, and at least 3 (or
	// every founder, when fewer) so that every partition shape that fits
	// the founders still fits.
	floor int
	most  int // the most nodes the cluster grows to
}

func newMembers(nodes []string, replicas int) *members {
	m := &members{live: slices.Clone(nodes), used: map[string]bool{}, next: 1,
		floor: max(replicas, min(3, len(nodes))),
		// NB: two more than the founders: enough for joins to move
		// replicas every time and drains to always have a joined node to
		// take, few enough processes for a laptop (or a 2-core CI runner).
		most: len(nodes) + 2}
	for _, n := range nodes {
		m.used[n] = true
	}
	return m
}

// drainable returns the nodes a drain may take now. A node that joined
// during the run is preferred: the clients were given the founders'
// addresses. A founder is drained only when no joined node is left and at
// least floor+1 nodes (R+1) remain afterwards, so the cluster can still
// lose one and keep R replicas of every partition, and the clients still
// have founders
// to talk to (with 5 founders and R = 3, at most one founder is ever gone;
// with 3 founders, none). Any drain leaves at least floor ≥ R nodes.
func (m *members) drainable() []string {
	switch {
	case len(m.joined) > 0 && len(m.live)-1 >= m.floor:
		return m.joined
	case len(m.joined) == 0 && len(m.live)-1 >= m.floor+1:
		return m.live
	}
	return nil
}

// draw fills in a Membership step: join, drain, or a kill during the move
// a join or drain starts, uniformly among those possible now, and applies
// its change to the model. One is always possible: when the cluster is at
// its largest it holds joined nodes to drain.
func (m *members) draw(rng *rand.Rand, st *Step) {
	var changes []FaultKind
	if len(m.live) < m.most {
		changes = append(changes, Join)
	}
	if len(m.drainable()) > 0 {
		changes = append(changes, Drain)
	}
	actions := append(slices.Clone(changes), Kill)
	st.Action = actions[rng.IntN(len(actions))]
	st.Change = st.Action
	if st.Action == Kill {
		st.Change = changes[rng.IntN(len(changes))]
	}
	if st.Change == Join {
		for m.used[fmt.Sprintf("j%d", m.next)] {
			m.next++
		}
		st.Member = fmt.Sprintf("j%d", m.next)
		m.next++
		m.used[st.Member] = true
		m.joined = append(m.joined, st.Member)
		m.live = sorted(append(m.live, st.Member))
		return
	}
	cands := m.drainable()
	st.Member = cands[rng.IntN(len(cands))]
	m.live = slices.DeleteFunc(m.live, func(n string) bool { return n == st.Member })
	m.joined = slices.DeleteFunc(m.joined, func(n string) bool { return n == st.Member })
}
