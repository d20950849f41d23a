package paxos

import (
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

// Name is the engine's name (--engine paxos).
const Name = "paxos"

// bootstrapIndex is where a founded group's log starts: the log is
// truncated there and the applied state is there, so that a replica
// created later by a message (commit 0) is below every leader's truncated
// point and gets a snapshot, which carries the configuration.
const bootstrapIndex = 10

// Engine builds Paxos cores: a driver.CoreEngine.
type Engine struct{}

var _ driver.CoreEngine = Engine{}

// Name implements driver.CoreEngine.
func (Engine) Name() string { return Name }

// NewCore implements driver.CoreEngine.
func (Engine) NewCore(cfg driver.CoreConfig) (driver.Core, error) { return newCore(cfg) }

// Bootstrap implements driver.CoreEngine: an empty log truncated at
// bootstrapIndex, nothing promised, commit and applied state there.
func (Engine) Bootstrap(b storage.Batch, desc replica.Descriptor) error {
	g := uint64(desc.Group)
	switch _, err := b.Get(storage.HardStateKey(g)); {
	case err == nil:
		return fmt.Errorf("paxos: group %d: bootstrap: already has a hard state", g)
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("paxos: group %d: bootstrap: %w", g, err)
	}
	if err := storage.SetSnapshotPoint(b, g, storage.LogPoint{Index: bootstrapIndex}, storage.KeepNone); err != nil {
		return err
	}
	if err := storage.SetHardState(b, g, hardStateVersion, encodeHardState(hardState{commit: bootstrapIndex})); err != nil {
		return err
	}
	return b.Set(storage.AppliedKey(g), storage.EncodeAppliedState(nil, storage.AppliedState{Index: bootstrapIndex}))
}

// DecodeSnapshot implements driver.CoreEngine.
func (Engine) DecodeSnapshot(msg []byte) (driver.SnapshotPoint, replica.ReplicaID, replica.ReplicaID, error) {
	m, err := decodeMessage(msg)
	if err != nil {
		return driver.SnapshotPoint{}, 0, 0, err
	}
	if m.Type != msgSnapshot {
		return driver.SnapshotPoint{}, 0, 0, fmt.Errorf("%w: not a snapshot", errMessage)
	}
	return driver.SnapshotPoint{Index: m.Index, Term: m.Term, Conf: m.Config}, m.From, m.To, nil
}

// Recovery implements driver.CoreEngine: the durable commit index.
func (Engine) Recovery(v storage.View, g replica.GroupID) (uint64, error) {
	version, b, err := storage.ReadHardState(v, uint64(g))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	hs, err := decodeHardState(version, b)
	if err != nil {
		return 0, fmt.Errorf("paxos: group %d: %w", g, err)
	}
	return hs.commit, nil
}

// StageRecovery implements driver.CoreEngine: the slots above applied
// deleted, the commit lowered to applied, the promise kept (a ballot is
// never reused).
func (Engine) StageRecovery(v storage.View, b storage.Batch, g replica.GroupID, applied uint64) error {
	var hs hardState
	version, raw, err := storage.ReadHardState(v, uint64(g))
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return err
	default:
		if hs, err = decodeHardState(version, raw); err != nil {
			return fmt.Errorf("paxos: group %d: %w", g, err)
		}
	}
	_, end := storage.LogSpan(uint64(g))
	if err := b.DeleteRange(storage.LogKey(uint64(g), applied+1), end); err != nil {
		return fmt.Errorf("paxos: group %d: recovery: %w", g, err)
	}
	hs.commit = applied
	return storage.SetHardState(b, uint64(g), hardStateVersion, encodeHardState(hs))
}
