package storage

// CutStage is where a simulated power cut strikes a synced commit.
type CutStage int

const (
	CutNone       CutStage = iota
	CutBeforeSync          // the commit is visible, its fsync never happens
	CutAfterSync           // the fsync happens, what follows it does not
)

// PowerSwitch is a Mem whose power a simulation can cut inside an fsync.
// While Armed reports a stage, the next synced commit (Commit(true),
// CommitAsync's wait, or Sync) calls Cut at that stage: before its data is
// durable or just after. Cut must not return (it panics to unwind the
// caller's round, as a power loss would end it); the simulation then
// restarts the node from Mem.Crash. Unsynced commits are never cut.
type PowerSwitch struct {
	*Mem
	Armed func() CutStage
	Cut   func(CutStage)
}

func (s *PowerSwitch) maybeCut(at CutStage) {
	if s.Armed() == at {
		s.Cut(at)
	}
}

// NewBatch returns a batch whose synced commits the switch can cut.
func (s *PowerSwitch) NewBatch() Batch { return &switchBatch{Batch: s.Mem.NewBatch(), s: s} }

// Sync is Mem's, cut before or after as armed.
func (s *PowerSwitch) Sync() error {
	s.maybeCut(CutBeforeSync)
	err := s.Mem.Sync()
	s.maybeCut(CutAfterSync)
	return err
}

type switchBatch struct {
	Batch
	s *PowerSwitch
}

func (b *switchBatch) Commit(sync bool) error {
	if !sync {
		return b.Batch.Commit(false)
	}
	if b.s.Armed() == CutBeforeSync {
		// Visible, never durable: commit unsynced, then lose power.
		if err := b.Batch.Commit(false); err != nil {
			return err
		}
		b.s.Cut(CutBeforeSync)
	}
	err := b.Batch.Commit(true)
	b.s.maybeCut(CutAfterSync)
	return err
}

func (b *switchBatch) CommitAsync() (func() error, error) {
	wait, err := b.Batch.CommitAsync()
	if err != nil {
		return nil, err
	}
	return func() error {
		b.s.maybeCut(CutBeforeSync)
		err := wait()
		b.s.maybeCut(CutAfterSync)
		return err
	}, nil
}
