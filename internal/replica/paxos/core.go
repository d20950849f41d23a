package paxos

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

// Limits of one core. Each is a count, not bytes: slots are commands the
// driver bounded already.
const (
	// maxUncommitted is how far a leader's log may run ahead of its commit
	// index before it drops proposals (the driver retries): it bounds the
	// accepts a leader resends and the acks it tracks.
	maxUncommitted = 4096
	// maxSlotsPerMsg bounds the slots of one accept, chosen or promise
	// message (phase-1 answers are paged by it).
	maxSlotsPerMsg = 256
	// maxCommittedPerReady bounds a Ready's Committed.
	maxCommittedPerReady = 4096
)

// broken holds deliberately broken modes, set only by tests, each of
// which a test shows is caught: by the simulation (TestBrokenModes, and
// pinned seeds in TestBrokenSeeds) or by an interaction script
// (TestBrokenScripts).
var broken struct {
	ackBeforeFsync  bool // Accepted sent before the fsync
	omitChosen      bool // phase-1 answers leave out chosen slots
	earlyReads      bool // a new leader answers reads before recovery is committed
	acceptNoRaise   bool // an accept above the promise leaves the promise where it was
	noNoopFill      bool // recovery leaves holes unfilled instead of proposing no-ops
	noopInChosen    bool // recovery ignores the commit reported in phase 1: no-ops where a value was chosen
	staleP1         bool // a phase-1 answer to an older ballot of this candidate counts
	deleteTail      bool // an accept deletes the acceptor's slots above it (Raft-style truncation)
	snapDropsVotes  bool // a snapshot install deletes the accepted slots above it
	stopKept        bool // recovery keeps a stop with a higher-ballot value of its epoch above it
	stopBallotEpoch bool // recovery takes a stop's epoch from its ballot, not from the configuration's
	slotBallot      bool // an accept is judged by the slot's accepted ballot, not by the promise
}

var errUnknownReplica = errors.New("paxos: message from a replica not in the configuration")

// Core is one replica of a Multi-Paxos group: a driver.Core (doc.go).
//
// It keeps the whole log above the truncated point in memory (the driver
// truncates what every replica applied), so that a leader re-sends and a
// phase-1 answer pages without reading the store.
type Core struct {
	group  uint64
	id     replica.ReplicaID
	store  storage.Store
	logger *slog.Logger
	rng    *rand.Rand

	electionTicks, heartbeatTicks int

	// Durable state, as staged: the promise and commit (hard state), the
	// truncated point and the slots above it.
	// Invariant: trunc.Index <= commit; every slot in (trunc.Index, commit]
	// is present and holds its chosen value.
	promise Ballot
	commit  uint64
	trunc   storage.LogPoint
	slots   []*slot // slots[i] is index trunc.Index+1+i; nil: a hole
	logSize uint64

	cfg     driver.Conf
	configs map[uint64]driver.Conf // committed changes' results, until ApplyChange
	// epoch is the configuration's epoch and stopAt the slot of the stop
	// that began it (0, 0 for the founding configuration): the slots above
	// stopAt belong to epoch. Both live in cfg.Engine (section), so that
	// the descriptor and a snapshot carry them.
	epoch, stopAt uint64

	state    replica.State
	leader   replica.ReplicaID
	ballot   Ballot // leading or campaigning at
	maxRound uint64 // the highest round seen in any ballot

	electionElapsed, heartbeatElapsed, randomizedTimeout int

	preVotes map[replica.ReplicaID]bool
	p1       *phase1
	lead     *leaderState

	// Outputs, collected for the next Ready.
	msgs       []driver.Message
	accepts    map[replica.ReplicaID][]uint64 // slot indexes to send in accepts
	dirty      map[uint64]struct{}            // slots to stage
	hsDirty    bool                           // the hard state to stage
	mustSync   bool
	snapshot   *driver.SnapshotPoint
	readStates []driver.ReadState
	handedOut  uint64 // committed entries handed out up to here
	soft       driver.SoftState
	// cutAbove: broken.deleteTail only, the index above which the next
	// Ready deletes the log; 0: none.
	cutAbove uint64
}

// phase1 is a candidate's collection of promises for its ballot.
type phase1 struct {
	from     uint64
	force    bool
	started  bool // the promise is durable and the prepares went out
	answered map[replica.ReplicaID]bool
	rejected map[replica.ReplicaID]bool
	vals     map[uint64]wireSlot // the highest-ballot value per slot; chosen ones win
	// maxCommit and maxTrunc are the highest commit index and truncation
	// point reported; commitFrom reported maxCommit.
	maxCommit, maxTrunc uint64
	commitFrom          replica.ReplicaID
}

// leaderState is what only a leader keeps.
type leaderState struct {
	peers map[replica.ReplicaID]*peer
	// acks are, per slot above commit proposed at the leader's ballot,
	// the acceptors whose accept of it is durable (the leader itself once
	// its own write is).
	acks map[uint64]map[replica.ReplicaID]struct{}
	// readyAt: the leader answers reads once commit reaches it (the no-op
	// of its own ballot after every recovered slot). math.MaxUint64 while
	// a change is pending.
	readyAt uint64
	// pendingChange is the index of an uncommitted membership change:
	// nothing is proposed above it until it commits.
	pendingChange uint64
	transferee    replica.ReplicaID
	transferTicks int
	// Reads: hbSeq numbers heartbeat rounds; a read waits for a quorum
	// answering a round sent after it was registered.
	hbSeq     uint64
	readRound bool // a read registered since the last heartbeat round
	reads     []pendingRead
	waiting   []pendingRead // before readyAt is committed
}

type peer struct {
	commit     uint64 // its commit index, as it last said
	active     bool   // heard from since the last quorum check
	seq        uint64 // the highest heartbeat round it answered as current
	snapTicks  int    // ticks left before another snapshot may be sent; 0: none in flight
	chosenSent uint64 // pushed chosen slots up to here; reset each heartbeat
}

type pendingRead struct {
	ctx   []byte
	index uint64
	seq   uint64
	to    replica.ReplicaID // who asked: this replica or a follower
}

// engineReady is the core's part of a Ready (driver.Ready.Engine).
type engineReady struct {
	writes  []write
	hs      []byte
	snap    *driver.SnapshotPoint
	promise Ballot // the promise this Ready makes durable
	// cutAbove: broken.deleteTail only, delete the slots above it.
	cutAbove uint64
}

type write struct {
	index  uint64
	ballot Ballot
	value  []byte
}

// newCore opens the core from what cfg.Store holds.
func newCore(cfg driver.CoreConfig) (*Core, error) {
	if cfg.ElectionTicks <= cfg.HeartbeatTicks || cfg.HeartbeatTicks <= 0 {
		return nil, fmt.Errorf("paxos: election ticks %d must exceed heartbeat ticks %d > 0", cfg.ElectionTicks, cfg.HeartbeatTicks)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := uint64(cfg.Group)
	c := &Core{
		group: g, id: cfg.Replica, store: cfg.Store, logger: logger,
		rng:           rand.New(rand.NewPCG(g, uint64(cfg.Replica))),
		electionTicks: cfg.ElectionTicks, heartbeatTicks: cfg.HeartbeatTicks,
		configs: map[uint64]driver.Conf{},
		accepts: map[replica.ReplicaID][]uint64{},
		dirty:   map[uint64]struct{}{},
	}
	if err := c.setConf(cfg.Conf); err != nil {
		return nil, err
	}
	lr := cfg.Log
	if lr == nil {
		snap := cfg.Store.NewSnapshot()
		defer snap.Close()
		lr = storage.ViewLog{View: snap}
	}
	version, b, err := lr.ReadHardState(g)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		hs, err := decodeHardState(version, b)
		if err != nil {
			return nil, fmt.Errorf("paxos: group %d: %w", g, err)
		}
		c.promise, c.commit = hs.promise, hs.commit
	}
	if c.trunc, err = lr.ReadTruncated(g); err != nil {
		return nil, err
	}
	err = lr.ScanLog(g, c.trunc.Index+1, math.MaxUint64, func(index uint64, value []byte) (bool, error) {
		s, err := decodeSlot(value)
		if err != nil {
			return false, fmt.Errorf("paxos: group %d: slot %d: %w", g, index, err)
		}
		c.setSlot(index, s)
		c.logSize += storage.LogSlotSize(len(value))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	c.maxRound = c.promise.Round
	// Applied entries are chosen whatever the hard state says.
	c.commit = max(c.commit, c.trunc.Index, cfg.Applied)
	c.handedOut = max(cfg.Applied, c.trunc.Index)
	for i := c.handedOut + 1; i <= c.commit; i++ {
		s := c.slot(i)
		if s == nil {
			return nil, fmt.Errorf("%w: group %d: committed slot %d missing", errCorrupt, g, i)
		}
		if s.typ == driver.EntryChange {
			if err := c.applyChangeLocked(i, s); err != nil {
				return nil, err
			}
		}
	}
	c.becomeFollower(0)
	c.soft = driver.SoftState{State: c.state, Leader: c.leader}
	return c, nil
}

// The log in memory.

func (c *Core) firstIndex() uint64 { return c.trunc.Index + 1 }
func (c *Core) lastIndex() uint64  { return c.trunc.Index + uint64(len(c.slots)) }

func (c *Core) slot(i uint64) *slot {
	if i <= c.trunc.Index || i > c.lastIndex() {
		return nil
	}
	return c.slots[i-c.trunc.Index-1]
}

// setSlot sets slot i in memory (above the truncated point) and marks it
// to stage.
func (c *Core) setSlot(i uint64, s *slot) {
	for c.lastIndex() < i {
		c.slots = append(c.slots, nil)
	}
	c.slots[i-c.trunc.Index-1] = s
}

func (c *Core) stageSlot(i uint64, s *slot) {
	c.setSlot(i, s)
	c.dirty[i] = struct{}{}
	c.mustSync = true
}

// truncateTo drops the slots up to and including p.Index from memory.
func (c *Core) truncateTo(p storage.LogPoint) {
	if p.Index <= c.trunc.Index {
		return
	}
	n := min(p.Index-c.trunc.Index, uint64(len(c.slots)))
	for _, s := range c.slots[:n] {
		if s != nil {
			c.logSize -= min(c.logSize, storage.LogSlotSize(len(s.data)+8))
		}
	}
	c.slots = slices.Clone(c.slots[n:])
	c.trunc = p
}

// Membership.

func (c *Core) isVoter(id replica.ReplicaID) bool { return slices.Contains(c.cfg.Voters, id) }

func (c *Core) isMember(id replica.ReplicaID) bool {
	return c.isVoter(id) || slices.Contains(c.cfg.Learners, id)
}

func (c *Core) initialized() bool { return len(c.cfg.Voters)+len(c.cfg.Learners) > 0 }

func (c *Core) quorum() int { return len(c.cfg.Voters)/2 + 1 }

// peers are every member but this replica, voters first.
func (c *Core) peers() []replica.ReplicaID {
	var ps []replica.ReplicaID
	for _, id := range c.cfg.Voters {
		if id != c.id {
			ps = append(ps, id)
		}
	}
	for _, id := range c.cfg.Learners {
		if id != c.id {
			ps = append(ps, id)
		}
	}
	return ps
}

// setConf makes conf the core's configuration, with the epoch its engine
// section holds.
func (c *Core) setConf(conf driver.Conf) error {
	epoch, stopAt, err := decodeSection(conf.Engine)
	if err != nil {
		return fmt.Errorf("paxos: group %d: %w", c.group, err)
	}
	c.cfg, c.epoch, c.stopAt = conf.Clone(), epoch, stopAt
	return nil
}

// applyChangeLocked makes the committed stop at i the core's
// configuration: it governs the slots above i, which belong to the next
// epoch.
func (c *Core) applyChangeLocked(i uint64, s *slot) error {
	ch, err := decodeChange(s.data)
	if err != nil {
		return fmt.Errorf("paxos: group %d: change at %d: %w", c.group, i, err)
	}
	c.cfg = c.cfg.With(ch.Ops)
	c.epoch, c.stopAt = c.epoch+1, i
	c.cfg.Engine = encodeSection(c.epoch, c.stopAt)
	c.configs[i] = c.cfg.Clone()
	return nil
}

// leftover reports whether a value accepted at b in slot i is a leftover
// of an ended epoch: a value above the stop that began the current epoch,
// accepted under a ballot of an earlier one. The stop was chosen, and no
// value above a chosen stop is ever chosen in the stop's epoch, so a
// leftover is never chosen: phase 1 ignores it and acceptors refuse to
// accept one.
func (c *Core) leftover(i uint64, b Ballot) bool { return i > c.stopAt && b.Epoch < c.epoch }

// commitTo marks the slots up to i chosen. Every one of them is present.
func (c *Core) commitTo(i uint64) {
	if i <= c.commit {
		return
	}
	changed := false
	for j := c.commit + 1; j <= i; j++ {
		s := c.slot(j)
		if s == nil {
			panic(fmt.Sprintf("paxos: group %d: commit %d over a missing slot", c.group, j))
		}
		if s.typ == driver.EntryChange {
			if err := c.applyChangeLocked(j, s); err != nil {
				c.logger.Error("paxos: undecodable committed change", "group", c.group, "index", j, "err", err)
			}
			changed = true
		}
		if c.lead != nil {
			delete(c.lead.acks, j)
		}
	}
	c.commit = i
	c.hsDirty = true
	if !changed {
		return
	}
	switch c.state {
	case replica.StateLeader:
		// The slots above the change are governed by the new
		// configuration: phase 1 again, over its quorums.
		if c.isVoter(c.id) {
			c.becomeCandidate(true)
		} else {
			c.becomeFollower(0)
		}
	case replica.StateCandidate, replica.StatePreCandidate:
		c.becomeFollower(0)
	}
}

// State changes.

func (c *Core) resetTimers() {
	c.electionElapsed, c.heartbeatElapsed = 0, 0
	c.randomizedTimeout = c.electionTicks + c.rng.IntN(c.electionTicks)
}

func (c *Core) becomeFollower(leader replica.ReplicaID) {
	c.state, c.leader = replica.StateFollower, leader
	c.ballot = Ballot{}
	c.p1, c.preVotes, c.lead = nil, nil, nil
	c.resetTimers()
}

// nextBallot is the ballot of its next campaign: of the configuration's
// epoch, or of its promise's if that is later (the replica has not
// learned the stop that began that epoch yet: its phase 1 over the old
// configuration recovers the stop, and stops there).
func (c *Core) nextBallot() Ballot {
	return Ballot{Epoch: max(c.epoch, c.promise.Epoch), Round: max(c.promise.Round, c.maxRound) + 1, Replica: c.id}
}

func (c *Core) becomePreCandidate() {
	c.becomeFollower(0)
	c.state = replica.StatePreCandidate
	c.preVotes = map[replica.ReplicaID]bool{c.id: true}
	b := c.nextBallot()
	for _, id := range c.cfg.Voters {
		if id != c.id {
			c.send(id, driver.MsgCampaign, &message{Type: msgPrePrepare, Ballot: b, Commit: c.commit})
		}
	}
	c.checkPreVotes()
}

func (c *Core) checkPreVotes() {
	yes, no := 0, 0
	for _, id := range c.cfg.Voters {
		if v, ok := c.preVotes[id]; ok {
			if v {
				yes++
			} else {
				no++
			}
		}
	}
	switch {
	case yes >= c.quorum():
		c.becomeCandidate(false)
	case no > len(c.cfg.Voters)-c.quorum():
		c.becomeFollower(0)
	}
}

// becomeCandidate promises the next ballot to itself. The prepares leave
// once the promise is durable (Advance).
func (c *Core) becomeCandidate(force bool) {
	b := c.nextBallot()
	c.becomeFollower(0)
	c.state, c.ballot, c.maxRound = replica.StateCandidate, b, b.Round
	c.promise = b
	c.hsDirty, c.mustSync = true, true
	c.p1 = &phase1{
		from: c.commit + 1, force: force,
		answered: map[replica.ReplicaID]bool{}, rejected: map[replica.ReplicaID]bool{},
		vals: map[uint64]wireSlot{},
	}
}

// startPhase1 sends the prepares and answers its own.
func (c *Core) startPhase1() {
	p := c.p1
	p.started = true
	var flags uint8
	if p.force {
		flags = flagForce
	}
	for _, id := range c.cfg.Voters {
		if id != c.id {
			c.send(id, driver.MsgCampaign, &message{Type: msgPrepare, Flags: flags, Ballot: c.ballot, Index: p.from})
		}
	}
	// Its own answer, every page at once.
	own := &message{Type: msgPromise, Ballot: c.ballot, Commit: c.commit, Trunc: c.trunc.Index}
	for i := max(p.from, c.firstIndex()); i <= c.lastIndex(); i++ {
		if s := c.slot(i); s != nil {
			own.Slots = append(own.Slots, c.wire(i, s))
		}
	}
	c.handlePromise(c.id, own)
}

func (c *Core) wire(i uint64, s *slot) wireSlot {
	return wireSlot{Index: i, Ballot: s.ballot, Type: s.typ, Data: s.data, Chosen: i <= c.commit}
}

// handlePromise merges one phase-1 answer page.
func (c *Core) handlePromise(from replica.ReplicaID, m *message) {
	p := c.p1
	stale := broken.staleP1 && m.Ballot.Less(c.ballot) && m.Ballot.Replica == c.id
	if c.state != replica.StateCandidate || p == nil || (m.Ballot != c.ballot && !stale) || !c.isVoter(from) || p.answered[from] {
		return
	}
	for _, s := range m.Slots {
		if s.Index < p.from || !s.Chosen && c.leftover(s.Index, s.Ballot) {
			continue
		}
		cur, ok := p.vals[s.Index]
		switch {
		case !ok, s.Chosen && !cur.Chosen, !cur.Chosen && cur.Ballot.Less(s.Ballot):
			p.vals[s.Index] = s
		}
	}
	if m.Commit > p.maxCommit {
		p.maxCommit, p.commitFrom = m.Commit, from
	}
	p.maxTrunc = max(p.maxTrunc, m.Trunc)
	if m.has(flagMore) {
		c.send(from, driver.MsgCampaign, &message{Type: msgPrepare, Ballot: c.ballot, Index: m.Index, Flags: flagForce})
		return
	}
	p.answered[from] = true
	n := 0
	for _, id := range c.cfg.Voters {
		if p.answered[id] {
			n++
		}
	}
	if n >= c.quorum() {
		c.finishPhase1()
	}
}

// finishPhase1 becomes leader over a quorum's promises: it takes the
// chosen slots as they are, proposes the highest-ballot value of every
// other slot again under its ballot and fills the holes with no-ops.
func (c *Core) finishPhase1() {
	p := c.p1
	if broken.noopInChosen {
		// Forget which slots were reported chosen: a slot chosen but
		// truncated away at every answerer becomes a hole, filled below.
		p.maxCommit = 0
	}
	// Slots at or below the highest commit reported are chosen: every one
	// must have come with its chosen value, or the candidate fetches them
	// first (they may be truncated away: a snapshot) and campaigns later.
	// The candidate may have learned chosen slots (or a snapshot) since it
	// asked: those it holds already.
	lo := max(p.from, c.commit+1)
	for i := lo; i <= p.maxCommit; i++ {
		if v, ok := p.vals[i]; !ok || !v.Chosen {
			from := p.commitFrom
			c.becomeFollower(0)
			c.send(from, driver.MsgEarly, &message{Type: msgFetch, Index: c.commit + 1})
			return
		}
	}
	b := c.ballot
	for i := lo; i <= p.maxCommit; i++ {
		v := p.vals[i]
		if s := c.slot(i); s == nil || s.ballot != v.Ballot || s.typ != v.Type {
			c.stageSlot(i, &slot{ballot: v.Ballot, typ: v.Type, data: v.Data})
		}
	}
	c.commitTo(max(c.commit, p.maxCommit))
	if c.state != replica.StateCandidate || c.ballot != b {
		return // a change among them: campaigning again under it
	}
	last := max(c.commit, c.lastIndex())
	for i := range p.vals {
		last = max(last, i)
	}
	c.becomeLeaderState()
	for i := c.commit + 1; i <= last; i++ {
		s := &slot{ballot: b, typ: driver.EntryNormal}
		if v, ok := p.vals[i]; ok {
			s.typ, s.data = v.Type, v.Data
			epoch := c.epoch
			if broken.stopBallotEpoch {
				epoch = v.Ballot.Epoch
			}
			if v.Type == driver.EntryChange && p.higherAbove(i, v.Ballot, epoch) && !broken.stopKept {
				// A value above the stop of a higher ballot of the
				// epoch the stop ends: a leader that did not keep the
				// stop proposed it, so the stop was never chosen. It
				// becomes a no-op.
				s.typ, s.data = driver.EntryNormal, nil
			}
		} else if broken.noNoopFill {
			continue
		}
		c.propose(i, s)
		if s.typ == driver.EntryChange {
			// A stop: nothing above it, now or until it is chosen.
			// The values above it were never chosen (else the stop
			// would have become a no-op): they are dropped, and the
			// next epoch's phase 1 ignores them (leftover).
			c.lead.pendingChange = i
			c.lead.readyAt = math.MaxUint64
			break
		}
	}
	if c.lead.pendingChange == 0 {
		// A no-op of its own ballot: reads wait for it.
		c.propose(last+1, &slot{ballot: b, typ: driver.EntryNormal})
		c.lead.readyAt = last + 1
		if broken.earlyReads {
			c.lead.readyAt = 0
		}
	}
	c.broadcastHeartbeat()
}

// higherAbove reports whether a slot above i, the first stop above the
// commit index, holds a value of a higher ballot than b, the stop's, in
// epoch, the epoch that the stop ends (the core's). Values of an earlier
// epoch are leftovers, ignored already. A value of a later epoch says
// that the stop was chosen: a later epoch begins only then; so does a
// stop accepted under a ballot of a later epoch (a replica that had not
// learned it chosen proposed it again), which no value of epoch tops.
func (p *phase1) higherAbove(i uint64, b Ballot, epoch uint64) bool {
	for j, v := range p.vals {
		if j > i && v.Ballot.Epoch == epoch && b.Less(v.Ballot) {
			return true
		}
	}
	return false
}

func (c *Core) becomeLeaderState() {
	c.state, c.leader, c.p1 = replica.StateLeader, c.id, nil
	c.lead = &leaderState{peers: map[replica.ReplicaID]*peer{}, acks: map[uint64]map[replica.ReplicaID]struct{}{}}
	for _, id := range c.peers() {
		c.lead.peers[id] = &peer{active: true}
	}
	c.resetTimers()
}

// propose puts s (at the leader's ballot) into slot i and sends it to every
// peer.
func (c *Core) propose(i uint64, s *slot) {
	c.stageSlot(i, s)
	c.lead.acks[i] = map[replica.ReplicaID]struct{}{}
	for _, id := range c.peers() {
		c.accepts[id] = append(c.accepts[id], i)
	}
}

func (c *Core) send(to replica.ReplicaID, kind driver.MsgKind, m *message) {
	m.From, m.To = c.id, to
	c.msgs = append(c.msgs, driver.Message{To: to, Kind: kind, Payload: encodeMessage(m)})
}

func (c *Core) broadcastHeartbeat() {
	if c.lead.readRound {
		c.lead.hbSeq++
		c.lead.readRound = false
	}
	for _, id := range c.peers() {
		c.send(id, driver.MsgEarly, &message{Type: msgHeartbeat, Ballot: c.ballot, Commit: c.commit, Seq: c.lead.hbSeq})
	}
}

// tryCommit advances the leader's commit over the slots a quorum of
// voters accepted at its ballot.
func (c *Core) tryCommit() {
	i := c.commit
	for {
		acks, ok := c.lead.acks[i+1]
		if !ok {
			break
		}
		n := 0
		for _, id := range c.cfg.Voters {
			if _, ok := acks[id]; ok {
				n++
			}
		}
		if n < c.quorum() {
			break
		}
		i++
	}
	if i > c.commit {
		c.commitTo(i)
		if c.state == replica.StateLeader {
			c.releaseWaiting()
		}
	}
}

// Reads.

func (c *Core) releaseWaiting() {
	l := c.lead
	if c.commit < l.readyAt || len(l.waiting) == 0 {
		return
	}
	for _, r := range l.waiting {
		c.registerRead(r.ctx, r.to)
	}
	l.waiting = nil
}

func (c *Core) registerRead(ctx []byte, to replica.ReplicaID) {
	l := c.lead
	if c.commit < l.readyAt {
		l.waiting = append(l.waiting, pendingRead{ctx: ctx, to: to})
		return
	}
	l.reads = append(l.reads, pendingRead{ctx: ctx, index: c.commit, seq: l.hbSeq + 1, to: to})
	l.readRound = true
	c.releaseReads()
}

// releaseReads answers the reads a quorum confirmed.
func (c *Core) releaseReads() {
	l := c.lead
	n := 0
	for _, r := range l.reads {
		acks := 0
		for _, id := range c.cfg.Voters {
			if id == c.id || (l.peers[id] != nil && l.peers[id].seq >= r.seq) {
				acks++
			}
		}
		if acks < c.quorum() {
			break
		}
		c.answerRead(r)
		n++
	}
	l.reads = l.reads[n:]
}

func (c *Core) answerRead(r pendingRead) {
	if r.to == c.id {
		c.readStates = append(c.readStates, driver.ReadState{Ctx: r.ctx, Index: r.index})
		return
	}
	c.send(r.to, driver.MsgEarly, &message{Type: msgReadIndexResp, Ctx: r.ctx, Index: r.index})
}
