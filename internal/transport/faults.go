package transport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what the transport does to the raft message batches on one
// direction of a link, for fault injection (cairn check, DESIGN.md
// Testing). The zero value is a healthy link.
type Fault struct {
	// Drop is the probability that a batch is lost, 0..1. At 1 the link is
	// cut: snapshots fail too, and IsCut reports it so request forwarding
	// can refuse as well.
	Drop float64
	// Delay holds every batch this long before it is sent or handed on.
	Delay time.Duration
	// Jitter adds a uniform random delay in [0, Jitter) per batch, so
	// batches overtake each other: reordering.
	Jitter time.Duration
	// Duplicate is the probability that a batch is delivered twice, 0..1.
	Duplicate float64
}

// Direction says which way a Fault applies, seen from this node.
type Direction int

const (
	// Outbound faults act on what this node sends to the peer.
	Outbound Direction = iota
	// Inbound faults act on what this node receives from the peer.
	Inbound
)

func (d Direction) String() string {
	if d == Inbound {
		return "inbound"
	}
	return "outbound"
}

// ErrLinkCut is returned for a snapshot over a link cut by fault injection.
var ErrLinkCut = errors.New("transport: link cut by fault injection")

// Validate checks the fault's ranges.
func (f Fault) Validate() error {
	switch {
	case f.Drop < 0 || f.Drop > 1:
		return fmt.Errorf("transport: fault drop %v: want a probability in [0, 1]", f.Drop)
	case f.Duplicate < 0 || f.Duplicate > 1:
		return fmt.Errorf("transport: fault duplicate %v: want a probability in [0, 1]", f.Duplicate)
	case f.Delay < 0 || f.Jitter < 0:
		return fmt.Errorf("transport: fault delay %v, jitter %v: must not be negative", f.Delay, f.Jitter)
	case f.Delay > time.Minute || f.Jitter > time.Minute:
		return fmt.Errorf("transport: fault delay %v, jitter %v: at most a minute", f.Delay, f.Jitter)
	}
	return nil
}

// PeerFault is one configured fault; Peer "" means every peer.
type PeerFault struct {
	Peer      string
	Direction Direction
	Fault
}

// faults holds the injected link faults of a GRPC transport.
type faults struct {
	active atomic.Bool // any fault set: the fast path skips the lock
	mu     sync.Mutex
	links  map[faultKey]Fault
	rng    *rand.Rand
}

type faultKey struct {
	peer string
	dir  Direction
}

// SetFault sets the fault on one direction of the link to peer ("" for
// every peer; a peer's own setting wins over it); the zero Fault clears it.
func (t *GRPC) SetFault(peer string, dir Direction, f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	fs := &t.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.links == nil {
		fs.links = make(map[faultKey]Fault)
		fs.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if f == (Fault{}) {
		delete(fs.links, faultKey{peer, dir})
	} else {
		fs.links[faultKey{peer, dir}] = f
	}
	fs.active.Store(len(fs.links) > 0)
	return nil
}

// ClearFaults heals every link.
func (t *GRPC) ClearFaults() {
	fs := &t.faults
	fs.mu.Lock()
	clear(fs.links)
	fs.active.Store(false)
	fs.mu.Unlock()
}

// Faults lists the configured link faults, ordered by peer and direction.
func (t *GRPC) Faults() []PeerFault {
	fs := &t.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]PeerFault, 0, len(fs.links))
	for k, f := range fs.links {
		out = append(out, PeerFault{Peer: k.peer, Direction: k.dir, Fault: f})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Peer != out[j].Peer {
			return out[i].Peer < out[j].Peer
		}
		return out[i].Direction < out[j].Direction
	})
	return out
}

// IsCut reports whether the link to (Outbound) or from (Inbound) peer is
// cut: the node's request forwarding refuses such a link too.
func (t *GRPC) IsCut(peer string, dir Direction) bool {
	f, ok := t.faultFor(peer, dir)
	return ok && f.Drop >= 1
}

func (t *GRPC) faultFor(peer string, dir Direction) (Fault, bool) {
	fs := &t.faults
	if !fs.active.Load() {
		return Fault{}, false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.links[faultKey{peer, dir}]; ok {
		return f, true
	}
	f, ok := fs.links[faultKey{"", dir}]
	return f, ok
}

// plan decides the fate of one batch: how many copies to deliver (0, 1
// or 2) and after how long each.
func (t *GRPC) plan(peer string, dir Direction) (copies int, delays [2]time.Duration) {
	f, ok := t.faultFor(peer, dir)
	if !ok {
		return 1, delays
	}
	fs := &t.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f.Drop >= 1 || fs.rng.Float64() < f.Drop {
		return 0, delays
	}
	copies = 1
	if f.Duplicate > 0 && fs.rng.Float64() < f.Duplicate {
		copies = 2
	}
	for i := range copies {
		delays[i] = f.Delay
		if f.Jitter > 0 {
			delays[i] += time.Duration(fs.rng.Int64N(int64(f.Jitter)))
		}
	}
	return copies, delays
}

// inject applies the link's fault to one batch and calls deliver for each
// copy that survives, after its delay. It reports whether the batch was
// handled (false: no fault, the caller delivers as usual).
func (t *GRPC) inject(peer string, dir Direction, n int, deliver func()) bool {
	if !t.faults.active.Load() {
		return false
	}
	copies, delays := t.plan(peer, dir)
	if copies == 0 {
		t.m.faultDropped.WithLabelValues(peer, dir.String()).Add(float64(n))
		return true
	}
	if copies == 1 && delays[0] == 0 {
		return false
	}
	for i := range copies {
		if i > 0 {
			t.m.faultDuplicated.WithLabelValues(peer, dir.String()).Add(float64(n))
		}
		if delays[i] == 0 {
			deliver()
			continue
		}
		if !t.track() {
			return true
		}
		time.AfterFunc(delays[i], func() {
			defer t.wg.Done()
			deliver()
		})
	}
	return true
}
