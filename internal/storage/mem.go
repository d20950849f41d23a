package storage

import (
	"bytes"
	"sync"
)

// Mem is an in-memory Store that models one write-ahead log: a commit
// without sync is visible to reads at once but not durable; a commit with
// sync, or Sync, makes everything committed so far durable. Crash returns
// what a power loss would leave: exactly the durable state.
//
// The keyspace is a persistent treap, so snapshots, iterators and Crash are
// O(1) and never block writers. Mem is safe for concurrent use; its batches,
// snapshots and iterators, like Pebble's, are for one goroutine at a time.
type Mem struct {
	mu struct {
		sync.RWMutex
		current *treapNode // everything committed
		durable *treapNode // everything committed up to the last sync
		// seq counts commits; durableSeq is the commit durable holds.
		seq, durableSeq uint64
		closed          bool
	}
}

var _ Store = (*Mem)(nil)

// NewMem returns an empty in-memory store.
func NewMem() *Mem { return &Mem{} }

// root returns the current root, or ErrClosed.
func (m *Mem) root() (*treapNode, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.mu.closed {
		return nil, ErrClosed
	}
	return m.mu.current, nil
}

func (m *Mem) closed() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.mu.closed
}

// Get implements View.
func (m *Mem) Get(key []byte) ([]byte, error) {
	root, err := m.root()
	if err != nil {
		return nil, err
	}
	return memGet(root, key)
}

func memGet(root *treapNode, key []byte) ([]byte, error) {
	n := treapGet(root, key)
	if n == nil {
		return nil, ErrNotFound
	}
	return bytes.Clone(n.value), nil
}

// NewIter implements View.
func (m *Mem) NewIter(lower, upper []byte) (Iterator, error) {
	root, err := m.root()
	if err != nil {
		return nil, err
	}
	return newMemIter(root, nil, nil, lower, upper), nil
}

// NewBatch implements Store.
func (m *Mem) NewBatch() Batch { return &memBatch{m: m} }

// NewSnapshot implements Store. On a closed store the snapshot's reads
// return ErrClosed.
func (m *Mem) NewSnapshot() Snapshot {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return &memSnapshot{m: m, root: m.mu.current, closed: m.mu.closed}
}

// Sync implements Store.
func (m *Mem) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	m.mu.durable, m.mu.durableSeq = m.mu.current, m.mu.seq
	return nil
}

// Close implements Store.
func (m *Mem) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	m.mu.closed = true
	return nil
}

// Crash returns a new, open store holding exactly m's durable state: what a
// power loss at this moment would leave on disk. m itself is unchanged and
// may be open or closed.
func (m *Mem) Crash() *Mem {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c := NewMem()
	c.mu.current, c.mu.durable = m.mu.durable, m.mu.durable
	return c
}

// memSnapshot is a point-in-time root.
type memSnapshot struct {
	m      *Mem
	root   *treapNode
	closed bool
}

func (s *memSnapshot) check() error {
	if s.closed || s.m.closed() {
		return ErrClosed
	}
	return nil
}

func (s *memSnapshot) Get(key []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return memGet(s.root, key)
}

func (s *memSnapshot) NewIter(lower, upper []byte) (Iterator, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return newMemIter(s.root, nil, nil, lower, upper), nil
}

func (s *memSnapshot) Close() error {
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	return nil
}

// keyRange is a range tombstone [start, end) in a batch.
type keyRange struct{ start, end []byte }

// memBatch is an indexed batch: an overlay treap of point writes (tombstones
// marked del) over the store, plus the batch's range tombstones.
//
// Invariant: a point write in overlay is newer than every range tombstone
// covering its key (DeleteRange removes the overlay's points in its range),
// so a read checks overlay, then ranges, then the store; and Commit may apply
// all ranges first and the points after.
type memBatch struct {
	m         *Mem
	overlay   *treapNode
	ranges    []keyRange
	ops       int
	size      int
	committed bool
	closed    bool
}

func (b *memBatch) checkWrite() error {
	switch {
	case b.closed:
		return ErrClosed
	case b.committed:
		return ErrCommitted
	}
	return nil
}

func (b *memBatch) Get(key []byte) ([]byte, error) {
	if b.closed {
		return nil, ErrClosed
	}
	root, err := b.m.root()
	if err != nil {
		return nil, err
	}
	if n := treapGet(b.overlay, key); n != nil {
		if n.del {
			return nil, ErrNotFound
		}
		return bytes.Clone(n.value), nil
	}
	if _, ok := coveredBy(b.ranges, key); ok {
		return nil, ErrNotFound
	}
	return memGet(root, key)
}

func (b *memBatch) NewIter(lower, upper []byte) (Iterator, error) {
	if b.closed {
		return nil, ErrClosed
	}
	root, err := b.m.root()
	if err != nil {
		return nil, err
	}
	return newMemIter(root, b.overlay, b.ranges[:len(b.ranges):len(b.ranges)], lower, upper), nil
}

func (b *memBatch) Set(key, value []byte) error {
	if err := b.checkWrite(); err != nil {
		return err
	}
	k := bytes.Clone(key)
	if k == nil {
		k = []byte{}
	}
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	b.overlay = treapSet(b.overlay, k, v, false, keyPrio(k))
	b.ops++
	b.size += len(k) + len(v) + 8
	return nil
}

func (b *memBatch) Delete(key []byte) error {
	if err := b.checkWrite(); err != nil {
		return err
	}
	k := bytes.Clone(key)
	if k == nil {
		k = []byte{}
	}
	b.overlay = treapSet(b.overlay, k, nil, true, keyPrio(k))
	b.ops++
	b.size += len(k) + 8
	return nil
}

func (b *memBatch) DeleteRange(start, end []byte) error {
	if err := b.checkWrite(); err != nil {
		return err
	}
	b.ops++
	b.size += len(start) + len(end) + 8
	if bytes.Compare(start, end) >= 0 {
		return nil // an empty range, as in pebble
	}
	r := keyRange{bytes.Clone(start), bytes.Clone(end)}
	if r.start == nil {
		r.start = []byte{}
	}
	b.overlay = treapDeleteRange(b.overlay, r.start, r.end)
	b.ranges = append(b.ranges, r)
	return nil
}

func (b *memBatch) Empty() bool { return b.ops == 0 }

func (b *memBatch) Len() int { return b.size }

func (b *memBatch) Commit(sync bool) error {
	_, _, err := b.commit(sync)
	return err
}

// CommitAsync implements Batch: the commit is visible at once, and wait
// makes durable exactly the prefix of commits that ends with this one.
func (b *memBatch) CommitAsync() (func() error, error) {
	root, seq, err := b.commit(false)
	if err != nil {
		return nil, err
	}
	m := b.m
	return func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.mu.closed {
			return ErrClosed
		}
		if seq > m.mu.durableSeq {
			m.mu.durable, m.mu.durableSeq = root, seq
		}
		return nil
	}, nil
}

// commit applies the batch and returns the root and sequence number of
// the commit.
func (b *memBatch) commit(sync bool) (*treapNode, uint64, error) {
	if err := b.checkWrite(); err != nil {
		return nil, 0, err
	}
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return nil, 0, ErrClosed
	}
	root := m.mu.current
	for _, r := range b.ranges {
		root = treapDeleteRange(root, r.start, r.end)
	}
	it := treapIter{root: b.overlay}
	for it.seekGE(nil); it.cur() != nil; it.next() {
		n := it.cur()
		if n.del {
			root = treapDelete(root, n.key)
		} else {
			root = treapSet(root, n.key, n.value, false, n.prio)
		}
	}
	m.mu.current = root
	m.mu.seq++
	if sync {
		m.mu.durable, m.mu.durableSeq = root, m.mu.seq
	}
	b.committed = true
	return root, m.mu.seq, nil
}

func (b *memBatch) Close() error {
	if b.closed {
		return ErrClosed
	}
	b.closed = true
	b.overlay, b.ranges = nil, nil
	return nil
}

// coveredBy reports whether a range in ranges covers key, and that range's end.
func coveredBy(ranges []keyRange, key []byte) (end []byte, ok bool) {
	for _, r := range ranges {
		if bytes.Compare(key, r.start) >= 0 && bytes.Compare(key, r.end) < 0 {
			return r.end, true
		}
	}
	return nil, false
}

// memIter merges a base treap with a batch's overlay and range tombstones
// (both empty for a store or snapshot iterator), within [lower, upper).
type memIter struct {
	base, over   treapIter
	ranges       []keyRange
	lower, upper []byte
	cur          *treapNode
	fromOver     bool
	closed       bool
}

func newMemIter(base, over *treapNode, ranges []keyRange, lower, upper []byte) *memIter {
	return &memIter{
		base:   treapIter{root: base},
		over:   treapIter{root: over},
		ranges: ranges,
		lower:  bytes.Clone(lower),
		upper:  bytes.Clone(upper),
	}
}

func (it *memIter) First() bool { return it.SeekGE(nil) }

func (it *memIter) SeekGE(key []byte) bool {
	if it.closed {
		return false
	}
	if key == nil || (it.lower != nil && bytes.Compare(key, it.lower) < 0) {
		key = it.lower
	}
	it.base.seekGE(key)
	it.over.seekGE(key)
	return it.settle()
}

func (it *memIter) Next() bool {
	if it.closed || it.cur == nil {
		return false
	}
	if it.fromOver {
		it.over.next()
	} else {
		it.base.next()
	}
	return it.settle()
}

// settle positions it.cur on the first visible entry at or after the two
// iterators' positions.
func (it *memIter) settle() bool {
	it.cur = nil
	for {
		b, o := it.base.cur(), it.over.cur()
		var n *treapNode
		switch {
		case b == nil && o == nil:
			return false
		case o != nil && (b == nil || bytes.Compare(o.key, b.key) <= 0):
			if b != nil && bytes.Equal(o.key, b.key) {
				it.base.next() // shadowed by the batch
			}
			if o.del {
				it.over.next()
				continue
			}
			n, it.fromOver = o, true
		default:
			if end, ok := coveredBy(it.ranges, b.key); ok {
				it.base.seekGE(end)
				continue
			}
			n, it.fromOver = b, false
		}
		if it.upper != nil && bytes.Compare(n.key, it.upper) >= 0 {
			return false
		}
		it.cur = n
		return true
	}
}

func (it *memIter) Valid() bool { return it.cur != nil }

func (it *memIter) Key() []byte {
	if it.cur == nil {
		return nil
	}
	return it.cur.key
}

func (it *memIter) Value() []byte {
	if it.cur == nil {
		return nil
	}
	return it.cur.value
}

func (it *memIter) Error() error {
	if it.closed {
		return ErrClosed
	}
	return nil
}

func (it *memIter) Close() error {
	if it.closed {
		return ErrClosed
	}
	it.closed = true
	it.cur = nil
	return nil
}
