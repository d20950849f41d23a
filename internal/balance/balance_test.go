package balance

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string // %T of the policy
	}{
		{"random", "*balance.Random"},
		{"round-robin", "*balance.RoundRobin"},
		{"weighted-round-robin", "*balance.WeightedRoundRobin"},
		{"least-outstanding", "*balance.LeastOutstanding"},
		{"p2c", "*balance.P2C"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.name, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%T", p); got != tc.want {
				t.Errorf("New(%q) is a %s, want %s", tc.name, got, tc.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		opts   Options
		want   []string // in the error
	}{
		{"unknown name", "least-connections", Options{}, append([]string{`"least-connections"`}, Names()...)},
		{"empty name", "", Options{}, Names()},
		{"negative half-life", "p2c", Options{HalfLife: -1}, []string{"Options.HalfLife"}},
		{"negative error penalty", "p2c", Options{ErrorPenalty: -1}, []string{"Options.ErrorPenalty"}},
		{"zero weight", "weighted-round-robin", Options{Weights: map[string]int{"a": 0}}, []string{"Options.Weights", `"a"`}},
		{"huge weight", "weighted-round-robin", Options{Weights: map[string]int{"b": MaxWeight + 1}}, []string{"Options.Weights", `"b"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.policy, tc.opts)
			if err == nil {
				t.Fatalf("New(%q, %+v) = %T, want an error", tc.policy, tc.opts, p)
			}
			if !strings.HasPrefix(err.Error(), "balance: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
	if _, err := New("nope", Options{}); !errors.Is(err, ErrUnknownPolicy) {
		t.Errorf("New(unknown): %v, want ErrUnknownPolicy", err)
	}
}

func TestNames(t *testing.T) {
	want := []string{"random", "round-robin", "weighted-round-robin", "least-outstanding", "p2c"}
	got := Names()
	if !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if Names()[0] != "random" {
		t.Error("Names returns a slice its caller can change under other callers")
	}
}

func TestEmptyCandidates(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p := newPolicy(t, name, seeded(1))
			for _, c := range [][]string{nil, {}} {
				pk, ok := p.Pick(c)
				if ok || pk != (Pick{}) {
					t.Errorf("Pick(%#v) = %+v, %v; want the zero Pick, false", c, pk, ok)
				}
				pk.Done(0, nil) // does nothing
			}
		})
	}
}

func TestOneCandidate(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p := newPolicy(t, name, seeded(1))
			for _, got := range picks(t, p, []string{"only"}, 5) {
				if got != "only" {
					t.Fatalf("picked %q from [only]", got)
				}
			}
		})
	}
}

// A pick's Index and Name agree, with duplicate names too.
func TestPickIndexAndName(t *testing.T) {
	candidates := []string{"a", "b", "a", "c"}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p := newPolicy(t, name, seeded(2))
			for range 50 {
				pk, ok := p.Pick(candidates)
				if !ok || pk.Index < 0 || pk.Index >= len(candidates) || candidates[pk.Index] != pk.Name {
					t.Fatalf("Pick(%q) = %+v, %v", candidates, pk, ok)
				}
				pk.Done(0, nil)
			}
		})
	}
}

func TestRandomUniform(t *testing.T) {
	candidates := []string{"a", "b", "c", "d", "e"}
	const n = 50000
	count := map[string]int{}
	for _, name := range picks(t, NewRandom(seeded(7)), candidates, n) {
		count[name]++
	}
	// Pearson's chi-squared with 4 degrees of freedom; 18.47 is its 0.999
	// quantile. The seed is fixed, so this is deterministic.
	expect := float64(n) / float64(len(candidates))
	var chi2 float64
	for _, c := range candidates {
		d := float64(count[c]) - expect
		chi2 += d * d / expect
	}
	if chi2 > 18.47 {
		t.Errorf("counts %v are not uniform: chi² = %.1f", count, chi2)
	}
}

func TestRandomSeeded(t *testing.T) {
	candidates := []string{"a", "b", "c", "d"}
	one := picks(t, NewRandom(seeded(3)), candidates, 100)
	same := picks(t, NewRandom(seeded(3)), candidates, 100)
	other := picks(t, NewRandom(seeded(4)), candidates, 100)
	if !slices.Equal(one, same) {
		t.Error("two policies seeded alike picked differently")
	}
	if slices.Equal(one, other) {
		t.Error("two policies seeded differently picked alike")
	}
}

func TestRoundRobinCycle(t *testing.T) {
	candidates := []string{"a", "b", "c", "d"}
	for seed := range uint64(4) {
		p := NewRoundRobin(seeded(seed))
		var prev int
		for k := range 3 * len(candidates) {
			pk, _ := p.Pick(candidates)
			if k > 0 && pk.Index != (prev+1)%len(candidates) {
				t.Fatalf("seed %d: pick %d is %d after %d, want the next in turn", seed, k, pk.Index, prev)
			}
			prev = pk.Index
			pk.Done(0, nil)
		}
	}
}

// Different seeds start the rotation in different places, so that clients
// do not all start on the first node.
func TestRoundRobinStart(t *testing.T) {
	candidates := []string{"a", "b", "c", "d"}
	first := map[string]bool{}
	for seed := range uint64(32) {
		first[picks(t, NewRoundRobin(seeded(seed)), candidates, 1)[0]] = true
	}
	if len(first) < 3 {
		t.Errorf("32 seeds started on only %d candidates", len(first))
	}
}

func TestWeightedRoundRobinSequence(t *testing.T) {
	for _, tc := range []struct {
		name       string
		weights    map[string]int
		candidates []string
		want       string // one letter per pick
	}{
		// nginx's "Upstream: smooth weighted round-robin balancing": weights
		// { 5, 1, 1 } give { a, a, b, a, c, a, a }.
		{"nginx 5 1 1", map[string]int{"a": 5, "b": 1, "c": 1}, []string{"a", "b", "c"}, "aabacaa" + "aabacaa"},
		{"equal weights", nil, []string{"a", "b", "c"}, "abcabc"},
		{"2 1", map[string]int{"a": 2}, []string{"a", "b"}, "aba" + "aba"},
		{"1 3", map[string]int{"b": 3}, []string{"a", "b"}, "babb" + "babb"},
		{"weight of a non-candidate is ignored", map[string]int{"z": 9}, []string{"a", "b"}, "abab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewWeightedRoundRobin(Options{Weights: tc.weights})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(picks(t, p, tc.candidates, len(tc.want)), "")
			if got != tc.want {
				t.Errorf("picks = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestWeightedRoundRobinSetWeight(t *testing.T) {
	p, err := NewWeightedRoundRobin(Options{})
	if err != nil {
		t.Fatal(err)
	}
	candidates := []string{"a", "b", "c"}
	if got := strings.Join(picks(t, p, candidates, 3), ""); got != "abc" {
		t.Fatalf("before SetWeight: %s, want abc", got)
	}
	if err := p.SetWeight("a", 5); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(picks(t, p, candidates, 14), ""), "aabacaaaabacaa"; got != want {
		t.Errorf("after SetWeight(a, 5): %s, want %s", got, want)
	}
	for _, w := range []int{0, -1, MaxWeight + 1} {
		if err := p.SetWeight("a", w); err == nil || !strings.Contains(err.Error(), "SetWeight") {
			t.Errorf("SetWeight(a, %d) = %v, want an error naming SetWeight", w, err)
		}
	}
}

// An error drops a candidate's effective weight to zero, from which it
// climbs back by one per pick.
func TestWeightedRoundRobinError(t *testing.T) {
	p, err := NewWeightedRoundRobin(Options{})
	if err != nil {
		t.Fatal(err)
	}
	candidates := []string{"a", "b"}
	pk, _ := p.Pick(candidates)
	if pk.Name != "a" {
		t.Fatalf("first pick %q, want a", pk.Name)
	}
	pk.Done(0, errTest)
	// Currents (a, b) after the failed pick are (-1, 1) and a's effective
	// weight is 0: a gains nothing on the next pick, so b wins it and the
	// one after, and then the rotation is back.
	if got, want := strings.Join(picks(t, p, candidates, 6), ""), "bbabab"; got != want {
		t.Errorf("after an error on a: %s, want %s", got, want)
	}
}

func TestLeastOutstanding(t *testing.T) {
	candidates := []string{"a", "b", "c"}
	for _, tc := range []struct {
		name     string
		inflight map[string]int64
		want     string // letters of successive picks, each Done at once
	}{
		{"one least", map[string]int64{"a": 2, "b": 1, "c": 3}, "bbb"},
		{"unseen counts as zero", map[string]int64{"a": 2, "b": 1}, "ccc"},
		{"ties go in turn", map[string]int64{"a": 1}, "bcbcbc"},
		{"all idle is round-robin", nil, "abcabc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLeastOutstanding(Options{})
			l.next.Store(0) // the scan starts at a
			for name, n := range tc.inflight {
				l.peers.get(name, nil).inflight.Store(n)
			}
			if got := strings.Join(picks(t, l, candidates, len(tc.want)), ""); got != tc.want {
				t.Errorf("picks = %s, want %s", got, tc.want)
			}
			for name, n := range tc.inflight {
				if got := inflight(l, name); got != n {
					t.Errorf("in flight on %s = %d after picks that were all Done, want %d", name, got, n)
				}
			}
		})
	}
}

// Picks held open steer least-outstanding away, one at a time.
func TestLeastOutstandingHeld(t *testing.T) {
	l := NewLeastOutstanding(seeded(5))
	candidates := []string{"a", "b", "c"}
	var held []Pick
	seen := map[string]int{}
	for range 3 * len(candidates) {
		pk, _ := l.Pick(candidates)
		held = append(held, pk)
		seen[pk.Name]++
	}
	for _, c := range candidates {
		if seen[c] != 3 || inflight(l, c) != 3 {
			t.Errorf("%s: picked %d times, %d in flight; want 3 and 3", c, seen[c], inflight(l, c))
		}
	}
	for _, pk := range held {
		pk.Done(0, nil)
	}
	for _, c := range candidates {
		if n := inflight(l, c); n != 0 {
			t.Errorf("%s: %d in flight after every Done", c, n)
		}
	}
}

func TestDoneTwicePanics(t *testing.T) {
	for _, name := range []string{"least-outstanding", "p2c"} {
		t.Run(name, func(t *testing.T) {
			p := newPolicy(t, name, seeded(1))
			pk, _ := p.Pick([]string{"a"})
			pk.Done(0, nil)
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Done") {
					t.Errorf("second Done: recovered %v, want a panic about Done", r)
				}
			}()
			pk.Done(0, nil)
		})
	}
}

// A candidate that leaves the set is never picked while it is out, its
// picks in flight are still counted and finished, and it is picked again
// once it is back.
func TestCandidatesChange(t *testing.T) {
	all := []string{"a", "b", "c"}
	without := []string{"a", "c"}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p := newPolicy(t, name, seeded(9))
			var held []Pick
			for range 30 {
				pk, _ := p.Pick(all)
				held = append(held, pk)
			}
			for _, got := range picks(t, p, without, 100) {
				if got == "b" {
					t.Fatal("picked b while it was not a candidate")
				}
			}
			for _, pk := range held {
				pk.Done(0, nil)
			}
			count := map[string]int{}
			for _, got := range picks(t, p, all, 300) {
				count[got]++
			}
			if count["b"] < 30 {
				t.Errorf("b picked %d times in 300 after it came back", count["b"])
			}
			for _, c := range all {
				if n := inflight(p, c); n != 0 {
					t.Errorf("%s: %d in flight after every Done", c, n)
				}
			}
			if tracksInflight(p) || name == "weighted-round-robin" {
				if n := tracked(p); n != len(all) {
					t.Errorf("tracks %d names, want %d", n, len(all))
				}
			}
		})
	}
}

// A policy that has seen too many names forgets the idle ones that are not
// candidates, but not one with a pick in flight nor a weight set.
func TestForgetsIdleNames(t *testing.T) {
	const limit = 8
	for _, name := range []string{"weighted-round-robin", "least-outstanding", "p2c"} {
		t.Run(name, func(t *testing.T) {
			p := newPolicy(t, name, Options{Weights: map[string]int{"heavy": 3}})
			setLimit(p, limit)
			busy, _ := p.Pick([]string{"busy"})
			for i := range 100 {
				picks(t, p, []string{fmt.Sprint("n", i), fmt.Sprint("m", i)}, 2)
				if n := tracked(p); n > limit+2 {
					t.Fatalf("after %d new names, tracks %d, over the limit %d", 2*(i+1), n, limit)
				}
			}
			if tracksInflight(p) && inflight(p, "busy") != 1 {
				t.Errorf("forgot busy with a pick in flight")
			}
			busy.Done(0, nil) // does not panic: the pick still points at its peer
			if name == "weighted-round-robin" {
				if got := strings.Join(picks(t, p, []string{"heavy", "x"}, 4), ""); got != "heavyheavyxheavy" {
					t.Errorf("after forgetting: %s, want heavy's weight 3 kept", got)
				}
			}
		})
	}
}

func TestBelow(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 1000} {
		for _, x := range []uint64{0, 1, math.MaxUint64 / 2, math.MaxUint64} {
			if got := below(x, n); got < 0 || got >= n {
				t.Errorf("below(%d, %d) = %d", x, n, got)
			}
		}
	}
}
