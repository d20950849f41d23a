package kvtest

import (
	"sync"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/storage"
)

// Group is one group's replicated state, in memory. Safe for concurrent
// use.
type Group struct {
	mu    sync.Mutex // orders Apply
	group uint64
	store *storage.Mem
	m     *kv.Machine
}

// NewGroup returns group's empty state.
func NewGroup(group uint64) *Group {
	return &Group{group: group, store: storage.NewMem(), m: kv.New(group)}
}

// Apply applies one committed entry, in one committed batch, and returns
// its result.
func (g *Group) Apply(e kv.Entry) (kv.Result, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.store.NewBatch()
	defer b.Close()
	res, err := g.m.Apply([]kv.Entry{e}, b, b)
	if err != nil {
		return nil, err
	}
	return res[0], b.Commit(true)
}

// Eval evaluates q on a snapshot of the state.
func (g *Group) Eval(q kv.Query) (kv.Reply, error) {
	var rep kv.Reply
	err := g.View(func(v storage.View) (err error) {
		rep, err = kv.Eval(v, g.group, q)
		return err
	})
	return rep, err
}

// Due are the expiry deletes due at now (Unix nanoseconds by group time),
// at most max, as a leader's sweep proposes them.
func (g *Group) Due(now int64, max int) [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m.Due(g.store, now, max)
}

// View runs fn on a snapshot of the state.
func (g *Group) View(fn func(storage.View) error) error {
	snap := g.store.NewSnapshot()
	defer snap.Close()
	return fn(snap)
}

// Seed writes with fn in one committed batch (a founding state, as
// bootstrap writes it), before any entry.
func (g *Group) Seed(fn func(storage.Batch) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.store.NewBatch()
	defer b.Close()
	if err := fn(b); err != nil {
		return err
	}
	return b.Commit(true)
}

// SeedApplied records index as applied (as an engine's bootstrap leaves
// a group), before any entry: the next entry applied must be index+1.
func (g *Group) SeedApplied(index uint64) error {
	return g.Seed(func(b storage.Batch) error {
		return b.Set(storage.AppliedKey(g.group), storage.EncodeAppliedState(nil, storage.AppliedState{Index: index}))
	})
}

// Applied is the index of the last entry applied (or seeded).
func (g *Group) Applied() (uint64, error) {
	a, err := kv.ReadApplied(g.store, g.group)
	return a.Index, err
}

// Store is the group's store itself, for a test that reads it as a node
// reads its own store (beside the state machine, not through it).
func (g *Group) Store() *storage.Mem { return g.store }
