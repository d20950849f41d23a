package balance

import (
	"math"
	"sync/atomic"
	"time"
)

// LeastOutstanding picks the candidate with the fewest picks not yet Done.
// Ties go to the tied candidates in turn, so a caller that waits for each
// request before sending the next goes round-robin rather than always to the
// first candidate.
//
// NB: reading the counts and incrementing the winner's are not one atomic
// step, so two concurrent picks can both take the same least-loaded
// candidate, as in gRPC's and Envoy's least-request balancers; the counts
// stay exact, only the choice is approximate.
type LeastOutstanding struct {
	peers *table
	next  atomic.Uint64 // turns among ties
}

// NewLeastOutstanding returns a least-outstanding policy whose first turn for
// ties is drawn from opts.Source.
func NewLeastOutstanding(opts Options) *LeastOutstanding {
	l := &LeastOutstanding{peers: newTable()}
	l.next.Store(newRNG(opts.Source).uint64())
	return l
}

// Pick implements Policy.
func (l *LeastOutstanding) Pick(candidates []string) (Pick, bool) {
	if len(candidates) == 0 {
		return Pick{}, false
	}
	// One pass finds the least count and how many candidates share it, and
	// a second takes the turn-th of those. A count that changes in between
	// can leave the second pass short of its turn; then it takes the last
	// candidate at or below the least count it found, and failing that, the
	// first pass's.
	var (
		least int64 = math.MaxInt64
		ties  uint64
		index int
		best  *peer
	)
	for i, name := range candidates {
		pe := l.peers.get(name, candidates)
		switch c := pe.inflight.Load(); {
		case c < least:
			least, ties, index, best = c, 1, i, pe
		case c == least:
			ties++
		}
	}
	if turn := (l.next.Add(1) - 1) % ties; turn > 0 {
		for i, name := range candidates {
			if pe := l.peers.get(name, candidates); pe.inflight.Load() <= least {
				index, best = i, pe
				if turn == 0 {
					break
				}
				turn--
			}
		}
	}
	best.inflight.Add(1)
	return Pick{Index: index, Name: candidates[index], owner: l, peer: best}, true
}

func (l *LeastOutstanding) done(pe *peer, _ time.Duration, _ error) {
	pe.release()
}
