package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestParseNemesis(t *testing.T) {
	tests := []struct {
		in     string
		kinds  string
		shapes string
		canon  string
	}{
		{"", "", "", "none"},
		{"none", "", "", "none"},
		{"kill", "kill", "", "kill"},
		{"partition,kill", "kill,partition", "isolate,split,ring,bridge", "kill,partition"},
		{" Kill , PAUSE ", "kill,pause", "", "kill,pause"},
		{"partition-ring,partition-bridge", "partition", "ring,bridge", "partition-ring,partition-bridge"},
		{"partition-ring,partition", "partition", "isolate,split,ring,bridge", "partition"},
		{"all", "kill,pause,partition,leader,clock,disk", "isolate,split,ring,bridge", "kill,pause,partition,leader,clock,disk"},
		{"kill,kill,leader", "kill,leader", "", "kill,leader"},
		{"membership", "membership", "", "membership"},
		{"membership,kill", "kill,membership", "", "kill,membership"},
		{"all,membership", "kill,pause,partition,leader,clock,disk,membership", "isolate,split,ring,bridge", "kill,pause,partition,leader,clock,disk,membership"},
	}
	for _, tt := range tests {
		n, err := ParseNemesis(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		kinds := make([]string, len(n.Kinds))
		for i, k := range n.Kinds {
			kinds[i] = string(k)
		}
		shapes := make([]string, len(n.Shapes))
		for i, s := range n.Shapes {
			shapes[i] = string(s)
		}
		if got := strings.Join(kinds, ","); got != tt.kinds {
			t.Errorf("%q: kinds %s, want %s", tt.in, got, tt.kinds)
		}
		if got := strings.Join(shapes, ","); got != tt.shapes {
			t.Errorf("%q: shapes %s, want %s", tt.in, got, tt.shapes)
		}
		if n.String() != tt.canon {
			t.Errorf("%q: String %s, want %s", tt.in, n.String(), tt.canon)
		}
		if back, err := ParseNemesis(n.String()); err != nil || !reflect.DeepEqual(back, n) {
			t.Errorf("%q: String does not parse back: %v %+v", tt.in, err, back)
		}
	}
	all, _ := ParseNemesis("all")
	if slices.Contains(all.Kinds, Membership) {
		t.Errorf("all includes membership: %v", all.Kinds)
	}
	for _, bad := range []string{"kil", "kill,explode", "partition-square", "leader," + "dns", "join", "drain"} {
		_, err := ParseNemesis(bad)
		if !errors.Is(err, ErrNemesis) {
			t.Errorf("%q: err %v, want ErrNemesis", bad, err)
			continue
		}
		if !strings.Contains(err.Error(), "want") {
			t.Errorf("%q: error %q does not say what is accepted", bad, err)
		}
	}
}

var fiveNodes = []string{"n1", "n2", "n3", "n4", "n5"}

func TestGenerateScheduleDeterministic(t *testing.T) {
	all, _ := ParseNemesis("all,membership")
	cfg := ScheduleConfig{Seed: 42, Duration: 2 * time.Minute, Nodes: fiveNodes, Nemesis: all}
	a, err := GenerateSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The order of the node names does not matter.
	cfg.Nodes = []string{"n5", "n3", "n1", "n4", "n2"}
	b, err := GenerateSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different schedules:\n%v\n%v", a, b)
	}
	cfg.Seed = 43
	c, err := GenerateSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.Steps, c.Steps) {
		t.Error("seeds 42 and 43 gave the same schedule")
	}
	if _, err := json.Marshal(a); err != nil {
		t.Error(err)
	}
	t.Logf("%v", a)
}

func TestGenerateScheduleShape(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 9).Draw(t, "nodes")
		var nodes []string
		for i := range n {
			nodes = append(nodes, fmt.Sprintf("n%d", i+1))
		}
		kinds := rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"kill", "pause", "partition", "leader", "clock", "disk", "membership"}), 1, 7, rapid.ID).Draw(t, "kinds")
		nem, err := ParseNemesis(strings.Join(kinds, ","))
		if err != nil {
			t.Fatal(err)
		}
		dur := time.Duration(rapid.IntRange(1, 600).Draw(t, "seconds")) * time.Second
		s, err := GenerateSchedule(ScheduleConfig{Seed: rapid.Int64().Draw(t, "seed"), Duration: dur, Nodes: nodes, Nemesis: nem})
		if n < 2 && slices.Contains(nem.Kinds, Partition) {
			if err == nil {
				t.Fatal("a partition of one node was accepted")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Steps)%2 != 0 {
			t.Fatalf("%d steps: faults and heals must pair up", len(s.Steps))
		}
		if dur >= 10*time.Second && len(s.Steps) == 0 {
			t.Fatalf("no fault in %v", dur)
		}
		var prev time.Duration
		for i, st := range s.Steps {
			if st.Heal != (i%2 == 1) {
				t.Fatalf("step %d (%v): faults and heals must alternate", i, st)
			}
			if st.At <= prev || st.At > dur {
				t.Fatalf("step %d at %v: after %v and within %v", i, st.At, prev, dur)
			}
			prev = st.At
			if st.Heal {
				if st.Kind != s.Steps[i-1].Kind || st.Action != s.Steps[i-1].Action {
					t.Fatalf("step %d heals %s/%s after a %s/%s fault", i, st.Kind, st.Action, s.Steps[i-1].Kind, s.Steps[i-1].Action)
				}
				continue
			}
			if !slices.Contains(nem.Kinds, st.Kind) {
				t.Fatalf("step %d: kind %s not asked for", i, st.Kind)
			}
			checkStep(t, st, nodes)
		}
	})
}

// checkStep checks a fault step's shape. nodes are the founders; a step
// over a cluster that grew may hit up to two more.
func checkStep(t *rapid.T, st Step, nodes []string) {
	switch st.Kind {
	case Leader:
		if !st.TargetsLeader() || len(st.Nodes) != 0 || st.Cut != nil {
			t.Fatalf("leader step names its target: %+v", st)
		}
		if st.Action != Kill && st.Action != Pause && st.Action != Partition {
			t.Fatalf("leader step action %s", st.Action)
		}
	case Partition:
		if st.Cut == nil || len(st.Cut.Links) == 0 {
			t.Fatalf("partition step cuts nothing: %+v", st)
		}
	case Kill, Pause:
		if len(st.Nodes) == 0 || len(st.Nodes) > (len(nodes)+2)/2+1 {
			t.Fatalf("%s of %v", st.Kind, st.Nodes)
		}
	case Clock:
		if len(st.Nodes) != 1 || st.ClockOffset == 0 {
			t.Fatalf("clock step %+v", st)
		}
	case Disk:
		if len(st.Nodes) != 1 || (st.Disk != DiskFull && st.Disk != DiskFail) {
			t.Fatalf("disk step %+v", st)
		}
	case Membership:
		if st.Member == "" || len(st.Nodes) != 0 || st.Cut != nil || (st.Change != Join && st.Change != Drain) {
			t.Fatalf("membership step %+v", st)
		}
		if st.Action != st.Change && st.Action != Kill {
			t.Fatalf("membership step action %s, change %s", st.Action, st.Change)
		}
		return
	}
	if st.Member != "" || st.Change != "" {
		t.Fatalf("a %s step names a membership change: %+v", st.Kind, st)
	}
	if st.Kind != Leader && st.Action != st.Kind {
		t.Fatalf("action %s for kind %s", st.Action, st.Kind)
	}
}

// Membership steps follow the cluster they change: joins take fresh names,
// drains take a node in the cluster and leave at least R (and at least R+1
// when a founder goes, which only happens when no joined node is left),
// the cluster grows by at most two nodes, and every other fault hits only
// nodes in the cluster at its time.
func TestGenerateScheduleMembership(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 7).Draw(t, "nodes")
		var founders []string
		for i := range n {
			founders = append(founders, fmt.Sprintf("n%d", i+1))
		}
		spec := rapid.SampledFrom([]string{"membership", "all,membership", "kill,membership"}).Draw(t, "nemesis")
		if n < 2 && spec == "all,membership" {
			spec = "kill,membership"
		}
		nem, err := ParseNemesis(spec)
		if err != nil {
			t.Fatal(err)
		}
		replicas := min(3, n)
		s, err := GenerateSchedule(ScheduleConfig{Seed: rapid.Int64().Draw(t, "seed"), Nodes: founders, Nemesis: nem,
			Duration: time.Duration(rapid.IntRange(10, 900).Draw(t, "seconds")) * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		live := slices.Clone(founders)
		used := map[string]bool{}
		for _, f := range founders {
			used[f] = true
		}
		joined := 0 // joined nodes in the cluster
		for i, st := range s.Steps {
			if st.Heal {
				continue
			}
			checkStep(t, st, founders)
			var hit []string
			hit = append(hit, st.Nodes...)
			if st.Cut != nil {
				for _, l := range st.Cut.Links {
					hit = append(hit, l.From, l.To)
				}
			}
			for _, h := range hit {
				if !slices.Contains(live, h) {
					t.Fatalf("step %d (%v) hits %s, not in the cluster %v", i, st, h, live)
				}
			}
			if st.Kind != Membership {
				continue
			}
			switch st.Change {
			case Join:
				if used[st.Member] {
					t.Fatalf("step %d (%v): the name %s is used already", i, st, st.Member)
				}
				used[st.Member] = true
				live = append(live, st.Member)
				joined++
				if len(live) > n+2 {
					t.Fatalf("step %d (%v): the cluster grew to %v", i, st, live)
				}
			case Drain:
				if !slices.Contains(live, st.Member) {
					t.Fatalf("step %d (%v): drains %s, not in the cluster %v", i, st, st.Member, live)
				}
				live = slices.DeleteFunc(live, func(x string) bool { return x == st.Member })
				founder := slices.Contains(founders, st.Member)
				if founder && joined > 0 {
					t.Fatalf("step %d (%v): drains founder %s while %d joined nodes are in the cluster", i, st, st.Member, joined)
				}
				if !founder {
					joined--
				}
				if len(live) < replicas || (founder && len(live) < replicas+1) {
					t.Fatalf("step %d (%v): leaves %v with R = %d", i, st, live, replicas)
				}
			}
		}
	})
}

// The three membership actions all turn up, in a schedule of any length
// that has room for them.
func TestGenerateScheduleMembershipActions(t *testing.T) {
	nem, _ := ParseNemesis("membership")
	for _, nodes := range [][]string{{"n1", "n2", "n3"}, fiveNodes} {
		s, err := GenerateSchedule(ScheduleConfig{Seed: 7, Duration: 10 * time.Minute, Nodes: nodes, Nemesis: nem})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, st := range s.Steps {
			if !st.Heal {
				seen[string(st.Action)+"/"+string(st.Change)]++
			}
		}
		for _, k := range []string{"join/join", "drain/drain", "kill/join", "kill/drain"} {
			if seen[k] == 0 {
				t.Errorf("%d nodes: no %s step in %v", len(nodes), k, s)
			}
		}
		f := s.Steps[0].Fault(1, 2)
		if f.Kind != Membership || f.Node != s.Steps[0].Member && s.Steps[0].Action != Kill || f.Detail == "" {
			t.Errorf("fault %+v of step %v", f, s.Steps[0])
		}
	}
}

func TestGenerateScheduleEdges(t *testing.T) {
	none, _ := ParseNemesis("none")
	s, err := GenerateSchedule(ScheduleConfig{Seed: 1, Duration: time.Minute, Nodes: fiveNodes, Nemesis: none})
	if err != nil || len(s.Steps) != 0 {
		t.Errorf("no nemesis: %v %v", s, err)
	}
	kill, _ := ParseNemesis("kill")
	for name, cfg := range map[string]ScheduleConfig{
		"no duration":       {Nodes: fiveNodes, Nemesis: kill},
		"no nodes":          {Duration: time.Minute, Nemesis: kill},
		"duplicate node":    {Duration: time.Minute, Nodes: []string{"a", "a"}, Nemesis: kill},
		"ring of two":       {Duration: time.Minute, Nodes: []string{"a", "b"}, Nemesis: Nemesis{Kinds: []FaultKind{Partition}, Shapes: []Shape{ShapeRing}}},
		"unknown kind":      {Duration: time.Minute, Nodes: fiveNodes, Nemesis: Nemesis{Kinds: []FaultKind{"meteor"}}},
		"inverted lengths":  {Duration: time.Minute, Nodes: fiveNodes, Nemesis: kill, FaultMin: time.Second, FaultMax: time.Millisecond},
		"too many replicas": {Duration: time.Minute, Nodes: fiveNodes, Nemesis: kill, Replicas: 6},
	} {
		if _, err := GenerateSchedule(cfg); !errors.Is(err, ErrNemesis) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	// A two-node cluster with every partition shape asked for only isolates.
	all, _ := ParseNemesis("partition")
	s, err = GenerateSchedule(ScheduleConfig{Seed: 3, Duration: 5 * time.Minute, Nodes: []string{"a", "b"}, Nemesis: all})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range s.Steps {
		if !st.Heal && st.Cut.Shape != ShapeIsolate {
			t.Errorf("shape %s on two nodes", st.Cut.Shape)
		}
	}
	// Explicit lengths are honoured.
	s, err = GenerateSchedule(ScheduleConfig{Seed: 3, Duration: time.Minute, Nodes: fiveNodes, Nemesis: kill,
		FaultMin: 2 * time.Second, FaultMax: 2 * time.Second, HealMin: time.Second, HealMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Steps) != 40 || s.Steps[0].At != time.Second || s.Steps[1].At != 3*time.Second || s.Steps[39].At != 60*time.Second {
		t.Errorf("fixed lengths: %v", s)
	}
	f := s.Steps[0].Fault(100, 200)
	if f.Kind != Kill || f.Node == "" || f.Start != 100 || f.End != 200 || !strings.HasPrefix(f.Detail, "kill ") {
		t.Errorf("fault %+v", f)
	}
}

func TestMakeCut(t *testing.T) {
	for n := 2; n <= 12; n++ {
		var nodes []string
		for i := range n {
			nodes = append(nodes, fmt.Sprintf("n%02d", i))
		}
		for seed := range uint64(20) {
			rng := rand.New(rand.NewPCG(seed, 1))
			for _, shape := range allShapes {
				c, err := MakeCut(shape, nodes, rng)
				if n < shape.minNodes() {
					if err == nil {
						t.Errorf("%s of %d nodes accepted", shape, n)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s of %d: %v", shape, n, err)
				}
				checkCut(t, c, nodes)
			}
		}
	}
}

func checkCut(t *testing.T, c Cut, nodes []string) {
	t.Helper()
	n := len(nodes)
	majority := n/2 + 1
	if !slices.IsSortedFunc(c.Links, func(a, b Link) int { return strings.Compare(a.From+"\x00"+a.To, b.From+"\x00"+b.To) }) {
		t.Fatalf("%v: links not sorted", c)
	}
	for _, l := range c.Links {
		if l.From == l.To || !slices.Contains(nodes, l.From) || !slices.Contains(nodes, l.To) {
			t.Fatalf("%v: bad link %v", c, l)
		}
		if !c.Blocked(l.To, l.From) {
			t.Fatalf("%v: %v cut one way only", c, l)
		}
	}
	reach := c.Reach(nodes)
	connected := func(a, b string) bool { return a == b || !c.Blocked(a, b) }
	switch c.Shape {
	case ShapeIsolate:
		victim := c.Groups[1]
		if len(victim) != 1 || len(reach[victim[0]]) != 1 || len(c.Links) != 2*(n-1) {
			t.Fatalf("%v: isolates %v, which reaches %v", c, victim, reach[victim[0]])
		}
	case ShapeSplit:
		big, small := c.Groups[0], c.Groups[1]
		if len(big) != majority || len(small) != n-majority || len(small) == 0 {
			t.Fatalf("%v: sides %d and %d of %d", c, len(big), len(small), n)
		}
		for _, a := range big {
			for _, b := range small {
				if connected(a, b) {
					t.Fatalf("%v: %s and %s connected across the split", c, a, b)
				}
			}
			if !slices.Equal(reach[a], sorted(big)) {
				t.Fatalf("%v: %s reaches %v", c, a, reach[a])
			}
		}
	case ShapeBridge:
		left, bridge, right := c.Groups[0], c.Groups[1], c.Groups[2]
		if len(bridge) != 1 || len(left)+len(right)+1 != n || len(left) == 0 || len(right) == 0 {
			t.Fatalf("%v: groups", c)
		}
		if len(reach[bridge[0]]) != n {
			t.Fatalf("%v: the bridge %s reaches only %v", c, bridge[0], reach[bridge[0]])
		}
		for _, a := range left {
			for _, b := range right {
				if connected(a, b) {
					t.Fatalf("%v: %s and %s connected across the bridge", c, a, b)
				}
			}
		}
		if n%2 == 1 {
			for _, a := range append(slices.Clone(left), right...) {
				if len(reach[a]) < majority {
					t.Fatalf("%v: %s sees %v, no majority", c, a, reach[a])
				}
			}
		}
	case ShapeRing:
		seen := make(map[string]string)
		for _, a := range nodes {
			if len(reach[a]) < majority {
				t.Fatalf("%v: %s sees %v, no majority of %d", c, a, reach[a], n)
			}
			for _, b := range reach[a] {
				if !connected(b, a) {
					t.Fatalf("%v: %s reaches %s but not back", c, a, b)
				}
			}
			key := strings.Join(reach[a], ",")
			if other, dup := seen[key]; dup {
				t.Fatalf("%v: %s and %s see the same majority %s", c, a, other, key)
			}
			seen[key] = a
		}
		if len(c.Links) == 0 {
			t.Fatalf("ring of %d cuts nothing", n)
		}
	}
}

func TestIsolate(t *testing.T) {
	c := Isolate(fiveNodes, "n3")
	if !c.Blocked("n3", "n1") || !c.Blocked("n1", "n3") || c.Blocked("n1", "n2") || len(c.Links) != 8 {
		t.Errorf("%v %v", c, c.Links)
	}
	if c.String() != "isolate n1,n2,n4,n5 | n3" {
		t.Errorf("String %q", c.String())
	}
}

func TestMakeCutErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	if _, err := MakeCut("square", fiveNodes, rng); !errors.Is(err, ErrNemesis) {
		t.Errorf("unknown shape: %v", err)
	}
	if _, err := MakeCut(ShapeSplit, []string{"a", ""}, rng); !errors.Is(err, ErrNemesis) {
		t.Errorf("empty name: %v", err)
	}
}
