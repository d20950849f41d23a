// Package replica is the seam between a node and its replication engines:
// the Host, Group and StateMachine interfaces, the replicated Descriptor
// (membership), the typed State of a replica, the errors a caller branches
// on, and the registry that maps the cluster's stored --engine setting to
// an engine. A node imports this package and no engine: the binary links
// the engines it offers (cmd/cairn/engines.go), each registering itself
// from its package's init.
//
// A node's view:
//
//	h, err := replica.NewHost(settings.Engine, replica.HostConfig{...})
//	h.Bootstrap(desc, seed) // founding groups, once
//	h.Start(tr)              // h is also the transport's Handler
//	g, ok := h.Group(id)
//	if g.IsLeader() { ... }                // an atomic load: every request may ask
//	res, index, err := g.Propose(ctx, cmd) // *ErrNotLeader, ErrNotApplied: certainly not applied
//	                                       // ErrIndeterminate: may or may not have applied
//	err = g.Read(ctx, replica.Linearizable, func(v storage.View) error { ... })
//	err = g.ChangeMembers(ctx, target)     // learner, catch-up, joint change
//	st := g.Status()                       // State, Term, Commit, Applied, Descriptor, per-peer lag, alarms
//	chk, err := g.CheckConsistency(ctx)    // on the leader: every replica's digest at one index, a verdict
//	rec, err := h.UnsafeRecoverPlan(id)    // what a forced recovery would keep and drop
//
// # Writing an engine
//
// An engine provides a Host (NewHostFunc, registered under the engine's
// name with Register) whose groups implement every method of Group; what
// it cannot do returns ErrUnsupported (a read mode it cannot serve, for
// instance). Its Host must also be a ManualHost when built with
// HostConfig.Manual, so the simulation (package sim) can drive it tick by
// tick and round by round, hand its snapshots over through
// HostConfig.SnapshotSender and HandleSnapshotAsync, and bend its timing
// and truncation with HostConfig's overrides (ElectionTicks, TruncateAfter,
// UnsafeAckBeforeSync, ...); its Group's non-blocking calls (ProposeAsync,
// ReadAsync, ChangeMembersStep) are what the simulation's clients use.
// Status speaks in neutral words: State, Term as the engine's one ordered
// leadership generation, and per follower CaughtUp, LagEntries and
// LagSeconds.
//
// An engine registers an Engine: its name, its NewHost, and the rules the
// layers above it ask without importing it. Liveness is one: whether a
// group keeps a working configuration with the replicas on live nodes
// (Majority for Raft and Paxos); the move planner refuses a drain or a
// removal that would break it. ReadLog is another: it decodes a
// replica's durable log through a storage.LogReader (commit index; committed entries by
// index, identity, term and command), which the simulation checks every
// replica with after every step. TermsAgree says whether the simulation
// may also compare a committed entry's term across replicas (Raft: yes;
// Paxos, which may accept a chosen value again under a newer ballot: no).
//
// ConfigStore is what an engine may keep configuration of its own in
// (HostConfig.ConfigStore): compare-and-swap, linearizable get and watch
// on keys of the meta group, every call answered later from the store's
// goroutines, since group 0 shares the engine's rounds and a round must
// never wait for it. The primary-backup engine keeps each partition's
// configuration there. A node passes its store on the meta group; tests
// and the simulation a MemConfigStore, whose queue they drain when they
// choose (Step, Run).
//
// The state machine (kv) is the same for every engine: Apply committed
// entries in order into one batch with the applied index, Due for the
// expiry sweep, and Restore to install a snapshot's pairs; Digester for
// consistency checks.
//
// Consistency checks, every engine: the leader proposes a check; every
// replica digests its replicated state at exactly the check's index (off
// the apply path) and reports it; the digest a majority of the voters hold
// is right. CheckConsistency runs one and returns the Check. A replica
// found to differ (Status.Diverged) answers reads with ErrDiverged and does
// not lead until it is rebuilt from a snapshot; with no majority
// (Status.NoMajority) the group refuses writes with ErrNoMajority.
//
// The driver (package replica/driver) runs every engine's replicas: one
// round and one fsync for the groups of every engine on a node, with each
// engine a pure core in the shape of etcd raft's RawNode (driver.Core,
// driver.CoreEngine). An engine's NewHost builds a driver.Host with its
// CoreEngine for the cluster's groups and the meta group's engine for
// group 0 (driver.MetaEngine: Raft's, which raftengine registers, so no
// other engine imports Raft):
//
//	meta, err := driver.MetaEngine(cfg.Store)
//	h, err := driver.NewHost(driver.ConfigOf(cfg, myEngine{}, meta))
//
// A second engine implements, per replica (driver.Core): Tick, Step,
// Propose, ProposeChange, ReadIndex, TransferLeader, Campaign,
// ReportUnreachable, ReportSnapshot, HasReady, Ready, Advance, Stage, Log
// (FirstIndex, LastIndex, LogSize, StageTruncate), Basic, Progress,
// EngineStatus, ChangeContext and ApplyChange; and per engine
// (driver.CoreEngine): Name, NewCore, Bootstrap, SnapshotMessage,
// DecodeSnapshot, Joint, Recovery, StageRecovery and Serves (which read
// modes it serves). Package paxos is the worked example of an engine of
// our own; package primarybackup keeps its configuration in the
// ConfigStore.
//
// A Descriptor has a neutral part (version, replicas and their nodes,
// voters, learners, next replica ID), which every layer reads, and an
// engine section (Descriptor.Engine) that only its engine interprets: the
// driver carries it in driver.Conf and stores what ApplyChange returns.
// Raft's is a JointConf (its joint configuration; nil outside one); the
// layers above learn of it only through Descriptor.Joint and Outgoing. A
// second engine keeps its own state there (say an epoch, primary and
// in-sync set) under a first byte of its own, which Encode writes in the
// descriptor's version 2.
package replica
