package balance

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// WeightedRoundRobin is nginx's smooth weighted round-robin
// (ngx_http_upstream_get_peer): on each pick every candidate's current
// weight grows by its effective weight, the candidate with the largest
// current weight is chosen, and its current weight drops by the sum of the
// effective weights. Over a run, each candidate is chosen in proportion to
// its weight, and a heavy candidate's turns are spread out rather than
// bunched: weights 5, 1, 1 give a a b a c a a.
//
// An error reported to Done drops the candidate's effective weight to zero,
// from which it climbs back by one per pick it takes part in, as nginx does
// with its default max_fails=1. Latency is ignored.
type WeightedRoundRobin struct {
	mu struct {
		sync.Mutex
		// weights are the weights set by Options.Weights and SetWeight; a
		// name not here weighs 1. Kept apart from peers so that forgetting
		// an idle peer does not forget its weight.
		weights map[string]int64
		peers   map[string]*peer
		limit   int // maxPeers, lowered by tests
	}
}

// NewWeightedRoundRobin returns a smooth weighted round-robin policy with
// opts.Weights.
func NewWeightedRoundRobin(opts Options) (*WeightedRoundRobin, error) {
	w := &WeightedRoundRobin{}
	w.mu.weights = make(map[string]int64, len(opts.Weights))
	w.mu.peers = make(map[string]*peer, len(opts.Weights))
	w.mu.limit = maxPeers
	for name, wt := range opts.Weights {
		if err := checkWeight(name, wt); err != nil {
			return nil, fmt.Errorf("balance: Options.Weights: %w", err)
		}
		w.mu.weights[strings.Clone(name)] = int64(wt)
	}
	return w, nil
}

// SetWeight sets the weight of name, in [1, MaxWeight]. The candidate's
// effective weight becomes the new weight; its place in the rotation is
// kept.
func (w *WeightedRoundRobin) SetWeight(name string, weight int) error {
	if err := checkWeight(name, weight); err != nil {
		return fmt.Errorf("balance: SetWeight: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if pe, ok := w.mu.peers[name]; ok {
		name = pe.name
		pe.weight, pe.effective = int64(weight), int64(weight)
	} else if _, ok := w.mu.weights[name]; !ok {
		name = strings.Clone(name)
	}
	w.mu.weights[name] = int64(weight)
	return nil
}

// Pick implements Policy.
func (w *WeightedRoundRobin) Pick(candidates []string) (Pick, bool) {
	if len(candidates) == 0 {
		return Pick{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var (
		best  *peer
		index int
		total int64
	)
	for i, name := range candidates {
		pe := w.peerLocked(name, candidates)
		pe.current += pe.effective
		total += pe.effective
		if pe.effective < pe.weight {
			pe.effective++
		}
		if best == nil || pe.current > best.current {
			best, index = pe, i
		}
	}
	best.current -= total
	return Pick{Index: index, Name: candidates[index], owner: w, peer: best}, true
}

func (w *WeightedRoundRobin) peerLocked(name string, candidates []string) *peer {
	if pe, ok := w.mu.peers[name]; ok {
		return pe
	}
	if len(w.mu.peers) >= w.mu.limit {
		// Forget the peers that are not candidates now. WRR has no picks in
		// flight to protect, and a forgotten peer only loses its place in
		// the rotation.
		keep := make(map[string]*peer, len(candidates)+1)
		for _, c := range candidates {
			if pe, ok := w.mu.peers[c]; ok {
				keep[c] = pe
			}
		}
		w.mu.peers = keep
	}
	weight, ok := w.mu.weights[name]
	if !ok {
		weight = 1
	}
	pe := &peer{name: strings.Clone(name), weight: weight, effective: weight}
	w.mu.peers[pe.name] = pe
	return pe
}

func (w *WeightedRoundRobin) done(pe *peer, _ time.Duration, err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	pe.effective = 0
	w.mu.Unlock()
}
