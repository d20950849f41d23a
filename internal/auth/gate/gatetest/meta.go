// Package gatetest is an in-memory meta group for the tests of what reads
// and writes users and join tokens (gate.Meta): a real kv state machine
// over an in-memory store, one command per entry, applied at once.
package gatetest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/storage"
)

// Meta is a one-replica meta group in memory. Fail, if set, is the error
// every call answers (a meta group without a leader).
type Meta struct {
	mu    sync.Mutex
	m     *kv.Machine
	s     *storage.Mem
	index uint64
	Fail  error
}

// NewMeta is an empty meta group.
func NewMeta() *Meta { return &Meta{m: kv.New(0), s: storage.NewMem()} }

// Read implements gate.Meta.
func (m *Meta) Read(_ context.Context, q kv.Query) (kv.Reply, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return kv.Reply{}, m.Fail
	}
	return kv.Eval(m.s, 0, q)
}

// Propose implements gate.Meta.
func (m *Meta) Propose(_ context.Context, c kv.Command) (kv.Reply, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return kv.Reply{}, m.Fail
	}
	m.index++
	b := m.s.NewBatch()
	res, err := m.m.Apply([]kv.Entry{{Index: m.index, Term: 1, Time: time.Now().UnixNano(), Data: c.Encode()}}, b, b)
	if err != nil {
		return kv.Reply{}, err
	}
	if err := b.Commit(true); err != nil {
		return kv.Reply{}, err
	}
	if len(res) != 1 {
		return kv.Reply{}, errors.New("gatetest: no result")
	}
	return kv.DecodeResult(res[0])
}
