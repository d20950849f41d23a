// Package paxos is Cairn's Multi-Paxos engine: a pure core per replica
// (Core, a driver.Core) in the shape of etcd raft's RawNode — no
// goroutine, no clock, no I/O but staging writes into the batch the driver
// passes to Stage and reading its store when it opens — and Engine, the
// driver.CoreEngine that builds cores. It depends on no Raft package.
//
// # Protocol (issue 15)
//
// Ballots are (epoch, round, replica ID), ordered in that order (Ballot);
// the epoch is the configuration's, raised by each chosen stop.
// Durable per group: one promise, each slot's accepted (ballot, value),
// and the commit index, the contiguous prefix known chosen. A new round is
// the persisted promise's round + 1.
//
//	message        kind          from → to            what it does
//	PrePrepare     MsgCampaign   pre-candidate → voter  would you promise b? (persists nothing; PreVote)
//	PrePrepareResp MsgEarly      voter → pre-candidate  yes, or no with its promise
//	Prepare        MsgCampaign   candidate → voter      promise b; send accepted slots from Index
//	Promise        MsgLate       voter → candidate      a page of slots (chosen flagged), commit, truncation; More
//	Accept         MsgEarly      leader → member        accept these slots at b; commit piggybacked
//	Accepted       MsgLate       member → leader        the slots accepted (durable), its commit
//	Heartbeat      MsgEarly      leader → member        b, commit, read round
//	HeartbeatResp  MsgEarly      member → leader        its commit; Current: promise == b
//	Chosen         MsgEarly      any → lagging replica  chosen slots (catch-up, phase-1 fetch)
//	Committed      MsgLate       receiver → sender      its commit, durable
//	Fetch          MsgEarly      aborted candidate → acceptor  send chosen slots from Index
//	Snapshot       MsgSnapshot   any → lagging replica  stream the state at Index (driver rewrites it)
//	TimeoutNow     MsgEarly      leader → transferee    campaign now, past stickiness
//	ReadIndex(Resp) MsgEarly     follower ↔ leader      a follower's read index
//
// States: follower → (election timeout) pre-candidate → (quorum of yes)
// candidate → (its promise durable: Advance) prepares out → (quorum of
// complete answers) leader. An acceptor that heard a live leader within an
// election timeout, or leads, refuses prepares not forced by a transfer
// (stickiness); a leader that heard from no quorum in an election timeout
// steps down (CheckQuorum), so stickiness never strands a group.
//
// Phase 1 runs from commit+1 over the whole suffix. Slots at or below the
// highest commit reported are chosen: their values come flagged chosen in
// the answers, or the candidate gives up, fetches them (slots, or a
// snapshot when truncated) and campaigns later — it never proposes there.
// Above, it takes the highest-ballot value per slot, fills holes with
// no-ops, proposes them all under its ballot, and appends one no-op of its
// own: reads wait until that is committed.
//
// Phase 2: an acceptor accepts at or above its single promise, raising it
// in the same write, writes only the slots sent (never a tail delete), and
// answers after the fsync (MsgLate). The leader sends its accepts before
// its own fsync and counts itself once its write is durable (Advance); it
// counts one answer per voter per slot at its ballot. A follower marks a
// slot chosen from the piggybacked commit only if it accepted it at that
// ballot; the leader pushes the rest (Chosen) or a snapshot.
//
// Reads: a leader answers a read with its commit index once a quorum of
// voters answered a heartbeat round sent after the read as acceptors
// promised exactly its ballot; one round per Ready.
//
// Membership by a stop command (Stoppable Paxos): a change is an
// EntryChange slot carrying the next configuration (and the driver's
// frame, ChangeContext), a stop. A leader that has committed a slot of its
// own ballot proposes one at s = its last slot + 1, so nothing is
// outstanding above s, and proposes nothing above it afterwards; one
// change at a time, single-step (at most one voter added or removed,
// learners freely). In recovery, if the highest-ballot value at a slot s
// is a stop and a slot above s holds a value of a higher ballot of the
// epoch the stop ends (the candidate's configuration's: s is the first
// stop above its commit), a leader that did not keep the stop proposed
// it: the stop was never chosen and becomes a no-op. Otherwise the stop is
// proposed again under the candidate's ballot and everything above s is
// dropped: nothing there was chosen. (A value of a later epoch above the
// stop says the stop was chosen: a later epoch begins only then. So does
// the stop itself under a later epoch's ballot: a replica that had not
// learned it chosen proposed it again. Comparing with the epoch of the
// stop's ballot instead made a chosen stop a no-op: broken.stopBallotEpoch,
// caught by a pinned seed of TestSimulationMembership's history.)
//
// Epochs: the stop chosen at s ends epoch e; the slots above s belong to
// epoch e+1 under the new configuration, and every replica that commits
// the stop moves to it (ApplyChange returns the configuration with its
// engine section: the epoch and s, which the descriptor and snapshots
// carry). The leader that commits it runs phase 1 at once, from s+1,
// under a ballot of epoch e+1 (above every ballot of e) over the new
// configuration's quorums only, or steps down if no longer a voter. In
// epoch e+1, a value above s accepted under a ballot of e is a leftover,
// never chosen: phase 1 ignores it (the hole gets a no-op) and acceptors
// refuse to accept one. A replica whose promise is of a later epoch than
// its configuration (it has not learned the stop chosen) campaigns under
// that later epoch over its old configuration: it recovers the stop, and
// stops there, as any candidate does. Learners receive accepts, chosen
// slots and snapshots; they never vote.
//
// Senders: a replica takes prepares, accepts, heartbeats and chosen slots
// from any replica of its group, even one its configuration does not
// name: a replica left behind a change learns the change only from the
// leader that came after it (script stale_config). Only the answers a
// leader or candidate counts (pre-prepare and prepare answers, accepted
// slots, heartbeat answers, Committed, Fetch, ReadIndex) must come from a
// member of its configuration.
//
// # The round
//
//	c.Tick(); c.Step(from, msg); c.Propose(data); c.ReadIndex(ctx) ...
//	rd := c.Ready()
//	c.Stage(batch, &rd)           // snapshot point, slots, hard state
//	send rd's MsgEarly/MsgCampaign messages; commit batch (fsync if rd.MustSync)
//	apply rd.Committed (ApplyChange for EntryChange); serve rd.Reads
//	send rd's MsgLate messages
//	c.Advance(rd)
package paxos
