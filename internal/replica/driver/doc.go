// Package driver runs a node's replicas, of every engine: the
// engine-neutral machinery around the engines' cores, which decide. It
// imports no engine (no go.etcd.io/raft); engines import it, each as a
// Core per replica (core.go) built by its CoreEngine.
//
// An engine's core is pure, in the shape of etcd raft's RawNode: Tick,
// Step, Propose, ProposeChange, ReadIndex, TransferLeader, Campaign and
// the reports go in; a Ready comes out (messages early and late, entries
// to append, a snapshot to install, committed entries, read answers, the
// leadership it believes), which the driver does and hands back with
// Advance. Stage writes the Ready's durable part (hard state, log)
// through the round's storage.LogWriter, and a core reads its log through
// a storage.LogReader (CoreConfig.Log): the engine owns the encoding of
// its log and hard state, over storage's engine-neutral log operations;
// the driver owns where the log lives (today the store's keyspace:
// storage.LogOf(batch), storage.ViewLog). What a second
// engine implements is the Core and CoreEngine interfaces: nothing else.
//
// A Host (host.go) owns every replica on the node, of whichever engine
// runs its group (Config.Engine; Config.MetaEngine for group 0, the meta
// group, always Raft). It has one ticker and a small pool of workers (a
// Scheduler) — never a goroutine per group. Anything that gives a group
// work (an inbound message, a proposal, a read, a tick) queues it and
// schedules the group; a worker takes every scheduled group and runs one
// round over them, whatever their engines (round.go):
//
//	for each group: step inputs; rd := core.Ready(); stage the snapshot's
//	                data, then core.Stage(batch, rd), into ONE log batch;
//	                send its early messages (a leader's appends, heartbeats)
//	write the log batch; its ONE fsync for all groups runs meanwhile:
//	apply every group's committed entries into ONE apply batch (kv sees
//	                its own earlier writes through the indexed batch);
//	                commit it; answer proposals and reads (committed is
//	                durable on a quorum already)
//	wait for the fsync; send the late messages (acks, votes, promises)
//	for each group: core.Advance(rd); truncate the log if due
//
// A test can run a Host with Config.Manual and drive it with Tick and
// RunRound (the scheduler's, with no workers and no ticker). The
// simulation (package replica/sim, which builds hosts through the engine
// registry) runs every node of a cluster that way in one goroutine,
// through the calls that never block: the replica.Group's ProposeAsync,
// ReadAsync and ChangeMembersStep, Host.HandleSnapshotAsync and
// Config.SnapshotSender.
//
// Proposals carry a frame (entry.go: Frame, FrameEntry, FrameConf: the
// proposal ID, the leader's clock stamp from the host's StampClock); the
// stamp is the state machine's group time for expiry. The proposer waits
// on its ID. A proposal a core drops synchronously is certainly not
// applied: while no leader is known it is retried each round until the
// caller's deadline; with another leader known it fails with
// *replica.ErrNotLeader naming it. A proposal whose log index was taken by
// another entry is certainly lost and is proposed again. Anything else
// unknown at the deadline is indeterminate.
//
// Reads: one read index per group per round for all reads queued in it,
// asked again when the core loses it (a leader change, a timeout); a read
// runs once the local applied index reaches the read index. Follower reads
// do the same on a follower. No leases.
//
// Snapshots stream the group's replicated span from a consistent store
// snapshot on the transport's snapshot call, each chunk waiting for a
// host-wide TokenBucket (Config.SnapshotRate); the receiver applies them in
// the same batch in which its core resets its log. Logs are truncated past
// what every active follower has, or past the applied index once above a
// size limit. Membership changes go learner → catch-up → one change of
// the rest (an engine with joint consensus makes it joint); a removed
// replica deletes its data and leaves a tombstone. A replica removed while
// its node was away never applies its removal: Host.RemoveStale does the
// same for it, given the leader's newer descriptor that leaves it out; a
// replica ignores messages from replicas its descriptor proves removed. A
// node whose clock is off from a majority sends no campaign messages and
// hands leadership away.
//
// Consistency checks (consistency.go), every engine: the leader proposes
// a driver entry of its own (FrameEntry: a frame version beside the
// commands', which kv applies as an empty entry) every
// Config.ConsistencyCheckInterval, or when Group.CheckConsistency asks.
// Applying it, every replica commits the apply batch so far, takes a store
// snapshot — its state at exactly that index — and digests it on a
// goroutine of its own; the digest goes back to the proposer as a driver
// message (transport.KindDriver), which judges by the digest a majority of
// the voters hold. A replica that differs serves no reads, proposes
// nothing, hands leadership away and asks for no votes, durably, until a
// snapshot rebuilds it or it is removed; with no majority every replica
// refuses writes until a check finds one again.
//
// A group that lost its quorum can be forced on: Host.UnsafeRecover makes
// the local replica its only voter, keeping what it applied and dropping
// the rest of its log (Host.UnsafeRecoverPlan says how much first); the
// group then grows back with ChangeMembers.
package driver
