package storage

import "bytes"

// treap is a persistent (immutable, path-copying) treap: every update returns
// a new root and leaves the old one intact, so a snapshot of a Mem store is
// just a root pointer. A node's priority is a hash of its key, so a set of
// keys has exactly one shape whatever the order of inserts: runs are
// deterministic, and an existing key can never sit below a node of lower
// priority (which is what lets set skip a search before rotating).
//
// Invariant: for every node n, n.prio >= the prio of each of its children,
// and keys in n.left < n.key < keys in n.right.
type treapNode struct {
	key, value  []byte
	del         bool // a point tombstone; used only in a batch's overlay
	prio        uint64
	left, right *treapNode
}

// keyPrio is a 64-bit FNV-1a of key with a splitmix64 finalizer.
func keyPrio(key []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range key {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func treapGet(t *treapNode, key []byte) *treapNode {
	for t != nil {
		switch c := bytes.Compare(key, t.key); {
		case c == 0:
			return t
		case c < 0:
			t = t.left
		default:
			t = t.right
		}
	}
	return nil
}

// treapSplit returns the nodes of t with keys < key and those with keys >= key.
func treapSplit(t *treapNode, key []byte) (lt, ge *treapNode) {
	if t == nil {
		return nil, nil
	}
	n := *t
	if bytes.Compare(t.key, key) < 0 {
		n.right, ge = treapSplit(t.right, key)
		return &n, ge
	}
	lt, n.left = treapSplit(t.left, key)
	return lt, &n
}

// treapMerge joins l and r; every key of l must be below every key of r.
func treapMerge(l, r *treapNode) *treapNode {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.prio >= r.prio:
		n := *l
		n.right = treapMerge(l.right, r)
		return &n
	default:
		n := *r
		n.left = treapMerge(l, r.left)
		return &n
	}
}

// treapSet returns t with key set to value (del marks a tombstone). key and
// value are retained, not copied.
func treapSet(t *treapNode, key, value []byte, del bool, prio uint64) *treapNode {
	if t == nil {
		return &treapNode{key: key, value: value, del: del, prio: prio}
	}
	c := bytes.Compare(key, t.key)
	if c == 0 {
		n := *t
		n.value, n.del = value, del
		return &n
	}
	if prio > t.prio {
		// NB: key is not in t: it would have priority prio > t.prio, below t.
		lt, ge := treapSplit(t, key)
		return &treapNode{key: key, value: value, del: del, prio: prio, left: lt, right: ge}
	}
	n := *t
	if c < 0 {
		n.left = treapSet(t.left, key, value, del, prio)
	} else {
		n.right = treapSet(t.right, key, value, del, prio)
	}
	return &n
}

// treapDelete returns t without key; t itself if key is absent.
func treapDelete(t *treapNode, key []byte) *treapNode {
	if t == nil {
		return nil
	}
	c := bytes.Compare(key, t.key)
	if c == 0 {
		return treapMerge(t.left, t.right)
	}
	n := *t
	if c < 0 {
		n.left = treapDelete(t.left, key)
		if n.left == t.left {
			return t
		}
	} else {
		n.right = treapDelete(t.right, key)
		if n.right == t.right {
			return t
		}
	}
	return &n
}

// treapDeleteRange returns t without the keys in [start, end); a nil end
// means no upper bound.
func treapDeleteRange(t *treapNode, start, end []byte) *treapNode {
	lt, ge := treapSplit(t, start)
	if end == nil {
		return lt
	}
	_, rest := treapSplit(ge, end)
	return treapMerge(lt, rest)
}

// treapIter walks a treap in key order with an explicit stack of the
// ancestors still to visit. The tree is immutable, so no lock is needed.
type treapIter struct {
	root  *treapNode
	stack []*treapNode // top is the current node
}

func (it *treapIter) seekGE(key []byte) {
	it.stack = it.stack[:0]
	for n := it.root; n != nil; {
		if key == nil || bytes.Compare(n.key, key) >= 0 {
			it.stack = append(it.stack, n)
			n = n.left
		} else {
			n = n.right
		}
	}
}

func (it *treapIter) next() {
	if len(it.stack) == 0 {
		return
	}
	n := it.stack[len(it.stack)-1]
	it.stack = it.stack[:len(it.stack)-1]
	for n = n.right; n != nil; n = n.left {
		it.stack = append(it.stack, n)
	}
}

// cur is the current node, or nil when exhausted.
func (it *treapIter) cur() *treapNode {
	if len(it.stack) == 0 {
		return nil
	}
	return it.stack[len(it.stack)-1]
}
