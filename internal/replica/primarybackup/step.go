package primarybackup

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
)

// becomeBackup makes the replica a backup of primary (0: none known).
func (c *Core) becomeBackup(primary replica.ReplicaID) {
	c.role, c.primary, c.lead = roleBackup, primary, nil
	c.electionElapsed = 0
	c.resetTimeout()
	if c.op != nil && c.op.kind != opRead && c.op.kind != opFailover {
		c.op = nil // a primary's call: its answer is ignored now
	}
}

func (c *Core) resetTimeout() {
	c.timeout = c.electionTicks + c.rng.IntN(c.electionTicks)
}

// becomePrimary makes the replica the primary of its epoch. confirmed: the
// store named it so just now (a failover it won); otherwise it reads the
// record first, and takes office only if it still names it.
func (c *Core) becomePrimary(confirmed bool) {
	c.role, c.primary = rolePrimary, c.id
	// No lease until a record write of its own (or the one that made it
	// primary, set by the caller) succeeds.
	c.lead = &primaryState{peers: map[replica.ReplicaID]*peer{}, leaseAt: math.MinInt64 / 2}
	c.lead.selfMatch = c.lastIndex()
	if len(c.dirty) > 0 {
		c.lead.selfMatch = c.dirty[0] - 1
	}
	c.syncPeers()
	c.heartbeatElapsed = 0
	if confirmed {
		c.takeOffice()
		return
	}
	c.call(opConfirm, 0, Record{}, 0)
}

// syncPeers makes the primary's peers the descriptor's members (voters
// and learners) but itself: a learner gets entries once the change that
// adds it is applied here, a removed replica none once its removal is.
func (c *Core) syncPeers() {
	if c.lead == nil {
		return
	}
	want := map[replica.ReplicaID]bool{}
	for _, id := range append(slices.Clone(c.conf.Voters), c.conf.Learners...) {
		if id != c.id {
			want[id] = true
		}
	}
	for id := range c.lead.peers {
		if !want[id] {
			delete(c.lead.peers, id)
		}
	}
	for id := range want {
		if c.lead.peers[id] == nil {
			c.lead.peers[id] = &peer{next: c.lastIndex() + 1, probing: true}
		}
	}
}

// takeOffice opens the primary's tenure: an entry of its epoch after its
// whole log, replicated to every member — a record entry, so that the
// descriptor's engine section names the new epoch and primary. It answers
// reads once that entry commits, which needs every in-sync member to hold
// the whole log.
func (c *Core) takeOffice() {
	c.lead.confirmed = true
	c.lead.officeAt = c.appendRecord()
	c.broadcast(false)
}

// appendRecord appends a record entry: the record as the store holds it
// now, into the group's log (an EntryChange without ops).
func (c *Core) appendRecord() uint64 {
	return c.appendNew(driver.EntryChange, encodeChange(changeEntry{version: c.recVersion, rec: c.rec}))
}

// changePending: an EntryChange above the last applied one is in the log.
func (c *Core) changePending() bool {
	for i := max(c.confApplied, c.trunc.Index) + 1; i <= c.lastIndex(); i++ {
		if c.entry(i).typ == driver.EntryChange {
			return true
		}
	}
	return false
}

// appendNew appends a new entry of the primary's epoch.
func (c *Core) appendNew(typ driver.EntryType, data []byte) uint64 {
	prev := c.lastPoint()
	i := prev.Index + 1
	return c.appendEntry(&entry{epoch: c.epoch, hash: chain(prev.Hash, c.epoch, i, typ, data), typ: typ, data: data})
}

// call queues a configuration store call of kind: a Get when kind reads,
// else a CompareAndSwap of rec at version.
func (c *Core) call(kind storeOpKind, version uint64, rec Record, target replica.ReplicaID) {
	c.opSeq++
	c.op = &storeOp{id: c.opSeq, sentAt: c.ticks, kind: kind, version: version, rec: rec, target: target}
	sc := storeCall{ID: c.opSeq, Key: recordKey(c.group), Version: version}
	if kind == opConfirm || kind == opRead {
		sc.Get = true
	} else {
		sc.Value = EncodeRecord(rec)
	}
	c.storeQ = append(c.storeQ, sc)
}

// offsets is the primary's view of every member's durable offset.
func (c *Core) offsets() map[replica.ReplicaID]uint64 {
	m := map[replica.ReplicaID]uint64{c.id: c.lastIndex()}
	if c.lead != nil {
		m[c.id] = c.lead.selfMatch
		for id, p := range c.lead.peers {
			m[id] = p.match
		}
	}
	return m
}

// Tick implements driver.Core.
func (c *Core) Tick() {
	c.ticks++
	if c.backoff > 0 {
		c.backoff--
	}
	if c.role == rolePrimary {
		c.tickPrimary()
		return
	}
	c.electionElapsed++
	if c.watching {
		c.watchTicks++
	}
	if !c.initialized() || c.op != nil || c.backoff > 0 || c.rebuild != 0 || !c.rec.inSync(c.id) && !broken.promoteOutside {
		return
	}
	switch {
	case c.watching && c.watchTicks >= c.leaseTicks():
		// A lease since the last read: read again; the same version means
		// the lease ran out unrenewed.
		c.call(opRead, 0, Record{}, 0)
	case !c.watching && c.electionElapsed >= c.timeout:
		// The primary was silent for an election timeout: start watching
		// its lease in the record.
		c.electionElapsed = 0
		c.resetTimeout()
		c.call(opRead, 0, Record{}, 0)
	}
}

func (c *Core) tickPrimary() {
	l := c.lead
	for _, p := range l.peers {
		p.silent++
		if p.snapTicks > 0 {
			p.snapTicks--
		}
	}
	c.heartbeatElapsed++
	if c.heartbeatElapsed >= c.heartbeatTicks {
		c.heartbeatElapsed = 0
		c.broadcast(true)
	}
	if c.op != nil || c.backoff > 0 {
		return
	}
	if !l.confirmed {
		c.call(opConfirm, 0, Record{}, 0) // the last read failed: read again
		return
	}
	c.renewTicks++
	if l.transferee != 0 {
		l.transferTicks++
		if l.transferTicks > 2*c.electionTicks {
			// The successor did not catch up in time: writes resume.
			c.logger.Info("primary-backup: switchover abandoned", "to", l.transferee)
			l.transferee = 0
		} else if c.maybeHandOver() {
			return
		}
	}
	// A silent in-sync backup leaves the in-sync set, by a write the
	// store must confirm before anything it lacks commits.
	for _, id := range c.rec.InSync {
		if p := l.peers[id]; p != nil && (p.silent >= c.electionTicks || p.needSnap) {
			c.call(opShrink, c.recVersion, c.rec.withInSync(id, false).withOffsets(c.offsets()), id)
			if broken.dropAfterAck {
				c.tryCommit()
			}
			return
		}
	}
	// A backup that holds every entry the primary appended rejoins; no
	// entry commits until the store answers (tryCommit: frozen). Under
	// unbroken load a backup close behind never holds every entry at a
	// tick: the primary then raises a barrier (appends nothing for at
	// most an election timeout, and not again for four) so that it can.
	if l.barrierCool > 0 {
		l.barrierCool--
	}
	if l.barrier != 0 {
		if l.barrierTicks++; l.barrierTicks > c.electionTicks || c.rec.inSync(l.barrier) || !c.eligible(l.barrier) {
			l.barrier, l.barrierCool = 0, 4*c.electionTicks
		}
	}
	for _, id := range c.rec.Replicas {
		p := l.peers[id]
		if p == nil || c.rec.inSync(id) || !c.eligible(id) || p.silent >= c.electionTicks {
			continue
		}
		if p.match < c.lastIndex() {
			if l.barrier == 0 && l.barrierCool == 0 && !p.needSnap && p.snapTicks == 0 && c.lastIndex()-p.match <= maxEntriesPerMsg && !broken.noBarrier {
				l.barrier, l.barrierTicks = id, 0
			}
			continue
		}
		if l.barrier == id {
			l.barrier, l.barrierCool = 0, 4*c.electionTicks
		}
		l.frozen = true
		c.call(opGrow, c.recVersion, c.rec.withInSync(id, true).withOffsets(c.offsets()), id)
		return
	}
	if c.renewTicks >= max(1, c.leaseTicks()/4) || c.async() && !c.leaseValid() && c.renewTicks >= 1 {
		c.renewTicks = 0
		next := c.rec.withOffsets(c.offsets())
		next.Renewals++
		c.call(opRenew, c.recVersion, next, 0)
	}
}

// broadcast sends every member what it lacks; heartbeat: to each also an
// append when it lacks nothing (a sign of life; resent from its match).
func (c *Core) broadcast(heartbeat bool) {
	for _, id := range slices.Sorted(maps.Keys(c.lead.peers)) {
		p := c.lead.peers[id]
		if heartbeat && !p.probing {
			if prev, ok := c.pointAt(p.match); ok && p.progressed && p.next > p.match+1 {
				// Its acks still come: what is in flight is not resent; a
				// bare append at its match is the sign of life (and the
				// read round's confirmation).
				p.progressed = false
				c.send(id, driver.MsgEarly, &message{Type: msgAppend, Version: c.recVersion, Record: c.rec, Prev: prev,
					Commit: c.commit, Seq: c.lead.hbSeq})
				continue
			}
			p.progressed = false
			p.next = p.match + 1 // resend what was not acknowledged
		}
		c.sendAppend(id, p, heartbeat)
	}
}

// sendAppend sends peer id the entries from its next on (none: only if
// empty, a heartbeat), or asks for a snapshot when they are truncated.
func (c *Core) sendAppend(id replica.ReplicaID, p *peer, empty bool) {
	if !c.lead.confirmed {
		return
	}
	if !empty && p.next > c.lastIndex() {
		return
	}
	prev, ok := c.pointAt(p.next - 1)
	if !ok || p.needSnap {
		if p.snapTicks == 0 {
			p.snapTicks = 4 * c.electionTicks
			// The epoch history (Entries: Epoch, and First as Hash) and
			// the last index (Commit) go with it: a member finds by them
			// where its log diverged from this one (async mode).
			m := &message{Type: msgSnapshot, Commit: c.lastIndex()}
			for _, h := range c.history {
				m.Entries = append(m.Entries, wireEntry{Epoch: h.Epoch, Hash: h.First})
			}
			c.send(id, driver.MsgSnapshot, m)
		}
		return
	}
	m := &message{Type: msgAppend, Version: c.recVersion, Record: c.rec, Prev: prev, Commit: c.commit, Seq: c.lead.hbSeq}
	end := min(c.lastIndex(), prev.Index+maxEntriesPerMsg)
	for i := prev.Index + 1; i <= end; i++ {
		e := c.entry(i)
		m.Entries = append(m.Entries, wireEntry{Epoch: e.epoch, Hash: e.hash, Type: e.typ, Data: e.data})
	}
	if !p.probing {
		p.next = end + 1
	}
	c.send(id, driver.MsgEarly, m)
}

func (c *Core) send(to replica.ReplicaID, kind driver.MsgKind, m *message) {
	m.From, m.To = c.id, to
	if m.Epoch == 0 {
		m.Epoch = c.epoch
	}
	c.msgs = append(c.msgs, driver.Message{To: to, Kind: kind, Payload: encodeMessage(m)})
}

// Step implements driver.Core.
func (c *Core) Step(from replica.ReplicaID, msg []byte) error {
	m, err := decodeMessage(msg)
	if err != nil {
		return err
	}
	if m.Type == msgTakeOver {
		if from == c.id || m.From != from || m.To != c.id {
			return fmt.Errorf("%w: %s from %d (says %d) to %d", errMessage, m.Type, from, m.From, m.To)
		}
		c.handleTakeOver(m)
		return nil
	}
	if m.Type == msgStore {
		if from != c.id {
			return fmt.Errorf("%w: a store answer from replica %d", errMessage, from)
		}
		c.handleStore(m)
		return nil
	}
	if from == c.id || m.From != from || (m.To != c.id && m.To != 0) {
		return fmt.Errorf("%w: %s from %d (says %d) to %d", errMessage, m.Type, from, m.From, m.To)
	}
	if c.initialized() && !c.isMember(from) && !slices.Contains(m.Record.Replicas, c.id) {
		return errUnknownReplica
	}
	switch m.Type {
	case msgAppend:
		return c.handleAppend(from, m)
	case msgAppendResp:
		c.handleAppendResp(from, m)
	case msgSnapshot:
		c.handleSnapshot(from, m)
	}
	return nil
}

// adopt makes rec at version the record this replica knows, if newer; a
// primary that learns of a newer epoch steps down.
func (c *Core) adopt(rec Record, version uint64) {
	if version <= c.recVersion {
		return
	}
	c.rec, c.recVersion, c.hsDirty = rec, version, true
	if rec.Epoch > c.epoch {
		c.epoch = rec.Epoch
		c.becomeBackup(rec.Primary)
	}
}

// handleTakeOver: the old primary says it wrote a record naming this
// replica primary at a newer epoch. The store is the authority: the
// replica reads the record at once, and takes office if it names it (the
// opRead answer, as when a failover's answer was lost).
func (c *Core) handleTakeOver(m *message) {
	r := m.Record
	if c.role == rolePrimary || r.Primary != c.id || r.Epoch <= c.epoch || !c.initialized() {
		return
	}
	if c.op != nil && c.op.kind != opRead {
		return // a failover in flight: its answer, or the next read, decides
	}
	c.backoff = 0
	c.call(opRead, 0, Record{}, 0)
}

// handleAppend: a backup takes the primary's entries after Prev if its log
// holds Prev (same epoch and h); otherwise it answers where it stands.
func (c *Core) handleAppend(from replica.ReplicaID, m *message) error {
	if m.Epoch < c.epoch && !broken.oldCommits {
		// Fenced: an older epoch's primary learns of the newer one.
		c.send(from, driver.MsgEarly, &message{Type: msgAppendResp, Term: m.Epoch, Reject: true, Index: m.Prev.Index, Seq: m.Seq})
		return nil
	}
	if c.op != nil && (c.op.kind == opFailover || c.op.kind == opForce) && m.Epoch == c.epoch {
		return nil // asking to replace this primary: it confirms nothing of it
	}
	if m.Epoch > c.epoch || c.role == rolePrimary && m.Epoch == c.epoch {
		if m.Epoch == c.epoch {
			return fmt.Errorf("%w: two primaries at epoch %d (%d and %d)", errMessage, m.Epoch, c.id, from)
		}
		c.epoch, c.hsDirty = m.Epoch, true
		c.becomeBackup(from)
	}
	if m.Record.Epoch == m.Epoch && m.Record.Primary == from {
		c.adopt(m.Record, m.Version)
	}
	if m.Epoch == c.epoch {
		c.primary = from
		c.electionElapsed = 0
		c.waitAlt, c.watching = false, false
	}
	if !c.initialized() && c.trunc.Index == 0 || c.rebuild != 0 {
		// Waits for a snapshot (uninitialised, or rebuilding after a
		// rollback): says it holds nothing, so the primary sends one.
		c.send(from, driver.MsgEarly, &message{Type: msgAppendResp, Epoch: m.Epoch, Term: m.Epoch, Reject: true, Index: m.Prev.Index, Seq: m.Seq})
		return nil
	}
	ep := m.Epoch
	reject := func(at uint64) error {
		last, _ := c.pointAt(min(at, c.lastIndex()))
		c.send(from, driver.MsgEarly, &message{Type: msgAppendResp, Epoch: ep, Term: ep, Reject: true, Index: m.Prev.Index, Last: last, Seq: m.Seq})
		return nil
	}
	start := 0 // entries of m already below the truncated point
	switch p, ok := c.pointAt(m.Prev.Index); {
	case m.Prev.Index < c.trunc.Index:
		// Below the truncated point all is committed, so equal — in sync
		// mode. In async mode a failover may have lost what this replica
		// applied: the entries' epochs (and h at the truncated point) must
		// agree with its own, else it rebuilds.
		start = int(min(c.trunc.Index-m.Prev.Index, uint64(len(m.Entries))))
		if ep := c.epochAt(m.Prev.Index); ep != 0 && ep != m.Prev.Epoch && !broken.rollbackInPlace {
			// Prev itself differs (by epoch): they part at or below it.
			// Say where it stands: the primary probes lower, or sends a
			// snapshot with its epoch history.
			c.send(from, driver.MsgEarly, &message{Type: msgAppendResp, Epoch: m.Epoch, Term: m.Epoch, Reject: true,
				Index: m.Prev.Index, Last: point{Index: m.Prev.Index, Epoch: ep}, Seq: m.Seq})
			return nil
		}
		for k := 0; k < start && !broken.rollbackInPlace; k++ {
			j, w := m.Prev.Index+1+uint64(k), m.Entries[k]
			if ep := c.epochAt(j); ep != 0 && ep != w.Epoch || j == c.trunc.Index && c.truncHash != 0 && c.truncHash != w.Hash {
				c.startRebuild(from, m, j)
				return nil
			}
		}
		if m.Prev.Index+uint64(len(m.Entries)) < c.trunc.Index {
			return reject(c.lastIndex())
		}
	case !ok:
		return reject(c.lastIndex())
	case p.Index == c.trunc.Index && c.truncHash == 0 && p.Epoch == m.Prev.Epoch:
		c.truncHash, c.hsDirty = m.Prev.Hash, true // after a snapshot: the primary's h
	case m.Prev.Hash == 0 && p.Epoch == m.Prev.Epoch:
		// The primary does not know h at Prev: its own truncated point,
		// after a snapshot it installed before it took office. The same
		// offset at the same epoch is the same entry (an epoch's primary
		// writes each offset once).
	case p.Hash != m.Prev.Hash || p.Epoch != m.Prev.Epoch:
		return reject(m.Prev.Index)
	}
	prevHash := m.Prev.Hash
	if start > 0 {
		prevHash = m.Entries[start-1].Hash
	}
	for k := start; k < len(m.Entries); k++ {
		w := m.Entries[k]
		i := m.Prev.Index + 1 + uint64(k)
		if chain(prevHash, w.Epoch, i, w.Type, w.Data) != w.Hash {
			return fmt.Errorf("%w: entry %d: h does not chain", errMessage, i)
		}
		prevHash = w.Hash
		if e := c.entry(i); e != nil {
			if e.hash == w.Hash {
				continue
			}
			if i <= c.commit && !c.async() {
				// Sync mode commits nothing an in-sync member lacks: only
				// a forced promotion (Campaign, promote --unsafe) of a
				// member outside the in-sync set leads here.
				c.logger.Error("primary-backup: a primary's entry differs from a committed one (after a forced promotion?): rolling back", "index", i, "from", from)
			}
			if c.async() || i <= c.commit {
				// The entries from i on were appended by an older primary,
				// which may have acknowledged them: a rollback.
				if i <= c.handedOut && !broken.rollbackInPlace {
					// Applied here: the state is rebuilt from a snapshot.
					c.startRebuild(from, m, i)
					return nil
				}
				c.rollBack(i-1, m.Epoch, false, nil)
				if c.commit >= i {
					c.commit, c.hsDirty = i-1, true
				}
			}
			c.cutAfter(i - 1) // a divergent suffix (in sync mode never committed)
		}
		c.appendEntry(&entry{epoch: w.Epoch, hash: w.Hash, typ: w.Type, data: w.Data})
	}
	matched := m.Prev.Index + uint64(len(m.Entries))
	if n := min(m.Commit, matched); n > c.commit && m.Epoch == c.epoch {
		c.commit, c.hsDirty = n, true
	}
	// Late: it says the entries are durable here.
	c.send(from, driver.MsgLate, &message{Type: msgAppendResp, Epoch: ep, Term: ep, Index: matched, Seq: m.Seq})
	return nil
}

// handleAppendResp: a primary counts a member's durable match, or finds
// where their logs diverge from the member's answer and the epoch history.
func (c *Core) handleAppendResp(from replica.ReplicaID, m *message) {
	if c.role != rolePrimary {
		return
	}
	if m.Epoch > c.epoch {
		// A newer epoch: this replica was replaced.
		c.epoch, c.hsDirty = m.Epoch, true
		c.becomeBackup(0)
		return
	}
	p := c.lead.peers[from]
	if m.Epoch < c.epoch || m.Term != c.epoch || p == nil {
		// An answer to another tenure's message (Term: the epoch of the
		// append it answers), even one sent by a replica now at this
		// epoch: it says nothing of this primary's log.
		return
	}
	p.silent = 0
	p.seq = max(p.seq, m.Seq)
	if m.Reject {
		if m.Last == (point{}) && p.match == 0 {
			// It holds nothing this log can build on (uninitialised, or
			// rebuilding after a rollback): a snapshot. (Once it matched
			// at this epoch its log agrees with this one: an empty
			// rejection then is a late one.)
			p.match, p.needSnap, p.probing = 0, true, true
			c.sendAppend(from, p, true)
			return
		}
		// The member's entry at (or below) the probe is Last: they can
		// agree at best up to the end of Last's epoch in this log.
		cand := min(m.Last.Index, c.lastOfEpoch(m.Last.Epoch))
		if m.Index > 0 && cand >= m.Index {
			cand = m.Index - 1
		}
		if cand+1 <= p.match {
			return // stale
		}
		p.next, p.probing = cand+1, true
		c.sendAppend(from, p, true)
		return
	}
	p.needSnap = false
	if m.Index > c.lastIndex() {
		return // it cannot hold more than this primary appended: a bad message
	}
	if m.Index > p.match {
		p.match, p.progressed = m.Index, true
	}
	if p.probing || p.next <= m.Index {
		p.next = max(p.next, m.Index+1)
		p.probing = false
	}
	c.tryCommit()
	c.answerReads()
	if c.role != rolePrimary {
		return
	}
	c.sendAppend(from, p, false)
	if c.lead.transferee == from {
		c.maybeHandOver()
	}
}

// maybeHandOver writes the switchover's record — epoch e+1, the
// transferee primary — once the transferee holds durably every entry this
// primary appended (it appends none meanwhile) and no other store call is
// in flight. Reports whether it called the store.
func (c *Core) maybeHandOver() bool {
	l := c.lead
	to := l.transferee
	p := l.peers[to]
	if to == 0 || p == nil || c.op != nil || c.backoff > 0 || l.frozen || !c.rec.inSync(to) || !c.eligible(to) {
		return false
	}
	if p.match < c.lastIndex() || l.selfMatch < c.lastIndex() {
		return false
	}
	next := c.rec.withOffsets(c.offsets())
	next.Epoch, next.Primary = c.rec.Epoch+1, to
	c.call(opHandover, c.recVersion, next, to)
	return true
}

// tryCommit commits what every in-sync member holds durably (sync mode).
func (c *Core) tryCommit() {
	l := c.lead
	if c.role != rolePrimary || !l.confirmed {
		return
	}
	async := c.async()
	if async && !c.leaseValid() && !broken.asyncNoLease {
		return // async: nothing is acknowledged once the lease ran out
	}
	if !async && l.frozen && !broken.admitWhileAck {
		return // a backup is being added: nothing commits without it
	}
	if !async && len(c.rec.InSync) < c.minInSync() {
		return
	}
	n := min(l.selfMatch, c.lastIndex())
	if !async && !broken.ackBeforeAll {
		for _, id := range c.rec.InSync {
			if id == c.id {
				continue
			}
			if broken.dropAfterAck && c.op != nil && c.op.kind == opShrink && c.op.target == id {
				continue
			}
			p := l.peers[id]
			if p == nil {
				return
			}
			n = min(n, p.match)
		}
	}
	if n > c.commit {
		c.commit, c.hsDirty = n, true
	}
	if c.inOffice() && len(l.waiting) > 0 {
		// In office now: the reads that waited get the commit index.
		for _, ctx := range l.waiting {
			l.reads = append(l.reads, pendingRead{ctx: ctx, index: c.commit, seq: l.hbSeq + 1})
		}
		l.waiting, l.readRound = nil, true
	}
	c.answerReads()
}

// inOffice: the primary committed the entry that opened its tenure.
func (c *Core) inOffice() bool {
	return c.role == rolePrimary && c.lead.confirmed && c.commit >= c.lead.officeAt
}

// answerReads answers the reads every in-sync member confirmed the epoch for.
func (c *Core) answerReads() {
	l := c.lead
	if len(l.reads) == 0 || !c.inOffice() && !broken.earlyReads {
		return
	}
	keep := l.reads[:0]
	for _, r := range l.reads {
		ok := true
		for _, id := range c.rec.InSync {
			if p := l.peers[id]; id != c.id && (p == nil || p.seq < r.seq) && !broken.earlyReads {
				ok = false
			}
		}
		if ok {
			c.readStates = append(c.readStates, driver.ReadState{Ctx: r.ctx, Index: r.index})
		} else {
			keep = append(keep, r)
		}
	}
	l.reads = keep
}

// handleSnapshot: a member installs the primary's state (rewritten by the
// driver to its point) if it is ahead of its commit.
func (c *Core) handleSnapshot(from replica.ReplicaID, m *message) {
	if m.Epoch < c.epoch || c.role == rolePrimary || len(m.Conf.Voters) == 0 {
		// (A snapshot the driver streamed names its configuration; one
		// that came any other way was never rewritten: not a snapshot.)
		return
	}
	if m.Epoch > c.epoch {
		c.epoch, c.hsDirty = m.Epoch, true
		c.becomeBackup(from)
	}
	c.primary, c.electionElapsed = from, 0
	install := c.rebuild != 0 // rolled back already: rebuilt by any snapshot
	if !install && !broken.noSnapDivergence {
		if d, held, ok := c.divergence(m); ok {
			// Its log holds entries from d on that the primary's does not
			// (by their epochs): rolled back, and the snapshot taken
			// whatever this replica committed.
			install = true
			c.rollBack(d-1, m.Epoch, d <= c.handedOut, held)
		}
	}
	if e := c.entry(m.Index); !install && (m.Index <= c.commit || e != nil && e.epoch == m.Term) {
		// Refused: it has the state already, or its log holds the
		// snapshot's point (an entry's epoch and offset name it: a tenure
		// has its own epoch), so the entries above it, which it may have
		// acknowledged, stay. What the snapshot says is committed is.
		if m.Index > c.commit && m.Index <= c.lastIndex() {
			c.commit, c.hsDirty = m.Index, true
		}
		c.send(from, driver.MsgLate, &message{Type: msgAppendResp, Term: m.Epoch, Index: min(m.Index, c.lastIndex())})
		return
	}
	at := driver.SnapshotPoint{Index: m.Index, Term: m.Term, Conf: m.Conf.Clone()}
	c.snapshot = &at
	c.logSize = 0
	c.entries, c.dirty, c.cut = nil, nil, false
	c.trunc.Index, c.trunc.Term, c.truncHash = m.Index, m.Term, 0
	c.rebuild = 0
	c.commit, c.handedOut = m.Index, m.Index
	c.history = []epochStart{{m.Term, m.Index}}
	c.conf = m.Conf.Clone()
	c.confApplied = m.Index
	c.hsDirty, c.mustSync = true, true
	c.send(from, driver.MsgLate, &message{Type: msgAppendResp, Term: m.Epoch, Index: m.Index})
}

// handleStore takes the configuration store's answer to the call in flight.
func (c *Core) handleStore(m *message) {
	op := c.op
	if op == nil || m.Op != op.id {
		return
	}
	c.op = nil
	if m.Result == storeNotApplied || m.Result == storeUnknown {
		// The meta group did not answer in time: wait before asking
		// again (half an election timeout), not every tick.
		c.backoff = max(1, c.electionTicks/2)
	}
	var rec Record
	present := m.Value != nil && (m.Result == storeOK || m.Result == storeConflict)
	if present {
		var err error
		if rec, err = DecodeRecord(m.Value); err != nil {
			c.logger.Error("primary-backup: corrupt configuration record", "err", err)
			return
		}
	}
	switch op.kind {
	case opConfirm:
		if m.Result != storeOK {
			return // read again at the next tick
		}
		if c.role != rolePrimary {
			return
		}
		if !present {
			if c.recVersion == 0 {
				c.call(opFound, 0, c.rec, 0)
			}
			return
		}
		c.adopt(rec, m.Version)
		if c.role != rolePrimary {
			return
		}
		c.lead.frozen = false
		if rec.Epoch != c.epoch || rec.Primary != c.id {
			c.becomeBackup(rec.Primary)
			return
		}
		if !c.lead.confirmed {
			// Still named primary, after a restart: a new tenure takes a
			// new epoch, so that no answer sent to the old one (an ack of
			// entries this replica lost in the crash) counts in the new.
			next := rec.withOffsets(c.offsets())
			next.Epoch++
			c.call(opReopen, m.Version, next, 0)
			return
		}
		c.tryCommit()
	case opFound:
		switch m.Result {
		case storeOK:
			c.recVersion, c.hsDirty = m.Version, true
			if c.role == rolePrimary && !c.lead.confirmed {
				c.lead.leaseAt = op.sentAt
				c.takeOffice()
			}
		case storeConflict:
			c.lost(rec, m.Version)
		}
	case opHandover:
		if c.role != rolePrimary {
			return
		}
		switch m.Result {
		case storeOK:
			// The record names the successor: this replica is its backup
			// at the new epoch, and tells it so (else it learns it when it
			// finds this replica silent and reads the record).
			c.rec, c.recVersion, c.epoch, c.hsDirty = op.rec, m.Version, op.rec.Epoch, true
			c.becomeBackup(op.target)
			c.send(op.target, driver.MsgEarly, &message{Type: msgTakeOver, Record: op.rec, Version: m.Version})
		case storeConflict:
			c.lead.transferee = 0
			c.lost(rec, m.Version)
		case storeNotApplied:
		default:
			// Unknown: read the record; it says who is primary.
			c.lead.frozen = true
			c.call(opConfirm, 0, Record{}, 0)
		}
	case opShrink, opGrow, opRenew, opMember:
		if c.role != rolePrimary {
			return
		}
		switch m.Result {
		case storeOK:
			c.rec, c.recVersion, c.hsDirty = op.rec, m.Version, true
			c.lead.frozen = false
			c.lead.leaseAt = op.sentAt
			if op.kind == opShrink || op.kind == opGrow {
				c.appendRecord() // the descriptor follows the in-sync set
				for _, id := range slices.Sorted(maps.Keys(c.lead.peers)) {
					c.sendAppend(id, c.lead.peers[id], false)
				}
			}
			c.tryCommit()
		case storeConflict:
			c.lead.frozen = false
			c.lost(rec, m.Version)
		case storeNotApplied:
			c.lead.frozen = false
		default:
			// Unknown: the write may have happened. Read the record before
			// anything commits (frozen stays until the read answers).
			c.lead.frozen = true
			c.call(opConfirm, 0, Record{}, 0)
		}
	case opRead:
		if m.Result != storeOK || c.role == rolePrimary {
			return
		}
		version := m.Version
		if !present {
			rec, version = c.rec, 0 // the founding record, never written
		}
		c.adopt(rec, version)
		switch {
		case rec.Primary == c.id && rec.Epoch >= c.epoch && version != 0:
			// A failover of this replica's whose answer was lost.
			c.epoch, c.hsDirty = rec.Epoch, true
			c.becomePrimary(true)
		case rec.Epoch != c.epoch || !rec.inSync(c.id) && !broken.promoteOutside:
			c.watching = false
		case !c.watching || version != c.watchVer:
			// The lease was renewed (or this is the first look): watch
			// it for a whole lease from now.
			c.watching, c.watchVer, c.watchTicks = true, version, 0
		case !c.waitAlt && c.behindOthers(rec):
			c.waitAlt = true // let the member with more of the log go first
			c.watchTicks = c.leaseTicks() - c.electionTicks
		default:
			c.watching = false
			next := rec.clone()
			next.Epoch, next.Primary = rec.Epoch+1, c.id
			if !next.inSync(c.id) {
				next = next.withInSync(c.id, true)
			}
			offs := map[replica.ReplicaID]uint64{}
			for _, o := range rec.Offsets {
				offs[o.Replica] = o.Offset
			}
			offs[c.id] = c.lastIndex()
			c.call(opFailover, version, next.withOffsets(offs), 0)
		}
	case opReopen:
		if c.role != rolePrimary {
			return
		}
		switch m.Result {
		case storeOK:
			c.rec, c.recVersion, c.epoch, c.hsDirty = op.rec, m.Version, op.rec.Epoch, true
			c.becomePrimary(true)
			c.lead.leaseAt = op.sentAt
		case storeConflict:
			c.lost(rec, m.Version)
		}
	case opForceRead, opForce:
		c.force(op, m, rec, present)
	case opFailover:
		switch m.Result {
		case storeOK:
			// The failover's report: what the old primary last reported
			// beyond this replica's log is what it may have lost.
			fo := Failover{Epoch: op.rec.Epoch, LastIndex: c.lastIndex()}
			for _, o := range op.rec.Offsets {
				if o.Replica != c.id && o.Offset > fo.MaxReported {
					fo.MaxReported, fo.MaxReportedBy = o.Offset, o.Replica
				}
			}
			c.failover = &fo
			c.rec, c.recVersion, c.epoch, c.hsDirty = op.rec, m.Version, op.rec.Epoch, true
			c.waitAlt = false
			c.becomePrimary(true)
			c.lead.leaseAt = op.sentAt
		case storeConflict:
			c.adopt(rec, m.Version)
		}
		c.electionElapsed = 0
	}
}

// lost takes a conflicting record (a primary's compare-and-swap found
// version, rec): adopted, and a primary it no longer names steps down.
func (c *Core) lost(rec Record, version uint64) {
	c.adopt(rec, version)
	if c.role == rolePrimary && (rec.Epoch != c.epoch || rec.Primary != c.id) {
		c.becomeBackup(rec.Primary)
	}
}

// behindOthers: another in-sync member reported a higher offset than this
// replica holds.
func (c *Core) behindOthers(rec Record) bool {
	for _, o := range rec.Offsets {
		if o.Replica != c.id && rec.inSync(o.Replica) && o.Offset > c.lastIndex() {
			return true
		}
	}
	return false
}

// Propose implements driver.Core: a primary in office, with enough in-sync
// members, appends; anything else is refused, certainly not appended.
func (c *Core) Propose(data []byte) error {
	if c.role != rolePrimary || !c.lead.confirmed || c.lead.transferee != 0 {
		return driver.ErrDropped
	}
	if c.lead.barrier != 0 {
		// A backup catches up to rejoin the in-sync set: the driver holds
		// the proposal and retries it (at most an election timeout).
		return driver.ErrDropped
	}
	if c.async() {
		if !c.leaseValid() && !broken.asyncNoLease {
			return fmt.Errorf("%w: async mode: the primary's lease ran out unrenewed", driver.ErrDropped)
		}
		if !c.backupAnswered() {
			return fmt.Errorf("%w: async mode: no backup answered within --pb-max-lag (%d ticks)", driver.ErrDropped, c.maxLagTicks())
		}
	} else if len(c.rec.InSync) < c.minInSync() {
		return fmt.Errorf("%w: %d in-sync members, fewer than --pb-min-in-sync %d", driver.ErrDropped, len(c.rec.InSync), c.minInSync())
	}
	if c.lastIndex()-c.commit >= maxUncommitted {
		return driver.ErrDropped
	}
	c.appendNew(driver.EntryNormal, data)
	for _, id := range slices.Sorted(maps.Keys(c.lead.peers)) {
		c.sendAppend(id, c.lead.peers[id], false)
	}
	return nil
}

// backupAnswered (async mode): a voter backup answered within the max lag,
// or the group has no other voter.
func (c *Core) backupAnswered() bool {
	others := false
	for _, id := range c.conf.Voters {
		if id == c.id {
			continue
		}
		others = true
		if p := c.lead.peers[id]; p != nil && p.silent < c.maxLagTicks() && p.match > 0 {
			return true
		}
	}
	return !others
}

// ProposeChange implements driver.Core: one replica's role per change
// (Engine.Joint is false), on a primary in office with no other change
// pending. The record comes first: if the change alters the record's
// replicas or in-sync set (a new learner listed; a leaving or demoted
// voter dropped from the in-sync set and a leaving one from the replicas),
// the primary writes it by compare-and-swap and refuses the proposal
// (driver.ErrDropped: the driver retries); once the record holds it, the
// change is appended as an EntryChange carrying the record, so that
// ApplyChange returns the configuration and the descriptor's engine
// section follows the record. A change that removes or demotes the
// primary itself is refused: it hands over first (TransferLeader).
func (c *Core) ProposeChange(ch driver.Change) error {
	if !c.inOffice() || c.lead.transferee != 0 || c.op != nil || c.lead.frozen || c.changePending() {
		return driver.ErrDropped
	}
	if len(ch.Ops) != 1 || ch.Ops[0].Replica == c.id || ch.Ops[0].Replica == 0 {
		return driver.ErrDropped
	}
	if c.lastIndex()-c.commit >= maxUncommitted {
		return driver.ErrDropped
	}
	next := c.conf.With(ch.Ops)
	if len(next.Voters) == 0 {
		return driver.ErrDropped
	}
	want := c.recordFor(next)
	if !slices.Equal(want.Replicas, c.rec.Replicas) || !slices.Equal(want.InSync, c.rec.InSync) || want.NextReplica != c.rec.NextReplica {
		c.call(opMember, c.recVersion, want.withOffsets(c.offsets()), ch.Ops[0].Replica)
		return driver.ErrDropped
	}
	c.appendNew(driver.EntryChange, encodeChange(changeEntry{version: c.recVersion, rec: c.rec, change: ch}))
	for _, id := range slices.Sorted(maps.Keys(c.lead.peers)) {
		c.sendAppend(id, c.lead.peers[id], false)
	}
	return nil
}

// recordFor is the record for configuration conf: its replicas the
// voters and learners, its in-sync set what stays of the record's among
// the voters. (A promoted learner joins the in-sync set later by the
// rule every backup does: once it holds every entry appended.)
func (c *Core) recordFor(conf driver.Conf) Record {
	r := c.rec.clone()
	r.Replicas = append(slices.Clone(conf.Voters), conf.Learners...)
	slices.Sort(r.Replicas)
	r.InSync = slices.DeleteFunc(r.InSync, func(id replica.ReplicaID) bool { return !slices.Contains(conf.Voters, id) })
	for _, id := range r.Replicas {
		r.NextReplica = max(r.NextReplica, id+1)
	}
	return r
}

// ReadIndex implements driver.Core: on a primary in office, the commit
// index, answered once every in-sync member confirmed the epoch in a round
// sent after the read arrived. A read that comes before the primary took
// office waits for it, and gets the commit index then. On a backup it is
// never answered (follower reads are not linearizable here).
func (c *Core) ReadIndex(ctx []byte) {
	if c.role != rolePrimary {
		return
	}
	l := c.lead
	if !c.inOffice() && !broken.earlyReads {
		l.waiting = append(l.waiting, slices.Clone(ctx))
		return
	}
	l.reads = append(l.reads, pendingRead{ctx: slices.Clone(ctx), index: c.commit, seq: l.hbSeq + 1})
	l.readRound = true
}

// TransferLeader implements driver.Core: a switchover to to, an in-sync
// voter. The primary stops accepting writes, waits until to holds durably
// every entry it appended, then writes the record naming to primary at
// epoch e+1 by compare-and-swap, becomes its backup and tells it
// (msgTakeOver; it reads the record and takes office). Abandoned if to
// does not catch up within two election timeouts.
func (c *Core) TransferLeader(to replica.ReplicaID) {
	if !c.inOffice() || to == c.id || c.lead.transferee != 0 || !c.rec.inSync(to) || !c.eligible(to) {
		return
	}
	c.lead.transferee, c.lead.transferTicks = to, 0
	c.maybeHandOver()
}

// Campaign implements driver.Core: a forced promotion (cairn admin
// promote --unsafe; driver.Host.Campaign), for a group whose primary is
// gone with no in-sync backup left to fail over to. The replica reads the
// record, then installs the next epoch with itself primary and the only
// member of the in-sync set, by compare-and-swap on the version it read,
// whatever the in-sync set and the lease say; it then takes office as
// after a failover. Replicas that held entries it lacks roll them back
// when they rejoin (recorded, as in async mode). What it may lose is in
// the status section ("forced_*"): the highest offset the record reports
// for another member against this replica's last index. It refuses on a
// primary, an uninitialised replica, or one rebuilding.
func (c *Core) Campaign() error {
	switch {
	case c.role == rolePrimary:
		return fmt.Errorf("primarybackup: group %d: replica %d is the primary already", c.group, c.id)
	case !c.initialized() || c.rebuild != 0:
		return fmt.Errorf("primarybackup: group %d: replica %d holds no state to promote (uninitialised, or rebuilding from a snapshot)", c.group, c.id)
	}
	c.backoff, c.watching = 0, false
	c.forced = &ForcedPromotion{State: "reading the record"}
	c.call(opForceRead, 0, Record{}, 0)
	return nil
}

// Failover is the report of the last failover this replica won: the epoch
// it installed, its last index then, and the highest offset the record
// reported for another member (the old primary, mostly): what may have
// been lost beyond this replica's log is at least MaxReported −
// LastIndex, as far as the record knew (a primary reports its offset
// when it writes the record, four times a lease).
type Failover struct {
	Epoch, LastIndex, MaxReported uint64
	MaxReportedBy                 replica.ReplicaID
}

// LagEntries is the lag at failover the record shows.
func (f Failover) LagEntries() uint64 {
	if f.MaxReported > f.LastIndex {
		return f.MaxReported - f.LastIndex
	}
	return 0
}

// ForcedPromotion is what the last forced promotion (Campaign) did.
type ForcedPromotion struct {
	// State: "reading the record", "installing epoch N", "primary at epoch
	// N", or why it failed.
	State string
	// Epoch is the epoch it installs; LastIndex this replica's last index
	// then; MaxReported the highest offset the record reported for
	// another member (by replica), which a promotion beyond it may lose.
	Epoch, LastIndex, MaxReported uint64
	MaxReportedBy                 replica.ReplicaID
}

// MayLose is how many entries other members reported beyond this
// replica's log: at most what the forced promotion loses of what they
// held (acknowledged writes among them, in async mode or after a
// promotion outside the in-sync set).
func (f ForcedPromotion) MayLose() uint64 {
	if f.MaxReported > f.LastIndex {
		return f.MaxReported - f.LastIndex
	}
	return 0
}

// force handles the store's answers to a forced promotion.
func (c *Core) force(op *storeOp, m *message, rec Record, present bool) {
	f := c.forced
	if f == nil {
		f = &ForcedPromotion{}
		c.forced = f
	}
	if m.Result != storeOK && m.Result != storeConflict {
		f.State = "failed: the meta group did not answer; ask again"
		return
	}
	switch op.kind {
	case opForceRead:
		if c.role == rolePrimary {
			f.State = "not needed: this replica is primary"
			return
		}
		version := m.Version
		if !present {
			rec, version = c.rec, 0
		}
		c.adopt(rec, version)
		next := rec.clone()
		next.Epoch, next.Primary, next.InSync = max(rec.Epoch, c.epoch)+1, c.id, []replica.ReplicaID{c.id}
		offs := map[replica.ReplicaID]uint64{}
		f.LastIndex, f.MaxReported, f.MaxReportedBy = c.lastIndex(), 0, 0
		for _, o := range rec.Offsets {
			offs[o.Replica] = o.Offset
			if o.Replica != c.id && o.Offset > f.MaxReported {
				f.MaxReported, f.MaxReportedBy = o.Offset, o.Replica
			}
		}
		offs[c.id] = c.lastIndex()
		f.Epoch, f.State = next.Epoch, fmt.Sprintf("installing epoch %d", next.Epoch)
		c.logger.Warn("primary-backup: forced promotion (unsafe): installing this replica as primary, alone in sync",
			"group", c.group, "replica", c.id, "epoch", next.Epoch, "last_index", f.LastIndex,
			"max_reported", f.MaxReported, "by", f.MaxReportedBy, "may_lose", f.MayLose())
		c.call(opForce, version, next.withOffsets(offs), 0)
	case opForce:
		if m.Result != storeOK {
			c.adopt(rec, m.Version)
			f.State = "failed: the record changed meanwhile (a failover or a primary's write); look at the group and ask again"
			return
		}
		c.rec, c.recVersion, c.epoch, c.hsDirty = op.rec, m.Version, op.rec.Epoch, true
		c.waitAlt, c.electionElapsed = false, 0
		c.becomePrimary(true)
		c.lead.leaseAt = op.sentAt
		f.State = fmt.Sprintf("primary at epoch %d", op.rec.Epoch)
	}
}

// ReportUnreachable implements driver.Core: silence is counted by ticks.
func (c *Core) ReportUnreachable(replica.ReplicaID) {}

// ReportSnapshot implements driver.Core.
func (c *Core) ReportSnapshot(to replica.ReplicaID, ok bool) {
	if c.role != rolePrimary {
		return
	}
	if p := c.lead.peers[to]; p != nil {
		p.snapTicks = 0
		if !ok {
			p.probing = true
		}
	}
}
