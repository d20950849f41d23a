package runner

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// keyPool hands out the keys of the register and ttl workloads: a fixed
// number in use at once, each retired after maxOps operations or maxIndet
// indeterminate writes and replaced by a fresh one, so that every key's
// history stays small enough for porcupine (NP-complete in the number of
// concurrent and open-ended operations). Safe for concurrent use.
type keyPool struct {
	prefix   string
	maxOps   int
	maxIndet int
	mu       struct {
		sync.Mutex
		active []*keyState // Invariant: len(active) is the pool size; none is retired.
		next   int         // the number of the next fresh key
		used   []string    // every key handed out, in order
	}
}

// keyState is one key's bookkeeping. Its fields are guarded by the pool's
// lock.
type keyState struct {
	name    string
	slot    int // its index in active while not retired
	ops     int // operations acquired, in flight included
	indet   int // writes that ended indeterminate
	retired bool
	// What a client last learnt the key holds, for CAS's expected value:
	// known is false until something is learnt.
	known, exists bool
	value         string
}

func newKeyPool(prefix string, size, maxOps, maxIndet int) *keyPool {
	p := &keyPool{prefix: prefix, maxOps: maxOps, maxIndet: maxIndet}
	p.mu.active = make([]*keyState, size)
	for i := range p.mu.active {
		p.mu.active[i] = p.freshLocked(i)
	}
	return p
}

func (p *keyPool) freshLocked(slot int) *keyState {
	k := &keyState{name: fmt.Sprintf("%s%d", p.prefix, p.mu.next), slot: slot}
	p.mu.next++
	p.mu.used = append(p.mu.used, k.name)
	return k
}

// retireLocked takes k out of use and puts a fresh key in its slot.
func (p *keyPool) retireLocked(k *keyState) {
	if k.retired {
		return
	}
	k.retired = true
	p.mu.active[k.slot] = p.freshLocked(k.slot)
}

// acquire picks a key in use for one operation and counts the operation;
// the key retires when it has had maxOps, so no key ever gets more.
func (p *keyPool) acquire(rng *rand.Rand) *keyState {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.mu.active[rng.IntN(len(p.mu.active))]
	k.ops++
	if k.ops >= p.maxOps {
		p.retireLocked(k)
	}
	return k
}

// indeterminate counts an indeterminate write on k, retiring k at maxIndet.
// (An indeterminate read costs the checker nothing: it is dropped.)
func (p *keyPool) indeterminate(k *keyState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k.indet++
	if k.indet >= p.maxIndet {
		p.retireLocked(k)
	}
}

// learn records what k holds, as an acknowledged write or a read saw it.
func (p *keyPool) learn(k *keyState, exists bool, value string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k.known, k.exists, k.value = true, exists, value
}

// expected returns what a CAS on k should expect: the last value learnt,
// or absent (ok false) when it was absent or nothing was learnt yet.
func (p *keyPool) expected(k *keyState) (value string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return k.value, k.known && k.exists
}

// used returns every key handed out so far, in order.
func (p *keyPool) used() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.mu.used...)
}
