package balance

import (
	"math"
	"testing"
	"time"
)

var threeNodes = []string{"a", "b", "c"}

func share(count map[string]int, name string) float64 {
	var total int
	for _, n := range count {
		total += n
	}
	return float64(count[name]) / float64(total)
}

// A candidate five times slower than the others gets a clearly smaller share
// than random gives it, whether requests overlap or not.
func TestP2CAvoidsSlow(t *testing.T) {
	backends := map[string]backend{
		"a": {latency: time.Millisecond},
		"b": {latency: time.Millisecond},
		"c": {latency: 5 * time.Millisecond},
	}
	for _, tc := range []struct {
		name    string
		clients int
	}{
		{"one at a time", 1},
		{"8 in flight", 8},
		{"32 in flight", 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			random := share(simulate(t, NewRandom(seeded(1)), threeNodes, backends, tc.clients, 20000), "c")
			p2c := share(simulate(t, newPolicy(t, "p2c", seeded(1)), threeNodes, backends, tc.clients, 20000), "c")
			t.Logf("share of the slow candidate: random %.3f, p2c %.3f", random, p2c)
			if p2c > 1.0/6 {
				t.Errorf("p2c sent %.3f of the requests to the slow candidate, want under 1/6 (random: %.3f)", p2c, random)
			}
		})
	}
}

// A candidate that fails fast does not attract traffic by looking fast.
func TestP2CAvoidsFailing(t *testing.T) {
	backends := map[string]backend{
		"a": {latency: time.Millisecond},
		"b": {latency: time.Millisecond},
		"c": {latency: 10 * time.Microsecond, err: errTest},
	}
	for _, clients := range []int{1, 8} {
		got := share(simulate(t, newPolicy(t, "p2c", seeded(2)), threeNodes, backends, clients, 20000), "c")
		if got > 0.02 {
			t.Errorf("%d clients: the failing candidate got %.3f of the requests, want under 0.02", clients, got)
		}
	}
}

// A candidate shunned for its errors is probed again and wins back its
// share once it answers well.
func TestP2CRecovers(t *testing.T) {
	p := newPolicy(t, "p2c", seeded(3))
	failing := map[string]backend{
		"a": {latency: time.Millisecond},
		"b": {latency: time.Millisecond},
		"c": {latency: time.Millisecond, err: errTest},
	}
	healthy := map[string]backend{
		"a": {latency: time.Millisecond},
		"b": {latency: time.Millisecond},
		"c": {latency: time.Millisecond},
	}
	if got := share(simulate(t, p, threeNodes, failing, 8, 10000), "c"); got > 0.02 {
		t.Fatalf("while failing, c got %.3f", got)
	}
	simulate(t, p, threeNodes, healthy, 8, 2000)
	if got := share(simulate(t, p, threeNodes, healthy, 8, 3000), "c"); got < 0.25 {
		t.Errorf("2000 requests after recovering, c gets %.3f of the next 3000, want at least 0.25", got)
	}
}

// A new candidate is probed at once, but not again before it has answered.
func TestP2CProbesNew(t *testing.T) {
	p := newPolicy(t, "p2c", seeded(4))
	simulate(t, p, []string{"a", "b"}, map[string]backend{"a": {latency: time.Millisecond}, "b": {latency: time.Millisecond}}, 1, 100)
	withNew := []string{"a", "b", "new"}
	var probe Pick
	for k := 0; probe.Name != "new"; k++ {
		if k == 20 {
			t.Fatal("the new candidate was not picked in 20 tries")
		}
		pk, _ := p.Pick(withNew)
		if pk.Name != "new" {
			pk.Done(time.Millisecond, nil)
		}
		probe = pk
	}
	for _, got := range picks(t, p, withNew, 200) {
		if got == "new" {
			t.Fatal("picked the new candidate again while its first request was out")
		}
	}
	probe.Done(time.Millisecond, nil)
}

// The two candidates compared are distinct: with two candidates the loaded
// one is never picked.
func TestP2CTwoDistinct(t *testing.T) {
	p, err := NewP2C(seeded(5))
	if err != nil {
		t.Fatal(err)
	}
	busy := p.peers.get("busy", nil)
	busy.inflight.Store(10)
	for _, candidates := range [][]string{{"busy", "idle"}, {"idle", "busy"}} {
		for _, got := range picks(t, p, candidates, 200) {
			if got == "busy" {
				t.Fatalf("picked busy from %q", candidates)
			}
		}
	}
	busy.inflight.Store(0)
}

// The estimate is a moving average with the half-life in samples, and it
// decays toward zero by the samples of other candidates.
func TestP2CEstimate(t *testing.T) {
	ms := float64(time.Millisecond)
	for _, tc := range []struct {
		name     string
		halfLife int
		samples  []time.Duration // Done on candidate a, in order
		errs     []bool          // whether each of samples is an error
		others   int             // Done calls on b after the samples
		want     float64         // a's cost, idle, in ms
	}{
		{"first sample", 1, []time.Duration{3 * time.Millisecond}, nil, 0, 3},
		{"half-life 1", 1, []time.Duration{time.Millisecond, 3 * time.Millisecond}, nil, 0, 2},
		{"half-life 2", 2, []time.Duration{time.Millisecond, 3 * time.Millisecond}, nil, 0, 3 - 2/math.Sqrt2},
		{"error counts as the penalty", 1, []time.Duration{time.Millisecond, time.Millisecond}, []bool{false, true}, 0, (1 + 1000) / 2.0},
		{"slow error is its latency", 1, []time.Duration{2 * time.Second}, []bool{true}, 0, 2000},
		{"negative latency counts as zero", 1, []time.Duration{-time.Second}, nil, 0, 0},
		{"decays by others' samples", 2, []time.Duration{8 * time.Millisecond}, nil, 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewP2C(Options{HalfLife: tc.halfLife})
			if err != nil {
				t.Fatal(err)
			}
			for k, d := range tc.samples {
				pk, _ := p.Pick([]string{"a"})
				var err error
				if k < len(tc.errs) && tc.errs[k] {
					err = errTest
				}
				pk.Done(d, err)
			}
			for range tc.others {
				pk, _ := p.Pick([]string{"b"})
				pk.Done(time.Millisecond, nil)
			}
			a := p.peers.get("a", nil)
			if got := p.cost(a, p.samples.Load()) / ms; math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("cost of a = %vms, want %vms", got, tc.want)
			}
		})
	}
}

func TestP2CCostUnmeasured(t *testing.T) {
	p, err := NewP2C(Options{ErrorPenalty: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pe := p.peers.get("a", nil)
	if got := p.cost(pe, 0); got != 0 {
		t.Errorf("idle and unmeasured: cost %v, want 0", got)
	}
	pe.inflight.Store(2)
	if got, want := p.cost(pe, 0), 3*float64(time.Second); got != want {
		t.Errorf("unmeasured with 2 in flight: cost %v, want %v", got, want)
	}
	pe.inflight.Store(0)
}
