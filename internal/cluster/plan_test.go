package cluster

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/cairnkv/cairn/internal/hashring"
	"github.com/cairnkv/cairn/internal/replica"
)

// planTB is what the plan checks need of a *testing.T or a *rapid.T.
type planTB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// withState returns a copy of ms with the named members in state.
func withState(ms []Member, state string, names ...string) []Member {
	out := slices.Clone(ms)
	for i := range out {
		if slices.Contains(names, out[i].Name) {
			out[i].State = state
		}
	}
	return out
}

// nodesOf returns the nodes holding a replica of d, sorted.
func nodesOf(d replica.Descriptor) []string {
	var ns []string
	for _, r := range d.Replicas {
		ns = append(ns, r.Node)
	}
	slices.Sort(ns)
	return ns
}

// sortedCopy returns ns sorted, leaving ns alone.
func sortedCopy(ns []string) []string {
	s := slices.Clone(ns)
	slices.Sort(s)
	return s
}

// desc builds a descriptor of group g: voters first, then learners, IDs
// 1, 2, ... in that order.
func desc(g replica.GroupID, voters []string, learners ...string) replica.Descriptor {
	d := founding(g, append(slices.Clone(voters), learners...))
	for i := len(voters); i < len(d.Replicas); i++ {
		d.Replicas[i].Role = replica.RoleLearner
		d.Learners = append(d.Learners, d.Replicas[i].ID)
	}
	d.Voters = d.Voters[:len(voters)]
	return d
}

// checkDescriptor checks what every descriptor the planner makes must hold:
// IDs sorted, unique and below NextReplicaID, no two replicas on one node,
// voters and learners naming replicas of the right role, and nothing else.
func checkDescriptor(t planTB, d replica.Descriptor) {
	t.Helper()
	nodes := map[string]bool{}
	var voters, learners []replica.ReplicaID
	for i, r := range d.Replicas {
		if i > 0 && r.ID <= d.Replicas[i-1].ID {
			t.Fatalf("group %d: replica IDs not increasing: %+v", d.Group, d.Replicas)
		}
		if r.ID == 0 || r.ID >= d.NextReplicaID {
			t.Fatalf("group %d: replica %d not below NextReplicaID %d", d.Group, r.ID, d.NextReplicaID)
		}
		if nodes[r.Node] {
			t.Fatalf("group %d: two replicas on %s: %+v", d.Group, r.Node, d.Replicas)
		}
		nodes[r.Node] = true
		if r.Role == replica.RoleVoter {
			voters = append(voters, r.ID)
		} else {
			learners = append(learners, r.ID)
		}
	}
	if !slices.Equal(voters, d.Voters) || !slices.Equal(learners, d.Learners) {
		t.Fatalf("group %d: voters %v learners %v, replicas %+v", d.Group, d.Voters, d.Learners, d.Replicas)
	}
	if d.Joint() || d.Engine != nil {
		t.Fatalf("group %d: joint after a move: %+v", d.Group, d)
	}
}

// runPlan applies moves to descs, checking every step: moves come group by
// group in ascending order, each adds only target nodes and removes only
// others, no descriptor breaks checkDescriptor, and no group ever has fewer
// voters than min(its target's size, its voters at the start). It checks
// that every group ends exactly on its target, all voters, and returns the
// final descriptors by group.
func runPlan(t planTB, descs []replica.Descriptor, tg Target, moves []Move) map[replica.GroupID]replica.Descriptor {
	t.Helper()
	cur := map[replica.GroupID]replica.Descriptor{}
	for _, d := range descs {
		cur[d.Group] = d
	}
	for i, m := range moves {
		if i > 0 && m.Group < moves[i-1].Group {
			t.Fatalf("move %d (%v) after one of group %d: not in group order", i, m, moves[i-1].Group)
		}
		d, ok := cur[m.Group]
		if !ok || int(m.Group) >= len(tg.Groups) {
			t.Fatalf("move %d (%v): no such group", i, m)
		}
		target := tg.Groups[m.Group]
		if m.Add == "" && m.Remove == "" {
			t.Fatalf("move %d (%v) does nothing", i, m)
		}
		if m.Add != "" && !slices.Contains(target, m.Add) {
			t.Fatalf("move %d (%v) adds a node not in the target %v", i, m, target)
		}
		if m.Remove != "" && slices.Contains(target, m.Remove) {
			t.Fatalf("move %d (%v) removes a node in the target %v", i, m, target)
		}
		next := Apply(d, m)
		checkDescriptor(t, next)
		if next.Version != d.Version+1 {
			t.Fatalf("move %d (%v): version %d after %d", i, m, next.Version, d.Version)
		}
		if floor := min(len(target), len(d.Voters)); len(next.Voters) < floor {
			t.Fatalf("move %d (%v) leaves %d voters, fewer than %d: %+v", i, m, len(next.Voters), floor, next)
		}
		cur[m.Group] = next
	}
	for _, d := range descs {
		if int(d.Group) >= len(tg.Groups) {
			continue
		}
		got := cur[d.Group]
		if want := sortedCopy(tg.Groups[d.Group]); !slices.Equal(nodesOf(got), want) || len(got.Learners) != 0 {
			t.Fatalf("%s ends on %v (learners %v), want %v", groupLabel(d.Group), nodesOf(got), got.Learners, want)
		}
	}
	return cur
}

// wantAdds is the replicas a plan must add: target − current, summed over
// groups.
func wantAdds(descs []replica.Descriptor, tg Target) int {
	n := 0
	for _, d := range descs {
		for _, node := range tg.Groups[d.Group] {
			if _, ok := d.ReplicaOn(node); !ok {
				n++
			}
		}
	}
	return n
}

func countAdds(moves []Move) (adds, removes int) {
	for _, m := range moves {
		if m.Add != "" {
			adds++
		}
		if m.Remove != "" {
			removes++
		}
	}
	return adds, removes
}

func TestPlaceableLive(t *testing.T) {
	for _, tc := range []struct {
		state           string
		placeable, live bool
	}{
		{"", true, true},
		{NodeJoining, true, true},
		{NodeUp, true, true},
		{NodeDraining, false, true},
		{NodeDown, false, false},
		{NodeRemoved, false, false},
		{"bogus", false, false},
	} {
		t.Run(tc.state, func(t *testing.T) {
			if got := Placeable(tc.state); got != tc.placeable {
				t.Errorf("Placeable(%q) = %v, want %v", tc.state, got, tc.placeable)
			}
			if got := Live(tc.state); got != tc.live {
				t.Errorf("Live(%q) = %v, want %v", tc.state, got, tc.live)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	s := Settings{Partitions: 16, Replicas: 3}
	for _, tc := range []struct {
		name    string
		members []Member
		meta    []string
		ring    []string // the members the ring places on
		err     string
	}{
		{name: "founders", members: members(3), meta: []string{"n1", "n2", "n3"}, ring: []string{"n1", "n2", "n3"}},
		{name: "two joining", members: withState(members(5), NodeJoining, "n4", "n5"),
			meta: []string{"n1", "n2", "n3", "n4", "n5"}, ring: []string{"n1", "n2", "n3", "n4", "n5"}},
		{name: "seven up", members: members(7),
			meta: []string{"n1", "n2", "n3", "n4", "n5"}, ring: []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7"}},
		{name: "draining", members: withState(members(5), NodeDraining, "n1"),
			meta: []string{"n2", "n3", "n4"}, ring: []string{"n2", "n3", "n4", "n5"}},
		{name: "down", members: withState(members(5), NodeDown, "n2"),
			meta: []string{"n1", "n3", "n4"}, ring: []string{"n1", "n3", "n4", "n5"}},
		{name: "removed ignored", members: withState(members(5), NodeRemoved, "n3", "n4"),
			meta: []string{"n1", "n2", "n5"}, ring: []string{"n1", "n2", "n5"}},
		{name: "too few", members: withState(withState(members(4), NodeDown, "n1"), NodeDraining, "n2"),
			err: "2 of 4 members are joining or up, and --replicas 3 needs at least 3"},
		{name: "too few after removal", members: withState(members(3), NodeRemoved, "n3"),
			err: "2 of 2 members are joining or up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := Targets(tc.members, s)
			if tc.err != "" {
				if !errors.Is(err, ErrTooFewNodes) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Targets: %v, want ErrTooFewNodes saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tg.Groups) != s.Partitions+1 {
				t.Fatalf("%d groups, want %d", len(tg.Groups), s.Partitions+1)
			}
			if !slices.Equal(tg.Groups[0], tc.meta) {
				t.Errorf("meta group target %v, want %v", tg.Groups[0], tc.meta)
			}
			var ring []Member
			for _, m := range tc.members {
				if slices.Contains(tc.ring, m.Name) {
					ring = append(ring, m)
				}
			}
			pl, err := Placement(ring, s)
			if err != nil {
				t.Fatal(err)
			}
			var placed []string
			for _, n := range tg.Placement.Nodes() {
				placed = append(placed, n.Name)
			}
			if !slices.Equal(placed, tc.ring) {
				t.Errorf("placement over %v, want %v", placed, tc.ring)
			}
			for p := range s.Partitions {
				if got, want := tg.Groups[p+1], pl.Replicas(p); !slices.Equal(got, want) {
					t.Errorf("partition %d target %v, want the ring's %v", p, got, want)
				}
				for _, node := range tg.Groups[p+1] {
					if !slices.Contains(tc.ring, node) {
						t.Errorf("partition %d targets %s, which takes no replicas", p, node)
					}
				}
			}
		})
	}
}

func TestNextMove(t *testing.T) {
	up := members(6) // n1..n6, all up
	for _, tc := range []struct {
		name    string
		desc    replica.Descriptor
		target  []string
		members []Member
		want    Move
		ok      bool
	}{
		{name: "in place", desc: desc(1, []string{"n1", "n2", "n3"}), target: []string{"n3", "n1", "n2"}, members: up},
		{name: "swap", desc: desc(1, []string{"n1", "n2", "n3"}), target: []string{"n1", "n4", "n3"}, members: up,
			want: Move{Group: 1, Add: "n4", Remove: "n2"}, ok: true},
		{name: "adds in target order", desc: desc(1, []string{"n1", "n2", "n3"}), target: []string{"n5", "n1", "n4"}, members: up,
			want: Move{Group: 1, Add: "n5", Remove: "n2"}, ok: true},
		{name: "ties by name", desc: desc(1, []string{"n3", "n2", "n1"}), target: []string{"n1", "n4", "n5"}, members: up,
			want: Move{Group: 1, Add: "n4", Remove: "n2"}, ok: true},
		{name: "down first", desc: desc(1, []string{"n1", "n2", "n3"}), target: []string{"n1", "n4", "n5"},
			members: withState(up, NodeDown, "n3"), want: Move{Group: 1, Add: "n4", Remove: "n3"}, ok: true},
		{name: "removed member first", desc: desc(1, []string{"n1", "n2", "n3"}), target: []string{"n1", "n4", "n5"},
			members: withState(up, NodeRemoved, "n3"), want: Move{Group: 1, Add: "n4", Remove: "n3"}, ok: true},
		{name: "unknown node first", desc: desc(1, []string{"n1", "n2", "x9"}), target: []string{"n1", "n4", "n5"}, members: up,
			want: Move{Group: 1, Add: "n4", Remove: "x9"}, ok: true},
		{name: "draining is live", desc: desc(1, []string{"n1", "n2", "n3"}), target: []string{"n1", "n4", "n5"},
			members: withState(up, NodeDraining, "n2"), want: Move{Group: 1, Add: "n4", Remove: "n2"}, ok: true},
		{name: "short: add alone", desc: desc(0, []string{"n1", "n2", "n3"}), target: []string{"n1", "n2", "n3", "n4", "n5"}, members: up,
			want: Move{Group: 0, Add: "n4"}, ok: true},
		{name: "short with an extra: add alone", desc: desc(2, []string{"n1", "n6"}), target: []string{"n1", "n2", "n3"}, members: up,
			want: Move{Group: 2, Add: "n2"}, ok: true},
		{name: "extra: remove alone", desc: desc(0, []string{"n1", "n2", "n3", "n4", "n5"}), target: []string{"n1", "n2", "n4"}, members: up,
			want: Move{Group: 0, Remove: "n3"}, ok: true},
		{name: "learner on a target node is promoted", desc: desc(1, []string{"n1", "n2"}, "n3"), target: []string{"n1", "n2", "n3"}, members: up,
			want: Move{Group: 1, Add: "n3"}, ok: true},
		{name: "promotion pairs when the group stays full", desc: desc(1, []string{"n1", "n2", "n4"}, "n3"), target: []string{"n1", "n2", "n3"}, members: up,
			want: Move{Group: 1, Add: "n3", Remove: "n4"}, ok: true},
		{name: "stray learner removed", desc: desc(1, []string{"n1", "n2", "n3"}, "n4"), target: []string{"n1", "n2", "n3"}, members: up,
			want: Move{Group: 1, Remove: "n4"}, ok: true},
		{name: "joint: wait", desc: func() replica.Descriptor {
			d := desc(1, []string{"n1", "n2", "n4"})
			d.Engine = replica.JointConf{Outgoing: []replica.ReplicaID{1, 2}}.Section()
			return d
		}(), target: []string{"n1", "n4", "n5"}, members: up},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := NextMove(tc.desc, tc.target, tc.members)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("NextMove = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestApply(t *testing.T) {
	d := desc(3, []string{"n1", "n2", "n3"}, "n5")
	d.Version = 7
	d.NextReplicaID = 9
	before := d.Clone()

	got := Apply(d, Move{Group: 3, Add: "n4", Remove: "n2"})
	want := replica.Descriptor{
		Group: 3, Version: 8, NextReplicaID: 10,
		Replicas: []replica.Member{
			{ID: 1, Node: "n1", Role: replica.RoleVoter},
			{ID: 3, Node: "n3", Role: replica.RoleVoter},
			{ID: 4, Node: "n5", Role: replica.RoleLearner},
			{ID: 9, Node: "n4", Role: replica.RoleVoter},
		},
		Voters:   []replica.ReplicaID{1, 3, 9},
		Learners: []replica.ReplicaID{4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("add n4, remove n2:\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(d, before) {
		t.Fatalf("Apply changed its argument: %+v", d)
	}

	got = Apply(got, Move{Group: 3, Add: "n5", Remove: "n1"})
	want = replica.Descriptor{
		Group: 3, Version: 9, NextReplicaID: 10,
		Replicas: []replica.Member{
			{ID: 3, Node: "n3", Role: replica.RoleVoter},
			{ID: 4, Node: "n5", Role: replica.RoleVoter},
			{ID: 9, Node: "n4", Role: replica.RoleVoter},
		},
		Voters: []replica.ReplicaID{3, 4, 9},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("promote n5, remove n1:\n got %+v\nwant %+v", got, want)
	}

	got = Apply(got, Move{Group: 3, Remove: "n3"})
	if !slices.Equal(nodesOf(got), []string{"n4", "n5"}) || !slices.Equal(got.Voters, []replica.ReplicaID{4, 9}) ||
		got.Version != 10 || got.NextReplicaID != 10 {
		t.Fatalf("remove n3: %+v", got)
	}

	j := desc(1, []string{"n1", "n2", "n3"})
	j.Engine = replica.JointConf{Outgoing: []replica.ReplicaID{1, 2}, AutoLeave: true}.Section()
	if got := Apply(j, Move{Group: 1, Add: "n4"}); got.Joint() || got.Engine != nil {
		t.Fatalf("Apply left a joint configuration: %+v", got)
	}
}

// TestPlanMovesGrow: a cluster founded on 3 nodes gains two; the plan
// reaches every target, adds exactly target − current, and the partitions'
// share of it is the ring's own Diff.
func TestPlanMovesGrow(t *testing.T) {
	s := Settings{Partitions: 64, Replicas: 3}
	old := members(3)
	descs := FoundingDescriptors(old, s)
	grown := withState(members(5), NodeJoining, "n4", "n5")
	tg, err := Targets(grown, s)
	if err != nil {
		t.Fatal(err)
	}
	moves := PlanMoves(descs, tg, grown)
	final := runPlan(t, descs, tg, moves)

	adds, removes := countAdds(moves)
	if want := wantAdds(descs, tg); adds != want {
		t.Errorf("%d adds, want %d", adds, want)
	}
	from, err := Placement(old, s)
	if err != nil {
		t.Fatal(err)
	}
	diff, err := hashring.Diff(from, tg.Placement)
	if err != nil {
		t.Fatal(err)
	}
	// The meta group grows from 3 voters to 5 and removes none.
	if adds != diff.Added+2 || removes != diff.Removed {
		t.Errorf("%d adds and %d removes, want the ring's %d+2 and %d", adds, removes, diff.Added, diff.Removed)
	}
	if diff.Added == 0 {
		t.Fatal("nothing moved: the test proves nothing")
	}
	c := Counts(mapValues(final))
	for _, n := range tg.Placement.Nodes() {
		want := n.Replicas
		if slices.Contains(tg.Groups[0], n.Name) {
			want++
		}
		if c[n.Name] != want {
			t.Errorf("%s holds %d replicas after the plan, want %d", n.Name, c[n.Name], want)
		}
	}
}

func mapValues(m map[replica.GroupID]replica.Descriptor) []replica.Descriptor {
	var ds []replica.Descriptor
	for _, d := range m {
		ds = append(ds, d)
	}
	return ds
}

// TestPlanMovesDrain: draining a node moves every replica off it, each
// partition's replica replaced in the same change that removes it.
func TestPlanMovesDrain(t *testing.T) {
	s := Settings{Partitions: 32, Replicas: 3}
	ms := members(5)
	descs := FoundingDescriptors(ms, s)
	if Counts(descs)["n3"] == 0 {
		t.Fatal("n3 holds nothing: the test proves nothing")
	}
	drained := withState(ms, NodeDraining, "n3")
	tg, err := Targets(drained, s)
	if err != nil {
		t.Fatal(err)
	}
	for g, nodes := range tg.Groups {
		if slices.Contains(nodes, "n3") {
			t.Fatalf("%s still targets the draining n3: %v", groupLabel(replica.GroupID(g)), nodes)
		}
	}
	moves := PlanMoves(descs, tg, drained)
	final := runPlan(t, descs, tg, moves)
	if n := Counts(mapValues(final))["n3"]; n != 0 {
		t.Fatalf("n3 still holds %d replicas", n)
	}
	for _, m := range moves {
		if m.Group != 0 && m.Remove == "n3" && m.Add == "" {
			t.Errorf("%v removes n3's replica without replacing it", m)
		}
	}
	if adds, _ := countAdds(moves); adds != wantAdds(descs, tg) {
		t.Errorf("%d adds, want %d", adds, wantAdds(descs, tg))
	}
}

// TestPlanMovesDownFirst: with a node down, each group removes its replica
// on the down node before any on a live node.
func TestPlanMovesDownFirst(t *testing.T) {
	s := Settings{Partitions: 64, Replicas: 3}
	ms := members(6)
	descs := FoundingDescriptors(ms, s)
	failed := withState(ms, NodeDown, "n2")
	tg, err := Targets(failed, s)
	if err != nil {
		t.Fatal(err)
	}
	moves := PlanMoves(descs, tg, failed)
	runPlan(t, descs, tg, moves)
	liveRemoved := map[replica.GroupID]bool{}
	downRemoved := 0
	for _, m := range moves {
		switch {
		case m.Remove == "n2":
			downRemoved++
			if liveRemoved[m.Group] {
				t.Errorf("%v comes after a live node's replica was removed", m)
			}
		case m.Remove != "":
			liveRemoved[m.Group] = true
		}
	}
	if want := Counts(descs)["n2"]; downRemoved != want {
		t.Errorf("%d of n2's replicas removed, want %d", downRemoved, want)
	}
}

func TestPlanMovesJoint(t *testing.T) {
	s := Settings{Partitions: 8, Replicas: 3}
	descs := FoundingDescriptors(members(3), s)
	grown := members(5)
	tg, err := Targets(grown, s)
	if err != nil {
		t.Fatal(err)
	}
	var joint replica.GroupID
	for i, d := range descs {
		if i > 0 && !slices.Equal(nodesOf(d), sortedCopy(tg.Groups[d.Group])) {
			joint = d.Group
			descs[i].Engine = replica.JointConf{Outgoing: slices.Clone(d.Voters)}.Section()
			break
		}
	}
	if joint == 0 {
		t.Fatal("no partition moves: the test proves nothing")
	}
	moves := PlanMoves(descs, tg, grown)
	for _, m := range moves {
		if m.Group == joint {
			t.Fatalf("%v planned for a group in a joint configuration", m)
		}
	}
	if len(moves) == 0 {
		t.Fatal("no moves for the other groups")
	}
}

// TestPlanMovesSkipsMissing: groups without a descriptor get no moves, and
// descriptors of groups the target does not know are ignored.
func TestPlanMovesSkipsMissing(t *testing.T) {
	s := Settings{Partitions: 8, Replicas: 3}
	descs := FoundingDescriptors(members(3), s)
	grown := members(5)
	tg, err := Targets(grown, s)
	if err != nil {
		t.Fatal(err)
	}
	some := []replica.Descriptor{descs[3], desc(99, []string{"n1"}), descs[0]}
	moves := PlanMoves(some, tg, grown)
	for _, m := range moves {
		if m.Group != 0 && m.Group != 3 {
			t.Fatalf("%v: group has no descriptor", m)
		}
	}
	runPlan(t, some, tg, moves)
}

// TestPlanDeterministic: the order of the members and of the descriptors
// does not change the targets or the plan.
func TestPlanDeterministic(t *testing.T) {
	s := Settings{Partitions: 32, Replicas: 3}
	ms := withState(withState(members(6), NodeDraining, "n2"), NodeJoining, "n6")
	ms[0].Zone, ms[3].Zone, ms[4].Capacity = "a", "b", 2
	descs := FoundingDescriptors(members(5), s)
	tg, err := Targets(ms, s)
	if err != nil {
		t.Fatal(err)
	}
	want := PlanMoves(descs, tg, ms)
	rev := slices.Clone(ms)
	slices.Reverse(rev)
	revDescs := slices.Clone(descs)
	slices.Reverse(revDescs)
	tg2, err := Targets(rev, s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tg.Groups, tg2.Groups) {
		t.Fatal("Targets depends on the order of members")
	}
	if got := PlanMoves(revDescs, tg2, rev); !reflect.DeepEqual(got, want) {
		t.Fatalf("PlanMoves depends on the order of its inputs:\n got %v\nwant %v", got, want)
	}
}

func TestCheckLive(t *testing.T) {
	s := Settings{Partitions: 16, Replicas: 3}
	five := members(5)
	founded := FoundingDescriptors(five, s)
	// firstOn is the lowest group with voters on both a and b.
	firstOn := func(a, b string) replica.GroupID {
		for _, d := range founded {
			_, okA := d.ReplicaOn(a)
			_, okB := d.ReplicaOn(b)
			if okA && okB && len(d.Voters) == 3 {
				return d.Group
			}
		}
		t.Fatalf("no partition on %s and %s", a, b)
		return 0
	}
	g := firstOn("n2", "n3")
	jointDesc := desc(4, []string{"n1", "n2", "n3"})
	jointDesc.Replicas = append(jointDesc.Replicas,
		replica.Member{ID: 4, Node: "n4", Role: replica.RoleVoter}, replica.Member{ID: 5, Node: "n5", Role: replica.RoleVoter})
	jointDesc.NextReplicaID = 6
	jointDesc.Engine = replica.JointConf{Outgoing: []replica.ReplicaID{1, 4, 5}}.Section()

	for _, tc := range []struct {
		name    string
		descs   []replica.Descriptor
		members []Member
		is      error
		err     string
	}{
		{name: "all up", descs: founded, members: five},
		{name: "one down", descs: founded, members: withState(five, NodeDown, "n2")},
		{name: "draining is live", descs: founded, members: withState(withState(members(7), NodeDraining, "n2", "n3"), NodeDown, "n4")},
		{name: "two of a partition lost", descs: founded,
			members: withState(withState(five, NodeDown, "n2"), NodeRemoved, "n3"), is: ErrNoQuorum,
			err: fmt.Sprintf("%s would have 1 of 3 voters on live nodes (n2 is down, n3 is removed): a membership change needs a quorum (2 of 3)", groupLabel(g))},
		{name: "the brief's example", descs: []replica.Descriptor{desc(0, []string{"n1"}), desc(8, []string{"n1", "n2", "n3"})},
			members: withState(five, NodeDown, "n2", "n3"), is: ErrNoQuorum,
			err: "partition 7 would have 1 of 3 voters on live nodes (n2 and n3 are down): a membership change needs a quorum"},
		{name: "unknown node", descs: []replica.Descriptor{desc(2, []string{"n1", "x8", "x9"})},
			members: five, is: ErrNoQuorum,
			err: "partition 1 would have 1 of 3 voters on live nodes (x8 and x9 are unknown)"},
		{name: "three down: too few", descs: []replica.Descriptor{desc(0, []string{"n1", "n2", "n3", "n4", "n5"})},
			members: withState(five, NodeDown, "n1", "n3", "n5"), is: ErrTooFewNodes},
		{name: "meta group quorum", descs: []replica.Descriptor{desc(0, []string{"n1", "n2", "n3"})},
			members: withState(members(6), NodeDown, "n1", "n3"), is: ErrNoQuorum,
			err: "meta group would have 1 of 3 voters on live nodes (n1 and n3 are down)"},
		{name: "joint: incoming ok, outgoing lost", descs: []replica.Descriptor{jointDesc},
			members: withState(five, NodeDown, "n4", "n5"), is: ErrNoQuorum,
			err: "partition 3 would have 1 of 3 outgoing voters on live nodes (n4 and n5 are down)"},
		{name: "joint: both ok", descs: []replica.Descriptor{jointDesc}, members: withState(five, NodeDown, "n5")},
		{name: "too few placeable", descs: founded, members: withState(withState(members(4), NodeDraining, "n1"), NodeDown, "n2"),
			is: ErrTooFewNodes, err: "2 of 4 members would be joining or up, and --replicas 3 needs at least 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckLive(tc.descs, tc.members, s, replica.Majority)
			if tc.is == nil {
				if err != nil {
					t.Fatalf("CheckLive refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.is) || !strings.Contains(fmt.Sprint(err), tc.err) {
				t.Fatalf("CheckLive: %v\nwant %v saying %q", err, tc.is, tc.err)
			}
		})
	}
}

func TestCounts(t *testing.T) {
	descs := []replica.Descriptor{
		desc(0, []string{"n1", "n2", "n3"}),
		desc(1, []string{"n1", "n2"}, "n4"),
		desc(2, []string{"n3"}),
	}
	want := map[string]int{"n1": 2, "n2": 2, "n3": 2, "n4": 1}
	if got := Counts(descs); !reflect.DeepEqual(got, want) {
		t.Fatalf("Counts = %v, want %v", got, want)
	}
}

// TestPropertyPlanReachesTargets: for a random cluster founded on N nodes
// and a random join or drain, the plan from the founding descriptors ends
// on the new targets for every group, adds exactly target − current (the
// ring's Diff for the partitions), and moves every partition replica by a
// swap.
func TestPropertyPlanReachesTargets(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(3, 9).Draw(t, "N")
		s := Settings{
			Partitions: rapid.IntRange(1, 64).Draw(t, "P"),
			Replicas:   rapid.IntRange(1, min(3, n)).Draw(t, "R"),
		}
		zones := rapid.IntRange(0, 3).Draw(t, "zones")
		member := func(label string) Member {
			m := Member{
				Name:     fmt.Sprintf("node-%d", rapid.IntRange(0, 999).Draw(t, label+" id")),
				Capacity: rapid.SampledFrom([]float64{0, 0.5, 1, 2, 4}).Draw(t, label+" capacity"),
			}
			if zones > 0 {
				m.Zone = fmt.Sprintf("zone-%d", rapid.IntRange(0, zones-1).Draw(t, label+" zone"))
			}
			return m
		}
		taken := map[string]bool{}
		unique := func(m Member) Member {
			for taken[m.Name] {
				m.Name += "x"
			}
			taken[m.Name] = true
			m.Addr = fmt.Sprintf("127.0.0.1:%d", 7001+len(taken))
			return m
		}
		var old []Member
		for range n {
			old = append(old, unique(member("member")))
		}
		descs := FoundingDescriptors(old, s)

		next := slices.Clone(old)
		if n > s.Replicas && rapid.Bool().Draw(t, "drain") {
			i := rapid.IntRange(0, n-1).Draw(t, "drained")
			next[i].State = NodeDraining
		} else {
			j := unique(member("joiner"))
			j.State = NodeJoining
			next = append(next, j)
		}
		tg, err := Targets(next, s)
		if err != nil {
			t.Fatalf("Targets: %v", err)
		}
		moves := PlanMoves(descs, tg, next)
		runPlan(t, descs, tg, moves)

		adds, _ := countAdds(moves)
		if want := wantAdds(descs, tg); adds != want {
			t.Fatalf("%d adds, want %d", adds, want)
		}
		from, err := Placement(old, s)
		if err != nil {
			t.Fatalf("Placement: %v", err)
		}
		diff, err := hashring.Diff(from, tg.Placement)
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		partitionAdds := 0
		for _, m := range moves {
			if m.Group == 0 {
				continue
			}
			if m.Add == "" || m.Remove == "" {
				t.Fatalf("%v: a partition of R replicas moves by swaps", m)
			}
			partitionAdds++
		}
		if partitionAdds != diff.Added {
			t.Fatalf("%d partition adds, the ring's Diff says %d", partitionAdds, diff.Added)
		}
	})
}
