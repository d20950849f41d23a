package hashring

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestPlaceErrors(t *testing.T) {
	three := names("n", 3)
	for _, tc := range []struct {
		name    string
		members []Member
		cfg     Config
		want    error
		mention string
	}{
		{"no partitions", three, Config{Partitions: 0, Replicas: 3}, ErrInvalidConfig, "partitions 0"},
		{"negative partitions", three, Config{Partitions: -1, Replicas: 3}, ErrInvalidConfig, "partitions -1"},
		{"no replicas", three, Config{Partitions: 8, Replicas: 0}, ErrInvalidConfig, "replicas 0"},
		{"more replicas than members", three, Config{Partitions: 8, Replicas: 4}, ErrTooFewMembers, "have 3"},
		{"no members", nil, Config{Partitions: 8, Replicas: 1}, ErrTooFewMembers, "have 0"},
		{"negative vnodes", three, Config{Partitions: 8, Replicas: 3, VNodes: -1}, ErrInvalidConfig, "vnodes -1"},
		{"load factor below 1", three, Config{Partitions: 8, Replicas: 3, LoadFactor: 0.9}, ErrInvalidConfig, "load factor 0.9"},
		{"load factor NaN", three, Config{Partitions: 8, Replicas: 3, LoadFactor: math.NaN()}, ErrInvalidConfig, "load factor NaN"},
		{"empty name", append(names("n", 3), Member{}), Config{Partitions: 8, Replicas: 3}, ErrInvalidMember, "empty name"},
		{"duplicate name", append(names("n", 3), Member{Name: "n1", Zone: "b"}), Config{Partitions: 8, Replicas: 3}, ErrInvalidMember, `"n1": duplicate`},
		{"negative capacity", append(names("n", 3), Member{Name: "x", Capacity: -1}), Config{Partitions: 8, Replicas: 3}, ErrInvalidMember, `"x": capacity -1`},
		{"capacity NaN", append(names("n", 3), Member{Name: "x", Capacity: math.NaN()}), Config{Partitions: 8, Replicas: 3}, ErrInvalidMember, `"x": capacity NaN`},
		{"capacity +Inf", append(names("n", 3), Member{Name: "x", Capacity: math.Inf(1)}), Config{Partitions: 8, Replicas: 3}, ErrInvalidMember, `"x": capacity +Inf`},
		{"capacity too small", append(names("n", 3), Member{Name: "x", Capacity: 1e-9}), Config{Partitions: 8, Replicas: 3}, ErrInvalidMember, `"x": capacity 1e-09`},
		{"ring too large", append(names("n", 3), Member{Name: "x", Capacity: 1e5}), Config{Partitions: 8, Replicas: 3}, ErrInvalidConfig, "ring points"},
		{"several problems at once", []Member{{Name: "a"}, {Name: "a"}}, Config{Partitions: 0, Replicas: 1}, ErrInvalidMember, "partitions 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl, err := Place(tc.members, tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Place = %v, %v; want an error wrapping %v", pl, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) || !strings.HasPrefix(err.Error(), "hashring: ") {
				t.Fatalf("error %q: want it prefixed hashring: and mentioning %q", err, tc.mention)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	// Zero VNodes and LoadFactor are the defaults, and +Inf is a plain ring.
	for _, c := range []Config{
		{Partitions: 1, Replicas: 1},
		{Partitions: 64, Replicas: 3, VNodes: 1, LoadFactor: 1},
		{Partitions: 64, Replicas: 3, LoadFactor: math.Inf(1)},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	err := Config{Partitions: 0, Replicas: 0, VNodes: -3, LoadFactor: -1}.Validate()
	if n := strings.Count(err.Error(), "hashring: invalid config"); n != 4 {
		t.Fatalf("want one error per field, got %d: %v", n, err)
	}
}

// zoned returns n members called prefix0.. with zones zones[i%len(zones)].
func zoned(prefix string, n int, zones ...string) []Member {
	ms := names(prefix, n)
	for i := range ms {
		ms[i].Zone = zones[i%len(zones)]
	}
	return ms
}

func TestPlace(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name    string
		members []Member
		cfg     Config
		// relaxed is the reason expected, 0 for none.
		relaxed Reason
		check   func(t *testing.T, pl *Placement)
	}{
		{
			name:    "N equals R: every node holds every partition",
			members: names("n", 3), cfg: Config{Partitions: 64, Replicas: 3},
			check: func(t *testing.T, pl *Placement) {
				for _, n := range pl.Nodes() {
					if n.Replicas != 64 || n.Cap != 64 {
						t.Errorf("%s: %d replicas, cap %d; want 64 and 64", n.Name, n.Replicas, n.Cap)
					}
				}
			},
		},
		{
			name:    "N equals R, uneven weights: caps raised for capacity",
			members: []Member{{Name: "a", Capacity: 1}, {Name: "b", Capacity: 1}, {Name: "c", Capacity: 4}},
			cfg:     Config{Partitions: 64, Replicas: 3}, relaxed: ReasonCapacity,
			check: func(t *testing.T, pl *Placement) {
				// a's share is 32, so its cap ⌈f·1.25·32⌉ must reach 64: f ≥ 1.6.
				if f := pl.Relaxation().Factor; f < 1.6 || f/RelaxStep >= 1.6 {
					t.Errorf("factor %v: want the first power of 17/16 at or above 1.6", f)
				}
			},
		},
		{
			name:    "one replica",
			members: names("n", 5), cfg: Config{Partitions: 100, Replicas: 1},
		},
		{
			name:    "one member",
			members: names("solo", 1), cfg: Config{Partitions: 16, Replicas: 1},
		},
		{
			name:    "many partitions on few nodes",
			members: names("n", 4), cfg: Config{Partitions: 4096, Replicas: 3},
		},
		{
			name:    "weighted",
			members: []Member{{Name: "small", Capacity: 0.5}, {Name: "a"}, {Name: "b"}, {Name: "big", Capacity: 2}, {Name: "c", Capacity: 1}},
			cfg:     Config{Partitions: 512, Replicas: 3},
			check: func(t *testing.T, pl *Placement) {
				small, _ := pl.Node("small")
				big, _ := pl.Node("big")
				if small.VNodes != 64 || big.VNodes != 256 {
					t.Errorf("vnodes %d and %d, want 64 and 256", small.VNodes, big.VNodes)
				}
				// Not 4 times: big's share, 512·3·2/5.5, is more than the
				// one replica per partition it can hold, and the light nodes'
				// caps hold them down.
				if big.Replicas < 2*small.Replicas || small.Replicas > small.Cap {
					t.Errorf("big carries %d, small %d (cap %d): want more than twice as much", big.Replicas, small.Replicas, small.Cap)
				}
			},
		},
		{
			name:    "three even zones: one replica in each",
			members: zoned("n", 9, "a", "b", "c"), cfg: Config{Partitions: 256, Replicas: 3},
		},
		{
			name:    "two zones for three replicas: two and one",
			members: zoned("n", 6, "a", "b"), cfg: Config{Partitions: 256, Replicas: 3},
			check: func(t *testing.T, pl *Placement) {
				for p := range 256 {
					zones := map[string]int{}
					for _, r := range pl.Replicas(p) {
						n, _ := pl.Node(r)
						zones[n.Zone]++
					}
					if len(zones) != 2 {
						t.Fatalf("partition %d: zones %v, want both", p, zones)
					}
				}
			},
		},
		{
			name: "a zone of one node: it carries every partition",
			// Zone a's only node must hold a replica of each of the 64
			// partitions, three times its share of 64·3/7.
			members: []Member{{Name: "a1", Zone: "a"}, {Name: "b1", Zone: "b"}, {Name: "b2", Zone: "b"}, {Name: "b3", Zone: "b"},
				{Name: "c1", Zone: "c"}, {Name: "c2", Zone: "c"}, {Name: "c3", Zone: "c"}},
			cfg: Config{Partitions: 64, Replicas: 3}, relaxed: ReasonZones,
			check: func(t *testing.T, pl *Placement) {
				if a1, _ := pl.Node("a1"); a1.Replicas != 64 {
					t.Errorf("a1 carries %d, want 64", a1.Replicas)
				}
			},
		},
		{
			name: "fewer zones than replicas, one small zone",
			// Every partition needs one replica in zone a (its one node)
			// before zone b gets a second.
			members: []Member{{Name: "a1", Zone: "a"}, {Name: "b1", Zone: "b"}, {Name: "b2", Zone: "b"}, {Name: "b3", Zone: "b"}, {Name: "b4", Zone: "b"}},
			cfg:     Config{Partitions: 64, Replicas: 3}, relaxed: ReasonZones,
		},
		{
			name: "a zone runs out of members",
			// Zone a has one member, so the other two replicas go to b.
			members: []Member{{Name: "a1", Zone: "a"}, {Name: "b1", Zone: "b"}, {Name: "b2", Zone: "b"}},
			cfg:     Config{Partitions: 32, Replicas: 3},
		},
		{
			name:    "members without a zone are the zone \"\"",
			members: append(zoned("z", 4, "a", "b"), names("none", 2)...),
			cfg:     Config{Partitions: 128, Replicas: 3},
		},
		{
			name:    "plain ring: the first R successors",
			members: names("n", 7), cfg: Config{Partitions: 128, Replicas: 3, LoadFactor: inf},
			check: func(t *testing.T, pl *Placement) {
				for p := range 128 {
					var want []string
					for s := range pl.Ring().Successors(PartitionHash(p)) {
						if want = append(want, s); len(want) == 3 {
							break
						}
					}
					var got []string
					for _, n := range pl.chosen[p*3 : (p+1)*3] {
						got = append(got, pl.nodes[n].Name)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("partition %d: chose %v, want %v", p, got, want)
					}
				}
			},
		},
		{
			name:    "plain ring with zones",
			members: zoned("n", 7, "a", "b", "c"), cfg: Config{Partitions: 128, Replicas: 3, LoadFactor: inf},
		},
		{
			// The caps, 300 each, add up to exactly R·P: no slack, and the
			// greedy pass runs out of room before the last partitions.
			name:    "load factor 1: caps at the share, raised",
			members: names("n", 10), cfg: Config{Partitions: 1000, Replicas: 3, LoadFactor: 1},
			relaxed: ReasonCapacity,
			check: func(t *testing.T, pl *Placement) {
				want := int(math.Ceil(pl.Relaxation().Factor * 300))
				for _, n := range pl.Nodes() {
					if n.Share != 300 || n.Cap != want {
						t.Errorf("%s: share %v, cap %d; want 300 and %d", n.Name, n.Share, n.Cap, want)
					}
				}
			},
		},
		{
			name:    "one vnode each",
			members: zoned("n", 12, "a", "b", "c", "d"), cfg: Config{Partitions: 256, Replicas: 3, VNodes: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl, err := Place(tc.members, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkPlacement(t, tc.members, tc.cfg, pl)
			if rx := pl.Relaxation(); rx.Reason != tc.relaxed {
				t.Errorf("relaxation %v, want reason %v", rx, tc.relaxed)
			}
			if tc.check != nil {
				tc.check(t, pl)
			}
			shuffled := slices.Clone(tc.members)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			again, err := Place(shuffled, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkSame(t, pl, again)
		})
	}
}

func TestPlaceDoesNotKeepMembers(t *testing.T) {
	ms := names("n", 4)
	pl, err := Place(ms, Config{Partitions: 8, Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	before := pl.Replicas(0)
	for i := range ms {
		ms[i].Name = "changed"
	}
	pl.Replicas(0)[0] = "scribbled"
	pl.Nodes()[0].Name = "scribbled"
	if got := pl.Replicas(0); !slices.Equal(got, before) || pl.Nodes()[0].Name != "n0" {
		t.Fatalf("placement changed with its caller's slices: %v, %v", got, pl.Nodes()[0])
	}
}

func TestReplicasPanicsOutOfRange(t *testing.T) {
	pl, err := Place(names("n", 3), Config{Partitions: 8, Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{-1, 8} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Replicas(%d) did not panic", p)
				}
			}()
			pl.Replicas(p)
		}()
	}
	if _, ok := pl.Node("nobody"); ok {
		t.Error("Node(nobody) found")
	}
}

func TestReasonString(t *testing.T) {
	for r, want := range map[Reason]string{
		0: "none", ReasonCapacity: "capacity", ReasonZones: "zones",
		ReasonCapacity | ReasonZones: "capacity+zones", 0x80: "Reason(0x80)",
	} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%#x) = %q, want %q", uint8(r), got, want)
		}
	}
}

func TestDiff(t *testing.T) {
	cfg := Config{Partitions: 64, Replicas: 3}
	four, err := Place(names("n", 4), cfg)
	if err != nil {
		t.Fatal(err)
	}
	five, err := Place(names("n", 5), cfg)
	if err != nil {
		t.Fatal(err)
	}
	mv, err := Diff(four, five)
	if err != nil {
		t.Fatal(err)
	}
	added, removed, leaders := 0, 0, 0
	for _, c := range mv.Changes {
		a, b := four.Replicas(c.Partition), five.Replicas(c.Partition)
		for _, n := range c.Added {
			if slices.Contains(a, n) || !slices.Contains(b, n) {
				t.Fatalf("partition %d: %v → %v, added %v", c.Partition, a, b, c.Added)
			}
		}
		for _, n := range c.Removed {
			if !slices.Contains(a, n) || slices.Contains(b, n) {
				t.Fatalf("partition %d: %v → %v, removed %v", c.Partition, a, b, c.Removed)
			}
		}
		if c.Leader != (a[0] != b[0]) {
			t.Fatalf("partition %d: %v → %v, leader changed %v", c.Partition, a, b, c.Leader)
		}
		added += len(c.Added)
		removed += len(c.Removed)
		if c.Leader {
			leaders++
		}
	}
	changed := map[int]bool{}
	for _, c := range mv.Changes {
		changed[c.Partition] = true
	}
	for p := range 64 {
		a, b := four.Replicas(p), five.Replicas(p)
		slices.Sort(a)
		slices.Sort(b)
		if !changed[p] && (!slices.Equal(a, b) || four.Leader(p) != five.Leader(p)) {
			t.Fatalf("partition %d changed but is not listed", p)
		}
	}
	n4, _ := five.Node("n4")
	if added != mv.Added || removed != mv.Removed || leaders != mv.LeaderChanges || mv.Added != mv.Removed ||
		mv.Replicas != 192 || mv.Added < n4.Replicas {
		t.Fatalf("movement %+v: counted %d added, %d removed, %d leaders; joiner holds %d", mv, added, removed, leaders, n4.Replicas)
	}
	if f := mv.Fraction(); f != float64(mv.Added)/192 {
		t.Fatalf("fraction %v", f)
	}

	same, err := Diff(five, five)
	if err != nil || len(same.Changes) != 0 || same.Added != 0 {
		t.Fatalf("Diff with itself = %+v, %v", same, err)
	}
	other, err := Place(names("n", 5), Config{Partitions: 65, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Diff(five, other); !errors.Is(err, ErrPartitionsDiffer) {
		t.Fatalf("Diff of P=64 and P=65: %v, want ErrPartitionsDiffer", err)
	}
}
