// Package driver is the engine-neutral machinery of a node's replicas:
// what runs the groups of every engine, as opposed to the engines' cores,
// which decide. It imports no engine (no go.etcd.io/raft); engines import
// it.
//
// It holds today the proposal frames (entry.go): a command's frame
// (version 1: the proposal ID and the leader's stamp before the command),
// a driver entry's frame (version 2: a consistency check), a membership
// change's context, and EntryCommand for tools that read logs. Their
// bytes are in every stored log and never change.
//
//	data := driver.Frame(id, cmd)          // Propose
//	driver.Stamp(data, now)                // as the leader hands it to its core
//	id, at, cmd, err := driver.Unframe(d)  // apply: at is group time
//
// StampClock gives the leader's stamps (one per batch of proposals; never
// backwards; catching up with a wall clock that stepped forward at most
// 10% faster than real time), which are group time for expiry.
// TokenBucket paces a node's snapshot streams (--snapshot-rate).
//
// The rest of the shared machinery (the scheduler, the round, proposals,
// reads, snapshots, tombstones) is still in raftengine, and moves here
// step by step (issue 13, item 2).
package driver
