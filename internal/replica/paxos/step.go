package paxos

import (
	"fmt"
	"slices"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
)

// The core's inputs (driver.Core).

// promotable: this replica may campaign.
func (c *Core) promotable() bool { return c.initialized() && c.isVoter(c.id) }

// sticky: an acceptor that heard a live leader within an election timeout
// (or leads) ignores a prepare that does not force its way (a transfer).
func (c *Core) sticky(m *message) bool {
	if m.has(flagForce) {
		return false
	}
	return c.state == replica.StateLeader || (c.leader != 0 && c.electionElapsed < c.electionTicks)
}

// Tick implements driver.Core.
func (c *Core) Tick() {
	if c.state != replica.StateLeader {
		c.electionElapsed++
		if c.electionElapsed >= c.randomizedTimeout {
			if c.promotable() {
				c.becomePreCandidate()
			} else {
				c.resetTimers()
			}
		}
		return
	}
	l := c.lead
	c.heartbeatElapsed++
	c.electionElapsed++
	if l.transferee != 0 {
		if l.transferTicks++; l.transferTicks >= c.electionTicks {
			l.transferee = 0
		}
	}
	for _, p := range l.peers {
		if p.snapTicks > 0 {
			p.snapTicks--
		}
	}
	if c.heartbeatElapsed >= c.heartbeatTicks {
		c.heartbeatElapsed = 0
		c.broadcastHeartbeat()
		c.resendAccepts()
	}
	if c.electionElapsed >= c.electionTicks {
		// CheckQuorum: a leader that heard from no quorum in an election
		// timeout steps down, so that stickiness never keeps a cut-off
		// leader's followers from electing another.
		c.electionElapsed = 0
		n := 0
		for _, id := range c.cfg.Voters {
			if id == c.id || (l.peers[id] != nil && l.peers[id].active) {
				n++
			}
		}
		for _, p := range l.peers {
			p.active = false
		}
		if n < c.quorum() {
			c.becomeFollower(0)
		}
	}
}

// resendAccepts sends again, to every peer that has not acknowledged it,
// each slot of the leader's ballot above its commit.
func (c *Core) resendAccepts() {
	l := c.lead
	for i := c.commit + 1; i <= c.lastIndex(); i++ {
		acks, ok := l.acks[i]
		if !ok {
			continue
		}
		for _, id := range c.peers() {
			if _, ok := acks[id]; !ok {
				c.accepts[id] = append(c.accepts[id], i)
			}
		}
	}
	for _, p := range l.peers {
		p.chosenSent = 0
	}
}

// Step implements driver.Core.
func (c *Core) Step(from replica.ReplicaID, msg []byte) error {
	m, err := decodeMessage(msg)
	if err != nil {
		return err
	}
	if m.Type == msgSnapshot {
		c.handleSnapshot(m)
		return nil
	}
	if !c.initialized() {
		// Waiting for a snapshot: it answers heartbeats (with commit 0)
		// so that a leader sends one, and nothing else.
		if m.Type != msgHeartbeat {
			return fmt.Errorf("%w: %d (not initialised)", errUnknownReplica, from)
		}
	} else if m.Type.countsMembership() && !c.isMember(from) {
		return fmt.Errorf("%w: %d", errUnknownReplica, from)
	}
	if m.Type != msgPrePrepareResp || m.has(flagReject) {
		// NB: a yes to a pre-prepare echoes the ballot this replica asked
		// about: counting its round would make the candidate prepare at
		// the next round, not the ballot the voters said yes to.
		c.maxRound = max(c.maxRound, m.Ballot.Round)
	}
	switch m.Type {
	case msgPrePrepare:
		ok := !c.sticky(m) && c.promise.Less(m.Ballot)
		resp := &message{Type: msgPrePrepareResp, Ballot: m.Ballot}
		if !ok {
			resp.Flags, resp.Ballot = flagReject, c.promise
		}
		c.send(from, driver.MsgEarly, resp)
	case msgPrePrepareResp:
		if c.state == replica.StatePreCandidate {
			c.preVotes[from] = !m.has(flagReject)
			c.checkPreVotes()
		}
	case msgPrepare:
		c.handlePrepare(from, m)
	case msgPromise:
		if m.has(flagReject) {
			c.handlePromiseReject(from, m)
		} else {
			c.handlePromise(from, m)
		}
	case msgAccept:
		c.handleAccept(from, m)
	case msgAccepted:
		c.handleAccepted(from, m)
	case msgHeartbeat:
		c.handleHeartbeat(from, m)
	case msgHeartbeatResp:
		c.handleHeartbeatResp(from, m)
	case msgChosen:
		c.handleChosen(from, m)
	case msgCommitted:
		if p := c.peer(from); p != nil {
			p.commit = m.Commit
			c.maybeCatchUp(from, p, c.commit)
		}
	case msgFetch:
		c.handleFetch(from, m)
	case msgTimeoutNow:
		if from == c.leader && m.Ballot == c.ballot && c.promotable() {
			c.becomeCandidate(true)
		}
	case msgReadIndex:
		if c.state == replica.StateLeader {
			c.registerRead(m.Ctx, from)
		}
	case msgReadIndexResp:
		c.readStates = append(c.readStates, driver.ReadState{Ctx: m.Ctx, Index: m.Index})
	}
	return nil
}

// peer is a leader's record of from at its current ballot; nil elsewhere.
func (c *Core) peer(from replica.ReplicaID) *peer {
	if c.state != replica.StateLeader {
		return nil
	}
	return c.lead.peers[from]
}

// follow records that the leader of ballot b, at or above the promise, is
// alive.
func (c *Core) follow(b Ballot) {
	if c.state != replica.StateFollower || c.leader != b.Replica {
		c.becomeFollower(b.Replica)
	}
	c.ballot = b
	c.electionElapsed = 0
}

// raisePromise promises b (staged; answers leave after the fsync).
func (c *Core) raisePromise(b Ballot) {
	if c.promise.Less(b) {
		c.promise = b
		c.hsDirty, c.mustSync = true, true
	}
}

func (c *Core) handlePrepare(from replica.ReplicaID, m *message) {
	if m.Ballot.Less(c.promise) || (c.promise.Less(m.Ballot) && c.sticky(m)) {
		c.send(from, driver.MsgEarly, &message{Type: msgPromise, Flags: flagReject, Ballot: c.promise})
		return
	}
	if c.promise.Less(m.Ballot) {
		c.raisePromise(m.Ballot)
		if c.state != replica.StateFollower || c.leader != 0 {
			c.becomeFollower(0)
		}
	}
	// A page of every accepted slot from m.Index, chosen ones included.
	resp := &message{Type: msgPromise, Ballot: m.Ballot, Commit: c.commit, Trunc: c.trunc.Index}
	if broken.omitChosen {
		resp.Commit, resp.Trunc = 0, 0
	}
	i := max(m.Index, c.firstIndex())
	for ; i <= c.lastIndex(); i++ {
		s := c.slot(i)
		if s == nil || broken.omitChosen && i <= c.commit {
			continue
		}
		if len(resp.Slots) == maxSlotsPerMsg {
			resp.Flags, resp.Index = flagMore, i
			break
		}
		resp.Slots = append(resp.Slots, c.wire(i, s))
	}
	c.send(from, driver.MsgLate, resp)
}

func (c *Core) handlePromiseReject(from replica.ReplicaID, m *message) {
	p := c.p1
	if c.state != replica.StateCandidate || p == nil {
		return
	}
	if c.ballot.Less(m.Ballot) {
		c.becomeFollower(0)
		return
	}
	p.rejected[from] = true
	n := 0
	for _, id := range c.cfg.Voters {
		if p.rejected[id] {
			n++
		}
	}
	if n > len(c.cfg.Voters)-c.quorum() {
		c.becomeFollower(0)
	}
}

func (c *Core) handleAccept(from replica.ReplicaID, m *message) {
	b := m.Ballot
	if b.Less(c.promise) && !broken.slotBallot {
		c.send(from, driver.MsgEarly, &message{Type: msgAccepted, Flags: flagReject, Ballot: c.promise})
		return
	}
	if !broken.acceptNoRaise {
		c.raisePromise(b)
	}
	c.follow(b)
	resp := &message{Type: msgAccepted, Ballot: b, Index: m.Commit}
	for _, s := range m.Slots {
		if c.leftover(s.Index, b) {
			continue // above the stop that ended b's epoch: refused
		}
		if broken.slotBallot {
			if old := c.slot(s.Index); old != nil && b.Less(old.ballot) {
				continue // the classic bug: only the slot's own ballot is checked
			}
		}
		if s.Index > c.commit && s.Index >= c.firstIndex() {
			c.stageSlot(s.Index, &slot{ballot: b, typ: s.Type, data: s.Data})
		}
		// At or below commit the slot holds its chosen value already: the
		// accept is acknowledged and the value kept.
		resp.Acks = append(resp.Acks, s.Index)
	}
	slices.Sort(resp.Acks)
	resp.Acks = slices.Compact(resp.Acks)
	if broken.deleteTail && len(resp.Acks) > 0 {
		if top := resp.Acks[len(resp.Acks)-1]; top >= c.commit && top >= c.firstIndex() && top < c.lastIndex() {
			c.slots = c.slots[:top-c.trunc.Index]
			c.cutAbove, c.mustSync = top, true
		}
	}
	c.advanceByBallot(b, m.Commit)
	resp.Commit = c.commit
	kind := driver.MsgLate
	if broken.ackBeforeFsync {
		kind = driver.MsgEarly
	}
	c.send(from, kind, resp)
}

// advanceByBallot marks chosen the slots up to upto that the leader of b
// says are chosen, as far as this acceptor accepted each at b: a slot
// accepted at another ballot may hold another value (a Paxos log has no
// log matching), and is fetched instead.
func (c *Core) advanceByBallot(b Ballot, upto uint64) {
	i := c.commit
	for i < upto {
		s := c.slot(i + 1)
		if s == nil || s.ballot != b {
			break
		}
		i++
	}
	c.commitTo(i)
}

func (c *Core) handleAccepted(from replica.ReplicaID, m *message) {
	if m.has(flagReject) {
		if c.state == replica.StateLeader && c.ballot.Less(m.Ballot) {
			c.becomeFollower(0)
		}
		return
	}
	p := c.peer(from)
	if p == nil || m.Ballot != c.ballot {
		return
	}
	p.active, p.commit = true, m.Commit
	for _, i := range m.Acks {
		if acks, ok := c.lead.acks[i]; ok {
			acks[from] = struct{}{}
		}
	}
	c.tryCommit()
	if p := c.peer(from); p != nil {
		c.maybeCatchUp(from, p, m.Index)
	}
}

func (c *Core) handleHeartbeat(from replica.ReplicaID, m *message) {
	b := m.Ballot
	if b.Less(c.promise) {
		c.send(from, driver.MsgEarly, &message{Type: msgHeartbeatResp, Flags: flagReject, Ballot: c.promise})
		return
	}
	c.follow(b)
	c.advanceByBallot(b, m.Commit)
	resp := &message{Type: msgHeartbeatResp, Ballot: b, Seq: m.Seq, Commit: c.commit, Index: m.Commit}
	if c.promise == b {
		resp.Flags = flagCurrent
	}
	c.send(from, driver.MsgEarly, resp)
}

func (c *Core) handleHeartbeatResp(from replica.ReplicaID, m *message) {
	if m.has(flagReject) {
		if c.state == replica.StateLeader && c.ballot.Less(m.Ballot) {
			c.becomeFollower(0)
		}
		return
	}
	p := c.peer(from)
	if p == nil || m.Ballot != c.ballot {
		return
	}
	p.active, p.commit = true, m.Commit
	if m.has(flagCurrent) && m.Seq > p.seq {
		p.seq = m.Seq
		c.releaseReads()
	}
	c.maybeCatchUp(from, p, m.Index)
}

// maybeCatchUp sends a peer that did not reach told (a commit index the
// leader sent it) the chosen slots it lacks, or a snapshot when they are
// truncated away.
func (c *Core) maybeCatchUp(id replica.ReplicaID, p *peer, told uint64) {
	if p.commit >= min(told, c.commit) {
		return
	}
	if p.commit < c.trunc.Index {
		if p.snapTicks == 0 {
			p.snapTicks = 2 * c.electionTicks
			c.sendSnapshot(id)
		}
		return
	}
	if p.chosenSent > p.commit {
		return // in flight
	}
	p.chosenSent = c.sendChosen(id, p.commit+1)
}

// sendChosen sends the chosen slots from from on and returns the index
// after the last one sent.
func (c *Core) sendChosen(to replica.ReplicaID, from uint64) uint64 {
	end := min(c.commit, from+maxSlotsPerMsg-1)
	m := &message{Type: msgChosen}
	for i := from; i <= end; i++ {
		m.Slots = append(m.Slots, c.wire(i, c.slot(i)))
	}
	if len(m.Slots) > 0 {
		c.send(to, driver.MsgEarly, m)
	}
	return end + 1
}

func (c *Core) sendSnapshot(to replica.ReplicaID) {
	// The driver rewrites the point (SnapshotMessage) to what it streams.
	c.send(to, driver.MsgSnapshot, &message{Type: msgSnapshot, Ballot: c.ballot, Index: c.commit, Config: c.cfg})
}

func (c *Core) handleChosen(from replica.ReplicaID, m *message) {
	if c.state == replica.StateLeader {
		return
	}
	got := map[uint64]bool{}
	for _, s := range m.Slots {
		if s.Index <= c.commit || s.Index < c.firstIndex() {
			continue
		}
		b := s.Ballot
		if cur := c.slot(s.Index); cur != nil && b.Less(cur.ballot) {
			b = cur.ballot // a slot's accepted ballot never decreases
		}
		c.stageSlot(s.Index, &slot{ballot: b, typ: s.Type, data: s.Data})
		got[s.Index] = true
	}
	i := c.commit
	for got[i+1] {
		i++
	}
	c.commitTo(i)
	c.send(from, driver.MsgLate, &message{Type: msgCommitted, Commit: c.commit})
}

func (c *Core) handleFetch(from replica.ReplicaID, m *message) {
	switch {
	case m.Index <= c.trunc.Index:
		c.sendSnapshot(from)
	case m.Index <= c.commit:
		c.sendChosen(from, m.Index)
	}
}

// handleSnapshot installs a received snapshot above the commit index: the
// log continues after it, accepted slots above it stay (KeepAbove) and the
// promise stays as it is.
func (c *Core) handleSnapshot(m *message) {
	if m.To != c.id || m.Index <= c.commit || c.state == replica.StateLeader {
		return
	}
	if _, _, err := decodeSection(m.Config.Engine); err != nil {
		c.logger.Error("paxos: snapshot refused", "group", c.group, "index", m.Index, "err", err)
		return
	}
	if c.state != replica.StateFollower {
		c.becomeFollower(0)
	}
	at := driver.SnapshotPoint{Index: m.Index, Term: m.Term, Conf: m.Config.Clone()}
	c.truncateTo(pointOf(at))
	if broken.snapDropsVotes {
		c.slots = nil
	}
	c.commit, c.handedOut = at.Index, at.Index
	c.hsDirty, c.mustSync = true, true
	_ = c.setConf(at.Conf) // decoded above
	clear(c.configs)
	c.snapshot = &at
}

// Proposals and requests.

// Propose implements driver.Core.
func (c *Core) Propose(data []byte) error {
	if c.state != replica.StateLeader {
		return driver.ErrDropped
	}
	l := c.lead
	if l.transferee != 0 || l.pendingChange != 0 || c.lastIndex()-c.commit >= maxUncommitted {
		return driver.ErrDropped
	}
	c.propose(c.lastIndex()+1, &slot{ballot: c.ballot, typ: driver.EntryNormal, data: data})
	return nil
}

// ProposeChange implements driver.Core. A change is single-step: it may
// change the voter set by one replica at most (so that any quorum of the
// old voters meets any of the new), and learners freely. Only one is
// pending at a time, and only a leader that has committed a slot of its
// own ballot proposes one.
func (c *Core) ProposeChange(ch driver.Change) error {
	if c.state != replica.StateLeader {
		return driver.ErrDropped
	}
	l := c.lead
	if l.transferee != 0 || l.pendingChange != 0 || c.commit < l.readyAt || c.lastIndex()-c.commit >= maxUncommitted {
		return driver.ErrDropped
	}
	next := c.cfg.With(ch.Ops)
	if len(next.Voters) == 0 || voterChanges(c.cfg.Voters, next.Voters) > 1 {
		return driver.ErrDropped
	}
	i := c.lastIndex() + 1
	c.propose(i, &slot{ballot: c.ballot, typ: driver.EntryChange, data: encodeChange(ch)})
	l.pendingChange = i
	return nil
}

// voterChanges counts the replicas in one voter set and not the other.
func voterChanges(a, b []replica.ReplicaID) int {
	n := 0
	for _, id := range a {
		if !slices.Contains(b, id) {
			n++
		}
	}
	for _, id := range b {
		if !slices.Contains(a, id) {
			n++
		}
	}
	return n
}

// ReadIndex implements driver.Core.
func (c *Core) ReadIndex(ctx []byte) {
	switch {
	case c.state == replica.StateLeader:
		c.registerRead(ctx, c.id)
	case c.leader != 0:
		c.send(c.leader, driver.MsgEarly, &message{Type: msgReadIndex, Ctx: ctx})
	}
}

// TransferLeader implements driver.Core: the target campaigns at once,
// past every acceptor's stickiness; proposals wait meanwhile.
func (c *Core) TransferLeader(to replica.ReplicaID) {
	if c.state != replica.StateLeader || to == c.id || !c.isVoter(to) {
		return
	}
	c.lead.transferee, c.lead.transferTicks = to, 0
	c.send(to, driver.MsgEarly, &message{Type: msgTimeoutNow, Ballot: c.ballot})
}

// Campaign implements driver.Core.
func (c *Core) Campaign() error {
	if !c.promotable() {
		return fmt.Errorf("paxos: group %d: replica %d is not a voter", c.group, c.id)
	}
	c.becomeCandidate(true)
	return nil
}

// ReportUnreachable implements driver.Core.
func (c *Core) ReportUnreachable(to replica.ReplicaID) {
	if p := c.peer(to); p != nil {
		p.chosenSent = 0
	}
}

// ReportSnapshot implements driver.Core.
func (c *Core) ReportSnapshot(to replica.ReplicaID, ok bool) {
	if p := c.peer(to); p != nil {
		p.snapTicks = 0
		if ok {
			p.snapTicks = c.heartbeatTicks // until its next answer says where it is
		}
	}
}
