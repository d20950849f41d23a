package sim

import (
	"fmt"

	"github.com/cairnkv/cairn/internal/replica"
)

// The meta group's configuration store (replica.ConfigStore), for the
// engines that keep records in it (primary-backup): one MemConfigStore
// for the cluster, standing in for group 0. A node reaches it only while
// it reaches a majority of the nodes (where the meta group's leader would
// be); a call from a node that does not fails as not applied. The store's
// queue is drained once a tick (drainMeta), so answers come later than
// the call, from outside any round, as the node's store answers from its
// goroutines.

// nodeMeta is the store as node n reaches it.
type nodeMeta struct{ n *node }

// used starts draining the store at the first call: a run whose engine
// never calls it (Raft, Paxos) has no drain events, so its history is what
// it was before the store existed.
func (m nodeMeta) used() {
	if s := m.n.s; !s.metaUsed {
		s.metaUsed = true
		s.after(tickMS, s.drainMeta)
	}
}

var _ replica.ConfigStore = nodeMeta{}

func (m nodeMeta) reachable() bool {
	s, n := m.n.s, m.n
	reach := 0
	for _, o := range s.nodes {
		if o == n || o.up && !s.net.cut(n, o) {
			reach++
		}
	}
	return reach > len(s.nodes)/2
}

func (m nodeMeta) CompareAndSwap(key string, version uint64, value []byte, done func(uint64, error)) {
	m.used()
	s, n := m.n.s, m.n
	if !m.reachable() {
		s.meta.Get(key, func([]byte, uint64, error) {
			n.dirty = true
			done(0, fmt.Errorf("%w: sim: %s cannot reach the meta group", replica.ErrNotApplied, n.name))
		})
		return
	}
	s.meta.CompareAndSwap(key, version, value, func(v uint64, err error) {
		n.dirty = true
		done(v, err)
	})
}

func (m nodeMeta) Get(key string, done func([]byte, uint64, error)) {
	m.used()
	s, n := m.n.s, m.n
	reachable := m.reachable()
	s.meta.Get(key, func(value []byte, version uint64, err error) {
		n.dirty = true
		if !reachable {
			done(nil, 0, fmt.Errorf("%w: sim: %s cannot reach the meta group", replica.ErrNotApplied, n.name))
			return
		}
		done(value, version, err)
	})
}

func (m nodeMeta) Watch(key string, fn func([]byte, uint64)) func() {
	m.used()
	n := m.n
	return m.n.s.meta.Watch(key, func(value []byte, version uint64) {
		n.dirty = true
		fn(value, version)
	})
}

// drainMeta lets the meta group answer everything asked so far, once a
// tick.
func (s *world) drainMeta() {
	s.after(tickMS, s.drainMeta)
	if s.meta.Pending() > 0 {
		s.mix(uint64(s.meta.Run()))
	}
}
