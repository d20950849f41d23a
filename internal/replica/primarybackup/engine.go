package primarybackup

import (
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

// Name is the engine's name (--engine primary-backup).
const Name = "primary-backup"

// bootstrapIndex is where a founded group's log starts, at epoch 1: a
// replica created later by a message is below every primary's truncated
// point and gets a snapshot.
const bootstrapIndex = 10

// Engine builds primary-backup cores: a driver.CoreEngine.
type Engine struct {
	Options Options
}

var _ driver.CoreEngine = Engine{}

// Name implements driver.CoreEngine.
func (Engine) Name() string { return Name }

// NewCore implements driver.CoreEngine: the pure core inside a shell that
// makes the core's configuration store calls and posts their answers back.
func (e Engine) NewCore(cfg driver.CoreConfig) (driver.Core, error) {
	if cfg.ConfigStore == nil || cfg.Post == nil {
		return nil, fmt.Errorf("primarybackup: group %d: the engine keeps its configuration in the meta group and needs a configuration store", cfg.Group)
	}
	c, err := newCore(cfg, e.Options)
	if err != nil {
		return nil, err
	}
	rb := e.Options.Rollbacks
	if rb == nil {
		rb = logRollbacks{c.logger}
	}
	return &Shell{Core: c, Store: cfg.ConfigStore, Post: cfg.Post, Rollbacks: rb}, nil
}

// Shell is a Core with its I/O: after each Ready it makes the calls the
// core asked of the configuration store, and posts each answer back to
// the core as a message from itself. The core itself stays pure.
type Shell struct {
	*Core
	Store     replica.ConfigStore
	Post      func([]byte)
	Rollbacks RollbackLog
}

// Stage implements driver.Core: what the Ready rolls back is recorded
// (durably) before the batch that discards it is staged; an error fails
// the round, so nothing is discarded unrecorded.
func (s *Shell) Stage(w storage.LogWriter, rd *driver.Ready) error {
	if er, ok := rd.Engine.(*engineReady); ok {
		for _, r := range er.rollbacks {
			if err := s.Rollbacks.Record(r); err != nil {
				return fmt.Errorf("primarybackup: group %d: recording a rollback: %w", s.group, err)
			}
		}
	}
	return s.Core.Stage(w, rd)
}

// Advance implements driver.Core.
func (s *Shell) Advance(rd driver.Ready) {
	s.Core.Advance(rd)
	for _, call := range StoreCalls(rd) {
		s.issue(call)
	}
}

func (s *Shell) issue(call storeCall) {
	id, post := call.ID, s.Post
	if call.Get {
		s.Store.Get(call.Key, func(value []byte, version uint64, err error) {
			post(encodeMessage(storeAnswer(id, value, version, err)))
		})
		return
	}
	s.Store.CompareAndSwap(call.Key, call.Version, call.Value, func(version uint64, err error) {
		post(encodeMessage(storeAnswer(id, nil, version, err)))
	})
}

// storeAnswer is a configuration store's answer as a message to the core.
func storeAnswer(op uint64, value []byte, version uint64, err error) *message {
	m := &message{Type: msgStore, Op: op, Version: version, Value: value}
	if c, ok := replica.IsConfigConflict(err); ok {
		m.Result, m.Version, m.Value = storeConflict, c.Version, c.Value
	} else if errors.Is(err, replica.ErrNotApplied) {
		m.Result = storeNotApplied
	} else if err != nil {
		m.Result = storeUnknown
	}
	return m
}

// Bootstrap implements driver.CoreEngine: an empty log truncated at
// bootstrapIndex (epoch 1), commit and applied state there, and the
// founding record (epoch 1, the first voter primary, every voter in sync),
// which the primary writes to the store before it takes office.
func (Engine) Bootstrap(b storage.Batch, desc replica.Descriptor) error {
	g := uint64(desc.Group)
	switch _, err := b.Get(storage.HardStateKey(g)); {
	case err == nil:
		return fmt.Errorf("primarybackup: group %d: bootstrap: already has a hard state", g)
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("primarybackup: group %d: bootstrap: %w", g, err)
	}
	c := &Core{conf: driver.ConfOf(desc)}
	if err := c.foundingRecord(); err != nil {
		return err
	}
	if err := storage.SetSnapshotPoint(b, g, storage.LogPoint{Index: bootstrapIndex, Term: c.rec.Epoch}, storage.KeepNone); err != nil {
		return err
	}
	hs := hardState{epoch: c.rec.Epoch, commit: bootstrapIndex, rec: c.rec}
	if err := storage.SetHardState(b, g, hardStateVersion, encodeHardState(hs)); err != nil {
		return err
	}
	// The applied term is the log's at bootstrapIndex: a snapshot taken
	// before anything else is applied says that point (else a member
	// finds the point's epoch differs from its primary's log, forever).
	return b.Set(storage.AppliedKey(g), storage.EncodeAppliedState(nil, storage.AppliedState{Index: bootstrapIndex, Term: c.rec.Epoch}))
}

// SnapshotMessage implements driver.CoreEngine.
func (Engine) SnapshotMessage(msg []byte, at driver.SnapshotPoint) ([]byte, error) {
	m, err := decodeMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.Type != msgSnapshot {
		return nil, fmt.Errorf("%w: not a snapshot", errMessage)
	}
	m.Index, m.Term, m.Conf = at.Index, at.Term, at.Conf.Clone()
	return encodeMessage(m), nil
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
	return driver.SnapshotPoint{Index: m.Index, Term: m.Term, Conf: m.Conf}, m.From, m.To, nil
}

// Joint implements driver.CoreEngine.
func (Engine) Joint() bool { return false }

// ErrFollowerReads is the error of a follower read: not served.
var ErrFollowerReads = fmt.Errorf("primarybackup: follower reads are not linearizable on the primary-backup engine "+
	"(only the primary, after every in-sync member confirms its epoch, knows what is acknowledged); "+
	"read from the primary (linearizable) or use a stale read: %w", replica.ErrUnsupported)

// Serves implements driver.CoreEngine: linearizable reads on the primary
// and stale reads anywhere; follower reads are refused (ErrFollowerReads).
func (Engine) Serves(mode replica.ReadMode) error {
	if mode == replica.Follower {
		return ErrFollowerReads
	}
	return nil
}

// recoveryLog reads and lowers the hard state for an unsafe recovery:
// the entries above applied deleted, the commit lowered to applied, any
// rebuild point dropped and the epoch history trimmed to it; the epoch
// kept.
var recoveryLog = driver.HardStateLog[hardState]{
	Engine:  "primarybackup",
	Version: hardStateVersion,
	Decode:  decodeHardState,
	Encode:  encodeHardState,
	Commit:  func(hs hardState) uint64 { return hs.commit },
	Lower: func(hs hardState, applied uint64) hardState {
		hs.commit, hs.rebuild = applied, 0 // it keeps what it applied, rolled back or not
		for len(hs.history) > 0 && hs.history[len(hs.history)-1].First > applied {
			hs.history = hs.history[:len(hs.history)-1]
		}
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
