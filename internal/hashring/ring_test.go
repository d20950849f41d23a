package hashring

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestRingPoints(t *testing.T) {
	for _, tc := range []struct {
		name     string
		vnodes   int
		capacity float64
		want     int
	}{
		{"default vnodes, capacity 1", 0, 1, 128},
		{"zero capacity is 1", 128, 0, 128},
		{"half", 128, 0.5, 64},
		{"two and a half", 128, 2.5, 320},
		{"rounds half away from zero", 3, 0.5, 2},
		{"at least one", 128, 0.001, 1},
		{"one vnode", 1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRing([]Member{{Name: "a", Capacity: tc.capacity}, {Name: "b"}}, tc.vnodes)
			if err != nil {
				t.Fatal(err)
			}
			v := tc.vnodes
			if v == 0 {
				v = DefaultVNodes
			}
			if got := r.Points(); got != tc.want+v {
				t.Fatalf("%d points, want %d + %d", got, tc.want, v)
			}
		})
	}
}

func TestNewRingErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []Member
		vnodes  int
		want    error
	}{
		{"no members", nil, 128, ErrInvalidMember},
		{"empty name", []Member{{Name: ""}}, 128, ErrInvalidMember},
		{"duplicate", []Member{{Name: "a"}, {Name: "a"}}, 128, ErrInvalidMember},
		{"negative capacity", []Member{{Name: "a", Capacity: -2}}, 128, ErrInvalidMember},
		{"negative vnodes", []Member{{Name: "a"}}, -1, ErrInvalidConfig},
		{"too many points", []Member{{Name: "a", Capacity: 1e6}}, 128, ErrInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewRing(tc.members, tc.vnodes); !errors.Is(err, tc.want) {
				t.Fatalf("NewRing: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestLookup checks Lookup against the ring as the package documentation
// defines it, computed by brute force from VNodeHash.
func TestLookup(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 8).Draw(t, "members")
		v := rapid.IntRange(1, 16).Draw(t, "vnodes")
		ms := rapid.SliceOfNDistinct(rapid.StringMatching(`[a-z]{1,6}`), n, n, rapid.ID).Draw(t, "names")
		members := make([]Member, n)
		for i, name := range ms {
			members[i] = Member{Name: name, Capacity: rapid.SampledFrom([]float64{0, 0.5, 1, 2}).Draw(t, "capacity")}
		}
		r, err := NewRing(members, v)
		if err != nil {
			t.Fatal(err)
		}
		type pt struct {
			h    uint64
			name string
		}
		var pts []pt
		for _, m := range members {
			c := m.Capacity
			if c == 0 {
				c = 1
			}
			for j := range max(1, int(math.Round(float64(v)*c))) {
				pts = append(pts, pt{VNodeHash(m.Name, j), m.Name})
			}
		}
		slices.SortFunc(pts, func(a, b pt) int {
			if a.h != b.h {
				return cmp.Compare(a.h, b.h)
			}
			return strings.Compare(a.name, b.name)
		})
		if r.Points() != len(pts) {
			t.Fatalf("%d points, want %d", r.Points(), len(pts))
		}
		hs := []uint64{0, math.MaxUint64, pts[0].h, pts[len(pts)-1].h, pts[len(pts)-1].h + 1}
		hs = append(hs, rapid.SliceOfN(rapid.Uint64(), 1, 20).Draw(t, "hashes")...)
		for _, h := range hs {
			want := pts[0].name // wrap
			for _, p := range pts {
				if p.h >= h {
					want = p.name
					break
				}
			}
			if got := r.Lookup(h); got != want {
				t.Fatalf("Lookup(%#x) = %q, want %q", h, got, want)
			}
			var succ []string
			for s := range r.Successors(h) {
				succ = append(succ, s)
			}
			if len(succ) != n || succ[0] != want {
				t.Fatalf("Successors(%#x) = %v: want all %d members, %q first", h, succ, n, want)
			}
			seen := map[string]bool{}
			for _, s := range succ {
				if seen[s] {
					t.Fatalf("Successors(%#x) = %v: %q twice", h, succ, s)
				}
				seen[s] = true
			}
		}
	})
}

func TestRingOrderDoesNotMatter(t *testing.T) {
	a, err := NewRing([]Member{{Name: "x"}, {Name: "y", Capacity: 2}, {Name: "z", Zone: "q"}}, 32)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewRing([]Member{{Name: "z", Zone: "q"}, {Name: "x"}, {Name: "y", Capacity: 2}}, 32)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.hashes, b.hashes) || !slices.Equal(a.owners, b.owners) || !slices.Equal(a.Members(), b.Members()) {
		t.Fatal("rings differ with the order of members")
	}
}

// TestRingBalance: with the default 128 vnodes, each of 10 nodes owns
// within 25% of a tenth of the ring. (Fixed names, so this is a fixed
// number, not a flaky statistic.)
func TestRingBalance(t *testing.T) {
	r, err := NewRing(names("node-", 10), 0)
	if err != nil {
		t.Fatal(err)
	}
	arc := make(map[string]float64)
	for i, h := range r.hashes {
		prev := r.hashes[(i+len(r.hashes)-1)%len(r.hashes)]
		arc[r.members[r.owners[i]].Name] += float64(h-prev) / math.Exp2(64) // wraps mod 2^64
	}
	for name, a := range arc {
		if a < 0.075 || a > 0.125 {
			t.Errorf("%s owns %.3f of the ring, want 0.1 ± 25%%", name, a)
		}
	}
}

func TestEarlyStop(t *testing.T) {
	r, err := NewRing(names("n", 5), 8)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for range r.Successors(12345) {
		if got++; got == 2 {
			break
		}
	}
	if got != 2 {
		t.Fatalf("iterated %d", got)
	}
}
