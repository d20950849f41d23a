package balance

import (
	"math"
	"sync/atomic"
	"time"
)

// P2C is the power of two choices on in-flight requests and a latency
// estimate (Mitzenmacher's "two choices", with the cost of Finagle's and
// Linkerd's peak-EWMA balancers without the peak): it draws two distinct
// candidates at random and picks the one with the lower cost
//
//	(in-flight + 1) × latency estimate
//
// The estimate is an exponentially weighted moving average of the latencies
// handed to Done, where an error counts as at least Options.ErrorPenalty. It
// ages by the policy's sample count, the number of Done calls it has seen
// for any candidate: Options.HalfLife samples halve the weight of what came
// before. Between its own samples a candidate's estimate decays toward zero
// at that rate, so a candidate that lost its traffic to slow answers or
// errors is tried again once the others have answered for a while, and wins
// the traffic back if it has recovered.
//
// A candidate never measured costs 0 while it has nothing in flight, so it is
// probed at once, and (in-flight + 1) × ErrorPenalty while its first
// requests are out, so it is not flooded before it has answered.
type P2C struct {
	peers    *table
	rng      *rng
	halfLife float64 // in samples
	penalty  float64 // nanoseconds

	// samples counts Done calls: the clock by which estimates age.
	samples atomic.Uint64
}

// NewP2C returns a p2c policy seeded from opts.Source, with opts.HalfLife
// and opts.ErrorPenalty.
func NewP2C(opts Options) (*P2C, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.HalfLife == 0 {
		opts.HalfLife = DefaultHalfLife
	}
	if opts.ErrorPenalty == 0 {
		opts.ErrorPenalty = DefaultErrorPenalty
	}
	return &P2C{
		peers:    newTable(),
		rng:      newRNG(opts.Source),
		halfLife: float64(opts.HalfLife),
		penalty:  float64(opts.ErrorPenalty),
	}, nil
}

// Pick implements Policy.
func (p *P2C) Pick(candidates []string) (Pick, bool) {
	n := len(candidates)
	switch n {
	case 0:
		return Pick{}, false
	case 1:
		pe := p.peers.get(candidates[0], candidates)
		pe.inflight.Add(1)
		return Pick{Index: 0, Name: candidates[0], owner: p, peer: pe}, true
	}
	// Two distinct indexes from the two halves of one random number.
	x := p.rng.uint64()
	i := int((x & math.MaxUint32) * uint64(n) >> 32)
	j := int((x >> 32) * uint64(n-1) >> 32)
	if j >= i {
		j++
	}
	now := p.samples.Load()
	pi := p.peers.get(candidates[i], candidates)
	pj := p.peers.get(candidates[j], candidates)
	// NB: on a tie the first draw wins, which is a fair coin between the two.
	if p.cost(pj, now) < p.cost(pi, now) {
		i, pi = j, pj
	}
	pi.inflight.Add(1)
	return Pick{Index: i, Name: candidates[i], owner: p, peer: pi}, true
}

// cost is pe's cost at sample count now.
func (p *P2C) cost(pe *peer, now uint64) float64 {
	inflight := float64(pe.inflight.Load())
	stamp := pe.stamp.Load()
	if stamp == 0 {
		if inflight == 0 {
			return 0
		}
		return (inflight + 1) * p.penalty
	}
	est := math.Float64frombits(pe.ewma.Load())
	if now > stamp {
		est *= math.Exp2(-float64(now-stamp) / p.halfLife)
	}
	return (inflight + 1) * est
}

func (p *P2C) done(pe *peer, latency time.Duration, err error) {
	pe.release()
	x := float64(max(latency, 0))
	if err != nil {
		x = max(x, p.penalty)
	}
	now := p.samples.Add(1)
	pe.mu.Lock()
	defer pe.mu.Unlock()
	stamp := pe.stamp.Load()
	if stamp == 0 {
		pe.ewma.Store(math.Float64bits(x))
		pe.stamp.Store(now)
		return
	}
	// NB: a concurrent Done of the same candidate that drew a later sample
	// count may have got the lock first; then this sample counts as if it
	// came one sample after that one.
	elapsed := 1.0
	if now > stamp {
		elapsed = float64(now - stamp)
	}
	w := math.Exp2(-elapsed / p.halfLife)
	est := math.Float64frombits(pe.ewma.Load())
	pe.ewma.Store(math.Float64bits(est*w + x*(1-w)))
	pe.stamp.Store(max(now, stamp))
}
