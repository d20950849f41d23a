package driver

import (
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// HardStateLog is how an engine whose hard state is its own encoding
// (paxos, primarybackup) reads and rewrites it for an unsafe recovery:
// its CoreEngine.Recovery and StageRecovery call Recovery and Stage.
// H is the engine's decoded hard state.
type HardStateLog[H any] struct {
	// Engine prefixes decoding errors ("paxos", "primarybackup").
	Engine string
	// Version is the hard-state version Encode writes.
	Version byte
	Decode  func(version byte, b []byte) (H, error)
	Encode  func(H) []byte
	// Commit reads the commit index of a hard state.
	Commit func(H) uint64
	// Lower returns hs with its commit index set to applied and anything
	// that refers to entries above applied trimmed (primary-backup's
	// epoch history); the leadership generation (promise, epoch) stays.
	Lower func(hs H, applied uint64) H
}

// read reads group g's hard state; the zero H if none is stored.
func (c HardStateLog[H]) read(l storage.LogReader, g replica.GroupID) (H, error) {
	var hs H
	version, raw, err := l.ReadHardState(uint64(g))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return hs, nil
	case err != nil:
		return hs, err
	}
	if hs, err = c.Decode(version, raw); err != nil {
		return hs, fmt.Errorf("%s: group %d: %w", c.Engine, g, err)
	}
	return hs, nil
}

// Recovery is CoreEngine.Recovery: the durable commit index (0 when no
// hard state is stored).
func (c HardStateLog[H]) Recovery(l storage.LogReader, g replica.GroupID) (uint64, error) {
	hs, err := c.read(l, g)
	if err != nil {
		return 0, err
	}
	return c.Commit(hs), nil
}

// Stage is CoreEngine.StageRecovery: the log entries above applied
// deleted and the hard state lowered to applied (Lower).
func (c HardStateLog[H]) Stage(l storage.LogReader, w storage.LogWriter, g replica.GroupID, applied uint64) error {
	hs, err := c.read(l, g)
	if err != nil {
		return err
	}
	if err := w.DeleteLogAfter(uint64(g), applied); err != nil {
		return fmt.Errorf("%s: group %d: recovery: %w", c.Engine, g, err)
	}
	return w.SetHardState(uint64(g), c.Version, c.Encode(c.Lower(hs, applied)))
}
