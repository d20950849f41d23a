package balance

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"
)

// Policy chooses one of a small set of candidates for each request.
// Implementations are safe for concurrent use.
type Policy interface {
	// Pick chooses one of candidates, or returns false if there are none.
	// It does not keep candidates. The caller must finish a Pick it got
	// with exactly one call of its Done.
	Pick(candidates []string) (Pick, bool)
}

// Pick is one choice of a Policy. It is a small value, returned and passed
// by value without allocating.
type Pick struct {
	// Index is the position of the chosen candidate in the slice passed to
	// Policy.Pick.
	Index int
	// Name is that candidate, candidates[Index].
	Name string

	owner feedback // nil for the policies that learn nothing from Done
	peer  *peer    // the chosen candidate's state in owner; nil iff owner is
}

// Done reports how the request sent to the chosen candidate went: how long
// it took, as measured by the caller, and its error. Pass a non-nil err only
// for a failure that says something about the candidate (unreachable,
// overloaded, timed out) and not for an answer such as "key not found".
// Done must be called exactly once per Pick: least-outstanding and p2c
// count picks in flight, and panic if Done would take a count below zero.
// The zero Pick's Done does nothing.
func (p Pick) Done(latency time.Duration, err error) {
	if p.owner != nil {
		p.owner.done(p.peer, latency, err)
	}
}

// feedback is implemented by the policies that learn from Done.
type feedback interface {
	done(pe *peer, latency time.Duration, err error)
}

// The names New accepts, as Names returns them.
const (
	NameRandom             = "random"
	NameRoundRobin         = "round-robin"
	NameWeightedRoundRobin = "weighted-round-robin"
	NameLeastOutstanding   = "least-outstanding"
	NameP2C                = "p2c"
)

// Names returns the names of the policies New knows, in the order a help
// text lists them. The caller may modify the slice.
func Names() []string {
	return []string{NameRandom, NameRoundRobin, NameWeightedRoundRobin, NameLeastOutstanding, NameP2C}
}

// ErrUnknownPolicy is returned (wrapped) by New for a name not in Names.
var ErrUnknownPolicy = errors.New("balance: unknown policy")

// Defaults for Options fields left zero.
const (
	// DefaultHalfLife is long enough that the latency estimates of a few
	// dozen candidates sharing the traffic are not washed out between their
	// own samples, and short enough that a candidate shunned for being five
	// times slower is probed again after about 150 requests to the others,
	// and one shunned for an error (DefaultErrorPenalty against 1ms
	// answers) after about 650.
	DefaultHalfLife = 64
	// DefaultErrorPenalty is far above the latency of a healthy request (well
	// under a millisecond to a few) and at the order of a request timeout, so
	// one error outweighs many fast answers, while a candidate that recovers
	// wins its traffic back after about ten half-lives.
	DefaultErrorPenalty = time.Second
	// MaxWeight bounds a weighted-round-robin weight, so that the sums of
	// weights of any candidate set fit comfortably in an int64.
	MaxWeight = 1 << 20
)

// Options configures the policies. Each policy uses the fields that concern
// it and ignores the rest; zero fields take their defaults.
type Options struct {
	// Source seeds the random choices of random and p2c and the starting
	// points of round-robin and least-outstanding. It is read only while the
	// policy is constructed, so it need not be safe for concurrent use; a
	// policy built from a Source seeded the same way picks the same
	// sequence when used from one goroutine. Default nil: math/rand/v2's
	// runtime-seeded generator, so that clients do not pick in lockstep.
	Source rand.Source
	// Weights are weighted-round-robin's weights by candidate name, each in
	// [1, MaxWeight]. A name without one weighs 1. Default nil: every weight
	// is 1, which makes it round-robin.
	Weights map[string]int
	// HalfLife is the number of Done calls, counted over all of a p2c
	// policy's candidates, after which a latency sample has lost half its
	// weight in a candidate's estimate. Default DefaultHalfLife (64).
	HalfLife int
	// ErrorPenalty is the latency p2c records for a Done with an error, if
	// the latency handed in is lower. Default DefaultErrorPenalty (1s).
	ErrorPenalty time.Duration
}

// Validate reports the first bad field by name. It does not change o.
func (o *Options) Validate() error {
	switch {
	case o.HalfLife < 0:
		return fmt.Errorf("balance: Options.HalfLife %d is negative", o.HalfLife)
	case o.ErrorPenalty < 0:
		return fmt.Errorf("balance: Options.ErrorPenalty %v is negative", o.ErrorPenalty)
	}
	for name, w := range o.Weights {
		if err := checkWeight(name, w); err != nil {
			return fmt.Errorf("balance: Options.Weights: %w", err)
		}
	}
	return nil
}

func checkWeight(name string, w int) error {
	if w < 1 || w > MaxWeight {
		return fmt.Errorf("weight %d of %q is outside [1, %d]", w, name, MaxWeight)
	}
	return nil
}

// New returns the policy called name (one of Names) configured by opts.
func New(name string, opts Options) (Policy, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	switch name {
	case NameRandom:
		return NewRandom(opts), nil
	case NameRoundRobin:
		return NewRoundRobin(opts), nil
	case NameWeightedRoundRobin:
		return NewWeightedRoundRobin(opts)
	case NameLeastOutstanding:
		return NewLeastOutstanding(opts), nil
	case NameP2C:
		return NewP2C(opts)
	}
	return nil, fmt.Errorf("%w %q: use one of %s", ErrUnknownPolicy, name, strings.Join(Names(), ", "))
}

// rng is a source of random numbers safe for concurrent use. Seeded, it is
// SplitMix64 stepped by one atomic add, so its sequence is reproducible from
// one goroutine; unseeded, it is math/rand/v2's per-thread generator, which
// scales across cores.
type rng struct {
	seeded bool
	state  atomic.Uint64
}

func newRNG(src rand.Source) *rng {
	r := &rng{}
	if src != nil {
		r.seeded = true
		r.state.Store(src.Uint64())
	}
	return r
}

func (r *rng) uint64() uint64 {
	if !r.seeded {
		return rand.Uint64()
	}
	// SplitMix64 (Steele, Lea, Flood 2014), as in java.util.SplittableRandom.
	z := r.state.Add(0x9e3779b97f4a7c15)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// below maps a random x to [0, n) by Lemire's multiply-shift; its bias, at
// most n/2^64, is nothing for the small n of candidate sets.
func below(x uint64, n int) int {
	hi, _ := bits.Mul64(x, uint64(n))
	return int(hi)
}
