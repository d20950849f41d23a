package balance

import (
	"strings"
	"sync"
	"sync/atomic"
)

// maxPeers is the number of names a policy tracks before it forgets idle
// names that are not among the current candidates. A client of a cluster of
// some hundreds of nodes never reaches it; it bounds the memory of a caller
// whose candidate names churn.
const maxPeers = 1024

// peer is what a policy knows about one candidate name. Each policy uses the
// fields it needs.
type peer struct {
	name string

	// inflight counts the picks of this peer not yet Done (least-outstanding
	// and p2c). Invariant: inflight >= 0.
	inflight atomic.Int64

	// p2c's latency estimate. ewma holds the float64 bits of the estimate in
	// nanoseconds as of the policy's sample count stamp; stamp is 0 until
	// the first sample. Both are written with mu held (so that two Done
	// calls do not lose an update) and read without it: a pick that reads
	// one from before a concurrent update and one from after only misjudges
	// a cost a little.
	mu    sync.Mutex
	ewma  atomic.Uint64
	stamp atomic.Uint64

	// Weighted round-robin's state, guarded by its mu. Invariant:
	// 0 <= effective <= weight.
	weight, effective, current int64
}

// table maps names to their peers for least-outstanding and p2c. Lookups
// are lock-free: the map is copied on write, and writes (a name seen for the
// first time) are rare.
type table struct {
	peers atomic.Pointer[map[string]*peer]
	limit int // maxPeers, lowered by tests

	mu sync.Mutex // serializes writers
}

func newTable() *table {
	t := &table{limit: maxPeers}
	m := map[string]*peer{}
	t.peers.Store(&m)
	return t
}

// get returns the peer of name, adding it if it is new. candidates are the
// names of the current Pick; a new name never makes the table forget one of
// them.
func (t *table) get(name string, candidates []string) *peer {
	if pe, ok := (*t.peers.Load())[name]; ok {
		return pe
	}
	return t.add(name, candidates)
}

func (t *table) add(name string, candidates []string) *peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.peers.Load()
	if pe, ok := old[name]; ok {
		return pe // added by a concurrent Pick
	}
	m := make(map[string]*peer, len(old)+1)
	if len(old) < t.limit {
		for k, pe := range old {
			m[k] = pe
		}
	} else {
		keepLocked(m, old, candidates)
	}
	// NB: clone the name, which may point into a larger buffer of the
	// caller's, so that the table keeps only what it needs.
	pe := &peer{name: strings.Clone(name)}
	m[pe.name] = pe
	t.peers.Store(&m)
	return pe
}

// keepLocked copies into m the peers of old that are among candidates or
// have picks in flight, forgetting the rest. A forgotten peer that a
// pending Pick still points at is simply updated by its Done and dropped.
func keepLocked(m, old map[string]*peer, candidates []string) {
	for k, pe := range old {
		if pe.inflight.Load() > 0 {
			m[k] = pe
		}
	}
	for _, c := range candidates {
		if pe, ok := old[c]; ok {
			m[c] = pe
		}
	}
}

// release ends one pick of pe: it decrements pe.inflight, and panics rather
// than let it go negative, which would mean a Pick was Done twice.
func (pe *peer) release() {
	for {
		n := pe.inflight.Load()
		if n <= 0 {
			panic("balance: Pick.Done called more often than Pick for " + pe.name)
		}
		if pe.inflight.CompareAndSwap(n, n-1) {
			return
		}
	}
}
