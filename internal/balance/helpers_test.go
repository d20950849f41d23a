package balance

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var errTest = errors.New("test: unavailable")

// seeded returns Options whose Source is seeded with seed.
func seeded(seed uint64) Options {
	return Options{Source: rand.NewPCG(seed, seed^0x5eed)}
}

// fataler is what testing.TB and *rapid.T have in common that the helpers use.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// newPolicy returns the policy called name with opts, failing t on error.
func newPolicy(t fataler, name string, opts Options) Policy {
	t.Helper()
	p, err := New(name, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", name, err)
	}
	return p
}

// tracksInflight says whether the policy counts picks in flight.
func tracksInflight(p Policy) bool {
	switch p.(type) {
	case *LeastOutstanding, *P2C:
		return true
	}
	return false
}

// inflight returns the number of picks of name in flight that p counts, or
// 0 if p does not count them or has not seen name.
func inflight(p Policy, name string) int64 {
	var t *table
	switch p := p.(type) {
	case *LeastOutstanding:
		t = p.peers
	case *P2C:
		t = p.peers
	default:
		return 0
	}
	if pe, ok := (*t.peers.Load())[name]; ok {
		return pe.inflight.Load()
	}
	return 0
}

// tracked returns the number of names p keeps state for.
func tracked(p Policy) int {
	switch p := p.(type) {
	case *LeastOutstanding:
		return len(*p.peers.peers.Load())
	case *P2C:
		return len(*p.peers.peers.Load())
	case *WeightedRoundRobin:
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.mu.peers)
	}
	return 0
}

// setLimit lowers the number of names p tracks before forgetting idle ones.
func setLimit(p Policy, limit int) {
	switch p := p.(type) {
	case *LeastOutstanding:
		p.peers.limit = limit
	case *P2C:
		p.peers.limit = limit
	case *WeightedRoundRobin:
		p.mu.Lock()
		p.mu.limit = limit
		p.mu.Unlock()
	}
}

// picks returns the names of n picks of p from candidates, each Done at once
// with latency 0 and no error.
func picks(t testing.TB, p Policy, candidates []string, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for range n {
		pk, ok := p.Pick(candidates)
		if !ok {
			t.Fatalf("Pick(%q) = false", candidates)
		}
		out = append(out, pk.Name)
		pk.Done(0, nil)
	}
	return out
}

// backend is a simulated candidate: every request to it takes latency and
// ends with err.
type backend struct {
	latency time.Duration
	err     error
}

// simulate runs a closed loop of clients, each sending its next request as
// soon as the last is answered, over simulated time, until requests have
// been answered; it returns how many went to each backend. With clients = 1
// every pick is Done before the next.
func simulate(t testing.TB, p Policy, candidates []string, backends map[string]backend, clients, requests int) map[string]int {
	t.Helper()
	type out struct {
		pick Pick
		at   time.Duration // when the answer arrives
	}
	var (
		now    time.Duration
		flight = make([]out, 0, clients)
		count  = map[string]int{}
	)
	send := func() {
		pk, ok := p.Pick(candidates)
		if !ok {
			t.Fatalf("Pick(%q) = false", candidates)
		}
		count[pk.Name]++
		flight = append(flight, out{pk, now + backends[pk.Name].latency})
	}
	for range clients {
		send()
	}
	for answered := 0; answered < requests; answered++ {
		first := 0
		for k := range flight {
			if flight[k].at < flight[first].at {
				first = k
			}
		}
		o := flight[first]
		flight = append(flight[:first], flight[first+1:]...)
		now = o.at
		b := backends[o.pick.Name]
		o.pick.Done(b.latency, b.err)
		send()
	}
	for _, o := range flight {
		o.pick.Done(backends[o.pick.Name].latency, nil)
	}
	return count
}
