package gatetest

import (
	"context"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/kv/kvtest"
)

// Meta is a one-replica meta group in memory. Fail, if set before the
// calls, is the error every call answers (a meta group without a leader).
type Meta struct {
	g     *kvtest.Group
	mu    sync.Mutex
	index uint64
	Fail  error
}

// NewMeta is an empty meta group.
func NewMeta() *Meta { return &Meta{g: kvtest.NewGroup(0)} }

// Read implements gate.Meta.
func (m *Meta) Read(_ context.Context, q kv.Query) (kv.Reply, error) {
	if m.Fail != nil {
		return kv.Reply{}, m.Fail
	}
	return m.g.Eval(q)
}

// Propose implements gate.Meta.
func (m *Meta) Propose(_ context.Context, c kv.Command) (kv.Reply, error) {
	if m.Fail != nil {
		return kv.Reply{}, m.Fail
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.index++
	res, err := m.g.Apply(kv.Entry{Index: m.index, Term: 1, Time: time.Now().UnixNano(), Data: c.Encode()})
	if err != nil {
		return kv.Reply{}, err
	}
	return kv.DecodeResult(res)
}
