// Package raftengine is the Raft engine (--engine raft, and the meta group
// of every cluster): etcd raft's RawNode (go.etcd.io/raft/v3) adapted to
// the driver's Core (core.go), and the Raft log. The driver (package
// replica/driver) runs its replicas beside those of any other engine, in
// the same rounds and fsyncs; this package decides only what Raft decides.
//
//   - core.go: the Core (RawNode: its Ready in the driver's words, with
//     the appends and votes answers marked late, votes marked as campaign
//     messages, MsgSnap as a snapshot to stream) and the CoreEngine
//     (opening a replica's RawNode over its Log, the founding log state,
//     snapshot messages, the hard state an unsafe recovery keeps).
//   - raftlog.go: each group's Log, raft's Storage on storage's
//     engine-neutral log operations, with raft's encoding of entries and
//     hard state (logcodec.go) and a cache of the latest entries; the
//     Core's Stage writes a Ready into the round's one batch through it.
//   - config.go: NewHost, a driver.Host with Raft for every group, and the
//     knobs of etcd raft's Config that the engine sets.
//   - readlog.go: the engine's registered ReadLog, which the simulation
//     checks every replica's durable log with.
//
// Raft is run with CheckQuorum, PreVote, StepDownOnRemoval and
// ReadOnlySafe; proposal forwarding is off (the driver answers a
// follower's proposal with *replica.ErrNotLeader). A membership change of
// more than one replica is a joint change that raft leaves by itself.
package raftengine
