package balance

import "sync/atomic"

// Random picks uniformly at random. It keeps no state per candidate, and its
// Done does nothing.
type Random struct {
	rng *rng
}

// NewRandom returns a random policy seeded from opts.Source.
func NewRandom(opts Options) *Random {
	return &Random{rng: newRNG(opts.Source)}
}

// Pick implements Policy.
func (r *Random) Pick(candidates []string) (Pick, bool) {
	if len(candidates) == 0 {
		return Pick{}, false
	}
	i := below(r.rng.uint64(), len(candidates))
	return Pick{Index: i, Name: candidates[i]}, true
}

// RoundRobin picks the candidates in turn. It keeps one counter for all
// candidate sets, so when the set changes, the turn goes on from wherever the
// counter is. Its Done does nothing.
type RoundRobin struct {
	next atomic.Uint64
}

// NewRoundRobin returns a round-robin policy whose first turn is drawn from
// opts.Source.
func NewRoundRobin(opts Options) *RoundRobin {
	r := &RoundRobin{}
	r.next.Store(newRNG(opts.Source).uint64())
	return r
}

// Pick implements Policy.
func (r *RoundRobin) Pick(candidates []string) (Pick, bool) {
	if len(candidates) == 0 {
		return Pick{}, false
	}
	i := int((r.next.Add(1) - 1) % uint64(len(candidates)))
	return Pick{Index: i, Name: candidates[i]}, true
}
