package paxos

import (
	"fmt"
	"maps"
	"slices"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

var _ driver.Core = (*Core)(nil)

func pointOf(at driver.SnapshotPoint) storage.LogPoint {
	return storage.LogPoint{Index: at.Index, Term: at.Term}
}

// HasReady implements driver.Core.
func (c *Core) HasReady() bool {
	return len(c.msgs) > 0 || len(c.accepts) > 0 || len(c.dirty) > 0 || c.hsDirty ||
		c.snapshot != nil || c.commit > c.handedOut || len(c.readStates) > 0 ||
		c.soft != (driver.SoftState{State: c.state, Leader: c.leader}) ||
		(c.lead != nil && c.lead.readRound)
}

// Ready implements driver.Core. What it returns is handed out: the core
// does not return it again.
func (c *Core) Ready() driver.Ready {
	var rd driver.Ready
	er := &engineReady{}
	if c.lead != nil && c.lead.readRound {
		c.broadcastHeartbeat() // one confirmation round for the reads of this round
	}
	c.flushAccepts()
	if soft := (driver.SoftState{State: c.state, Leader: c.leader}); soft != c.soft {
		c.soft = soft
		rd.Soft = &soft
	}
	if c.snapshot != nil {
		rd.Snapshot, er.snap = c.snapshot, c.snapshot
		c.snapshot = nil
	}
	for _, i := range slices.Sorted(maps.Keys(c.dirty)) {
		s := c.slot(i)
		if s == nil {
			continue // truncated since, by a snapshot
		}
		v := encodeSlot(nil, s)
		c.logSize += storage.LogSlotSize(len(v))
		er.writes = append(er.writes, write{index: i, ballot: s.ballot, value: v})
		rd.Entries = append(rd.Entries, driver.LogEntry{Index: i, Term: s.ballot.Int(), Type: s.typ, Data: s.data})
	}
	clear(c.dirty)
	if c.hsDirty {
		er.hs = encodeHardState(hardState{promise: c.promise, commit: c.commit})
		er.promise = c.promise
		c.hsDirty = false
	}
	er.cutAbove, c.cutAbove = c.cutAbove, 0
	rd.MustSync = c.mustSync || er.snap != nil
	c.mustSync = false
	rd.Messages, c.msgs = c.msgs, nil
	end := min(c.commit, c.handedOut+maxCommittedPerReady)
	for i := c.handedOut + 1; i <= end; i++ {
		s := c.slot(i)
		rd.Committed = append(rd.Committed, driver.LogEntry{Index: i, Term: s.ballot.Int(), Type: s.typ, Data: s.data})
	}
	c.handedOut = max(c.handedOut, end)
	rd.Reads, c.readStates = c.readStates, nil
	rd.Engine = er
	return rd
}

// flushAccepts turns the slots queued per peer into accept messages, the
// leader's commit piggybacked.
func (c *Core) flushAccepts() {
	if c.state != replica.StateLeader {
		clear(c.accepts)
		return
	}
	for _, id := range slices.Sorted(maps.Keys(c.accepts)) {
		idx := c.accepts[id]
		slices.Sort(idx)
		idx = slices.Compact(idx)
		var m *message
		for _, i := range idx {
			s := c.slot(i)
			if s == nil || s.ballot != c.ballot {
				continue
			}
			if m == nil || len(m.Slots) == maxSlotsPerMsg {
				if m != nil {
					c.send(id, driver.MsgEarly, m)
				}
				m = &message{Type: msgAccept, Ballot: c.ballot, Commit: c.commit}
			}
			m.Slots = append(m.Slots, wireSlot{Index: i, Ballot: s.ballot, Type: s.typ, Data: s.data})
		}
		if m != nil {
			c.send(id, driver.MsgEarly, m)
		}
	}
	clear(c.accepts)
}

// Stage implements driver.Core: the snapshot point (keeping the accepted
// slots above it), the slots and the hard state, in that order, into b.
func (c *Core) Stage(w storage.LogWriter, rd *driver.Ready) error {
	er, ok := rd.Engine.(*engineReady)
	if !ok {
		return fmt.Errorf("paxos: group %d: stage a Ready of another engine", c.group)
	}
	if er.snap != nil {
		keep := storage.KeepAbove
		if broken.snapDropsVotes {
			keep = storage.KeepNone
		}
		if err := w.SetSnapshotPoint(c.group, pointOf(*er.snap), keep); err != nil {
			return err
		}
	}
	for _, s := range er.writes {
		if err := w.SetLogSlot(c.group, s.index, s.value); err != nil {
			return err
		}
	}
	if er.cutAbove != 0 {
		if err := w.DeleteLogAfter(c.group, er.cutAbove); err != nil {
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

// Advance implements driver.Core: what rd staged is durable. A leader
// counts its own accept of a slot now; a candidate's promise to itself is
// durable, so its prepares may leave.
func (c *Core) Advance(rd driver.Ready) {
	er, ok := rd.Engine.(*engineReady)
	if !ok {
		return
	}
	if c.state == replica.StateLeader {
		for _, w := range er.writes {
			if acks, ok := c.lead.acks[w.index]; ok && w.ballot == c.ballot {
				acks[c.id] = struct{}{}
			}
		}
		c.tryCommit()
	}
	if c.state == replica.StateCandidate && c.p1 != nil && !c.p1.started && er.hs != nil && er.promise == c.ballot {
		c.startPhase1()
	}
}

// Log implements driver.Core.
func (c *Core) Log() driver.Log { return coreLog{c} }

type coreLog struct{ c *Core }

func (l coreLog) FirstIndex() uint64 { return l.c.firstIndex() }
func (l coreLog) LastIndex() uint64  { return l.c.lastIndex() }
func (l coreLog) LogSize() uint64    { return l.c.logSize }

// StageTruncate drops the slots up to to, which must be chosen and handed
// out (storage refuses past the applied index).
func (l coreLog) StageTruncate(w storage.LogWriter, to uint64) error {
	c := l.c
	if to <= c.trunc.Index {
		return nil
	}
	if to > c.commit || to > c.handedOut {
		return fmt.Errorf("paxos: group %d: truncate to %d past commit %d or handed out %d", c.group, to, c.commit, c.handedOut)
	}
	p := storage.LogPoint{Index: to, Term: c.slot(to).ballot.Int()}
	if err := w.TruncateLog(c.group, p); err != nil {
		return err
	}
	c.truncateTo(p)
	return nil
}

// Basic implements driver.Core. Term is the promise as one integer.
func (c *Core) Basic() driver.Basic {
	b := driver.Basic{State: c.state, Leader: c.leader, Term: c.promise.Int(), Commit: c.commit}
	if c.lead != nil {
		b.LeadTransferee = c.lead.transferee
	}
	return b
}

// Progress implements driver.Core: a peer's Match is its commit index
// (what it holds chosen, contiguously).
func (c *Core) Progress() map[replica.ReplicaID]driver.Progress {
	if c.state != replica.StateLeader {
		return nil
	}
	pr := map[replica.ReplicaID]driver.Progress{
		c.id: {Match: c.lastIndex(), Next: c.lastIndex() + 1, Learner: !c.isVoter(c.id), Active: true, Replicating: true},
	}
	for id, p := range c.lead.peers {
		pr[id] = driver.Progress{
			Match: p.commit, Next: p.commit + 1, Learner: !c.isVoter(id), Active: p.active,
			Replicating: p.commit >= c.trunc.Index && p.snapTicks == 0,
		}
		if p.snapTicks > 0 {
			pg := pr[id]
			pg.PendingSnapshot = c.trunc.Index
			pr[id] = pg
		}
	}
	return pr
}

// EngineStatus implements driver.Core.
func (c *Core) EngineStatus() replica.EngineStatus {
	return replica.EngineStatus{Name: Name, Fields: map[string]any{
		"ballot":        c.promise.String(),
		"ballot_int":    c.promise.Int(),
		"epoch":         c.epoch,
		"leader_ballot": c.ballot.String(),
		"commit":        c.commit,
	}}
}

// ChangeContext implements driver.Core.
func (c *Core) ChangeContext(e driver.LogEntry) ([]byte, error) {
	if e.Type != driver.EntryChange {
		return nil, fmt.Errorf("paxos: entry %d is not a change", e.Index)
	}
	ch, err := decodeChange(e.Data)
	if err != nil {
		return nil, err
	}
	return ch.Context, nil
}

// ApplyChange implements driver.Core. The core made the change its
// configuration when it committed it; this returns that configuration.
func (c *Core) ApplyChange(e driver.LogEntry) (driver.Conf, error) {
	cfg, ok := c.configs[e.Index]
	if !ok {
		return driver.Conf{}, fmt.Errorf("paxos: group %d: no committed change at %d", c.group, e.Index)
	}
	delete(c.configs, e.Index)
	return cfg, nil
}

// SnapshotMessage implements driver.CoreEngine.
func (Engine) SnapshotMessage(msg []byte, at driver.SnapshotPoint) ([]byte, error) {
	m, err := decodeMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.Type != msgSnapshot {
		return nil, fmt.Errorf("paxos: not a snapshot message")
	}
	m.Index, m.Term, m.Config = at.Index, at.Term, at.Conf.Clone()
	return encodeMessage(m), nil
}
