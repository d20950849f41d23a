package primarybackup

import (
	"fmt"
	"slices"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

var _ driver.Core = (*Core)(nil)

// engineReady is the core's part of a Ready (driver.Ready.Engine).
type engineReady struct {
	writes   []write
	cut      bool
	cutAbove uint64
	hs       []byte
	snap     *driver.SnapshotPoint
	// last is the log's last index when the Ready was made: durable once
	// it is advanced (the primary's own ack).
	last  uint64
	calls []storeCall
	// rollbacks are recorded (Options.Rollbacks) before the batch is
	// written: nothing is discarded unrecorded.
	rollbacks []Rollback
}

type write struct {
	index uint64
	value []byte
}

// HasReady implements driver.Core.
func (c *Core) HasReady() bool {
	return len(c.msgs) > 0 || len(c.dirty) > 0 || len(c.rollbacks) > 0 || c.cut || c.hsDirty || c.snapshot != nil ||
		c.commit > c.handedOut || len(c.readStates) > 0 || len(c.storeQ) > 0 ||
		c.soft != (driver.SoftState{State: c.state(), Leader: c.primary}) ||
		(c.lead != nil && c.lead.readRound)
}

// Ready implements driver.Core.
func (c *Core) Ready() driver.Ready {
	var rd driver.Ready
	er := &engineReady{last: c.lastIndex()}
	if c.lead != nil && c.lead.readRound {
		// One confirmation round for the reads of this round.
		c.lead.readRound = false
		c.lead.hbSeq++
		c.broadcast(true)
		c.answerReads() // in-sync alone, nothing to wait for
	}
	if soft := (driver.SoftState{State: c.state(), Leader: c.primary}); soft != c.soft {
		c.soft = soft
		rd.Soft = &soft
	}
	if c.snapshot != nil {
		rd.Snapshot, er.snap = c.snapshot, c.snapshot
		c.snapshot = nil
	}
	er.cut, er.cutAbove = c.cut, c.cutAbove
	c.cut, c.cutAbove = false, 0
	for _, i := range c.dirty {
		e := c.entry(i)
		if e == nil {
			continue
		}
		v := encodeEntry(nil, e)
		c.logSize += storage.LogSlotSize(len(v))
		er.writes = append(er.writes, write{index: i, value: v})
		rd.Entries = append(rd.Entries, driver.LogEntry{Index: i, Term: e.epoch, Type: e.typ, Data: e.data})
	}
	c.dirty = nil
	if c.hsDirty {
		er.hs = encodeHardState(c.hardState())
		c.hsDirty = false
	}
	rd.MustSync = c.mustSync || er.snap != nil
	c.mustSync = false
	rd.Messages, c.msgs = c.msgs, nil
	end := min(c.commit, c.handedOut+maxCommittedPerReady)
	for i := c.handedOut + 1; i <= end; i++ {
		e := c.entry(i)
		rd.Committed = append(rd.Committed, driver.LogEntry{Index: i, Term: e.epoch, Type: e.typ, Data: e.data})
	}
	c.handedOut = max(c.handedOut, end)
	rd.Reads, c.readStates = c.readStates, nil
	er.calls, c.storeQ = c.storeQ, nil
	er.rollbacks, c.rollbacks = c.rollbacks, nil
	rd.Engine = er
	return rd
}

func (c *Core) hardState() hardState {
	return hardState{
		epoch: c.epoch, commit: c.commit, truncHash: c.truncHash,
		recVersion: c.recVersion, rec: c.rec, history: slices.Clone(c.history), rebuild: c.rebuild,
	}
}

// Stage implements driver.Core: the snapshot point, the deletion of a
// divergent suffix, the entries and the hard state, in that order.
func (c *Core) Stage(w storage.LogWriter, rd *driver.Ready) error {
	er, ok := rd.Engine.(*engineReady)
	if !ok {
		return fmt.Errorf("primarybackup: group %d: stage a Ready of another engine", c.group)
	}
	if er.snap != nil {
		if err := w.SetSnapshotPoint(c.group, storage.LogPoint{Index: er.snap.Index, Term: er.snap.Term}, storage.KeepNone); err != nil {
			return err
		}
	}
	if er.cut {
		if err := w.DeleteLogAfter(c.group, er.cutAbove); err != nil {
			return err
		}
	}
	for _, s := range er.writes {
		if err := w.SetLogSlot(c.group, s.index, s.value); err != nil {
			return err
		}
	}
	if er.hs != nil {
		if err := w.SetHardState(c.group, hardStateVersion, er.hs); err != nil {
			return err
		}
	}
	return nil
}

// Advance implements driver.Core: what rd staged is durable; a primary
// counts its own copy of the entries now.
func (c *Core) Advance(rd driver.Ready) {
	er, ok := rd.Engine.(*engineReady)
	if !ok || c.role != rolePrimary {
		return
	}
	if er.last > c.lead.selfMatch && er.last <= c.lastIndex() {
		c.lead.selfMatch = er.last
	}
	c.tryCommit()
}

// StoreCalls returns the configuration store calls a Ready asks for (the
// shell makes them once the Ready is advanced).
func StoreCalls(rd driver.Ready) []storeCall {
	if er, ok := rd.Engine.(*engineReady); ok {
		return er.calls
	}
	return nil
}

// Log implements driver.Core.
func (c *Core) Log() driver.Log { return coreLog{c} }

type coreLog struct{ c *Core }

func (l coreLog) FirstIndex() uint64 { return l.c.firstIndex() }
func (l coreLog) LastIndex() uint64  { return l.c.lastIndex() }
func (l coreLog) LogSize() uint64    { return l.c.logSize }

// StageTruncate drops the entries up to to, committed and handed out, and
// keeps h at the new truncated point in the hard state.
func (l coreLog) StageTruncate(w storage.LogWriter, to uint64) error {
	c := l.c
	if to <= c.trunc.Index {
		return nil
	}
	if to > c.commit || to > c.handedOut {
		return fmt.Errorf("primarybackup: group %d: truncate to %d past commit %d or handed out %d", c.group, to, c.commit, c.handedOut)
	}
	p := storage.LogPoint{Index: to, Term: c.entry(to).epoch}
	if err := w.TruncateLog(c.group, p); err != nil {
		return err
	}
	c.truncateTo(p)
	return w.SetHardState(c.group, hardStateVersion, encodeHardState(c.hardState()))
}

// Basic implements driver.Core. Term is the epoch.
func (c *Core) Basic() driver.Basic {
	return driver.Basic{State: c.state(), Leader: c.primary, Term: c.epoch, Commit: c.commit}
}

// Progress implements driver.Core: a primary's view of every member.
func (c *Core) Progress() map[replica.ReplicaID]driver.Progress {
	if c.role != rolePrimary {
		return nil
	}
	pr := map[replica.ReplicaID]driver.Progress{
		c.id: {Match: c.lead.selfMatch, Next: c.lastIndex() + 1, Active: true, Replicating: true},
	}
	for id, p := range c.lead.peers {
		g := driver.Progress{
			Match: p.match, Next: p.next, Learner: slices.Contains(c.conf.Learners, id),
			Active: p.silent < c.electionTicks, Replicating: !p.probing && p.snapTicks == 0,
		}
		if p.snapTicks > 0 {
			g.PendingSnapshot = c.trunc.Index
		}
		pr[id] = g
	}
	return pr
}

// EngineStatus implements driver.Core.
func (c *Core) EngineStatus() replica.EngineStatus {
	f := map[string]any{
		"epoch":          c.epoch,
		"primary":        uint64(c.rec.Primary),
		"in_sync":        slices.Clone(c.rec.InSync),
		"record_version": c.recVersion,
		"commit":         c.commit,
		"mode":           c.opts.Mode.String(),
	}
	if c.role == rolePrimary {
		f["in_office"] = c.inOffice()
	}
	if c.rebuild != 0 {
		f["rebuilding_from"] = c.rebuild
	}
	f["last_index"] = c.lastIndex()
	if fp := c.forced; fp != nil {
		f["forced_state"] = fp.State
		f["forced_epoch"] = fp.Epoch
		f["forced_may_lose"] = fp.MayLose()
	}
	if fo := c.failover; fo != nil {
		f["last_failover_epoch"] = fo.Epoch
		f["last_failover_index"] = fo.LastIndex
		f["last_failover_lag_entries"] = fo.LagEntries()
	}
	f["rolled_back_entries"] = c.rb.Entries
	f["rollbacks"] = c.rb.Rollbacks
	if c.rb.Rollbacks > 0 {
		f["last_rollback_epoch"] = c.rb.LastEpoch
		f["last_rollback_after"] = c.rb.LastAfter
		f["last_rollback_offsets"] = slices.Clone(c.rb.LastOffsets)
	}
	c.lagStatus(f)
	return replica.EngineStatus{Name: Name, Fields: f}
}

// ChangeContext implements driver.Core: the driver's frame of a
// membership change; nil for a record entry.
func (c *Core) ChangeContext(e driver.LogEntry) ([]byte, error) {
	if e.Type != driver.EntryChange {
		return nil, fmt.Errorf("primarybackup: entry %d is not a change", e.Index)
	}
	ce, err := decodeChange(e.Data)
	if err != nil {
		return nil, fmt.Errorf("primarybackup: group %d: entry %d: %w", c.group, e.Index, err)
	}
	return ce.change.Context, nil
}

// ApplyChange implements driver.Core: the change's ops applied to the
// configuration, whose engine section becomes the record the entry
// carries (epoch, primary, in-sync set). Entries are applied in log
// order, so every replica's configuration follows the same sequence.
func (c *Core) ApplyChange(e driver.LogEntry) (driver.Conf, error) {
	ce, err := decodeChange(e.Data)
	if err != nil {
		return driver.Conf{}, fmt.Errorf("primarybackup: group %d: entry %d: %w", c.group, e.Index, err)
	}
	next := c.conf.With(ce.change.Ops)
	next.Engine = encodeSection(ce.rec)
	c.conf = next
	c.confApplied = max(c.confApplied, e.Index)
	if c.role == rolePrimary {
		c.syncPeers()
	}
	return next.Clone(), nil
}
