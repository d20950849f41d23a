// Package raftengine runs Raft groups (go.etcd.io/raft/v3, through RawNode)
// for one node: the multi-group driver that DESIGN.md describes.
//
// The engine-neutral parts move out to package replica/driver (issue 13,
// item 2), which imports no raft. There already: the scheduler and worker
// pool (driver.Scheduler, over this package's groups), the proposal frames
// (driver.Frame, driver.FrameEntry, driver.FrameConf), the leader stamp
// clock (driver.StampClock) and the snapshot token bucket
// (driver.TokenBucket). Still here, and next to move (driver's doc lists
// them, with the core interface this package will then implement): the
// round below, proposal tracking, reads, the expiry sweep, truncation,
// snapshots, consistency checks, tombstones and unsafe recovery.
//
// A Host owns every group on the node. It has one ticker and a small pool of
// scheduler workers (a driver.Scheduler) — never a goroutine per group.
// Anything that gives a group work (an inbound message, a proposal, a read, a
// tick) queues it and schedules the group; a worker takes every scheduled
// group and runs one round over them:
//
//	for each group: step inputs; rd := Ready(); stage snapshot, entries and
//	                hard state into ONE log batch; send appends and heartbeats
//	commit the log batch with ONE fsync for all groups
//	send responses that promise durability (MsgAppResp, votes)
//	apply every group's committed entries into ONE apply batch (kv sees its
//	                own earlier writes through the indexed batch); commit it
//	for each group: answer proposals and reads, Advance
//
// A test can run a Host with Config.Manual and drive it with Tick and
// RunRound (the scheduler's, with no workers and no ticker). The simulation (package replica/sim, which builds hosts through
// the engine registry) runs every node of a cluster that way in one
// goroutine, through the calls that never block: the replica.Group's
// ProposeAsync, ReadAsync and ChangeMembersStep, Host.HandleSnapshotAsync
// and Config.SnapshotSender; it reads every replica's log with the
// engine's registered ReadLog (readlog.go).
//
// Proposals carry a driver frame (driver.Frame: proposal ID, the leader's
// clock stamp from the host's driver.StampClock); the stamp is the state
// machine's group time for expiry. The proposer
// waits on its ID. A proposal raft drops synchronously is certainly not
// applied: while no leader is known it is retried each round until the
// caller's deadline; with another leader known it fails with
// *replica.ErrNotLeader naming it. A proposal whose log index was taken by
// another entry is certainly lost and is proposed again. Anything else
// unknown at the deadline is indeterminate.
//
// Reads: ReadIndex (ReadOnlySafe), one request per group per round for all
// reads queued in it, re-issued when raft drops it; a read runs once the
// local applied index reaches the read index. Follower reads do the same on
// a follower. No leases.
//
// Each group's log is a Log (raftlog.go): raft's Storage on storage's
// engine-neutral log operations, with raft's encoding of entries and hard
// state (logcodec.go) and a cache of the latest entries; a round stages
// its writes into the round's one batch.
//
// Snapshots stream the group's replicated span from a consistent store
// snapshot on the transport's snapshot call, each chunk waiting for a
// host-wide driver.TokenBucket (Config.SnapshotRate); the receiver applies them
// in the same batch that resets its log. Logs are truncated past what every
// active follower has, or past the applied index once above a size limit.
// Membership changes go learner → catch-up → one joint change; a removed
// replica deletes its data and leaves a tombstone. A replica removed while
// its node was away never applies its removal: Host.RemoveStale does the
// same for it, given the leader's newer descriptor that leaves it out; a
// replica ignores messages from replicas its descriptor proves removed. A
// node whose clock is off from a majority sends no votes and hands
// leadership away.
//
// Consistency checks (consistency.go): the leader proposes a driver entry
// of its own (driver.FrameEntry: a frame version beside the commands',
// which kv applies as an empty entry) every Config.ConsistencyCheckInterval, or when
// Group.CheckConsistency asks. Applying it, every replica commits the
// apply batch so far, takes a store snapshot — its state at exactly that
// index — and digests it on a goroutine of its own; the digest goes back
// to the proposer as a driver message (transport.KindDriver), which
// judges by the digest a majority of the voters hold. A replica that
// differs serves no reads, proposes nothing, hands leadership away and
// asks for no votes, durably, until a raft snapshot rebuilds it or it is
// removed; with no majority every replica refuses writes until a check
// finds one again.
//
// A group that lost its quorum can be forced on: Host.UnsafeRecover makes
// the local replica its only voter, keeping what it applied and dropping
// the rest of its log (Host.UnsafeRecoverPlan says how much first); the
// group then grows back with ChangeMembers.
package raftengine
