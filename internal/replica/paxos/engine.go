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

// recoveryLog reads and lowers the hard state for an unsafe recovery:
// the slots above applied deleted, the commit lowered to applied, the
// promise kept (a ballot is never reused).
var recoveryLog = driver.HardStateLog[hardState]{
	Engine:  "paxos",
	Version: hardStateVersion,
	Decode:  decodeHardState,
	Encode:  encodeHardState,
	Commit:  func(hs hardState) uint64 { return hs.commit },
	Lower: func(hs hardState, applied uint64) hardState {
		hs.commit = applied
		return hs
	},
}

// Recovery implements driver.CoreEngine: the durable commit index.
func (Engine) Recovery(l storage.LogReader, g replica.GroupID) (uint64, error) {
	return recoveryLog.Recovery(l, g)
}

// StageRecovery implements driver.CoreEngine (recoveryLog).
func (Engine) StageRecovery(l storage.LogReader, w storage.LogWriter, g replica.GroupID, applied uint64) error {
	return recoveryLog.Stage(l, w, g, applied)
}
