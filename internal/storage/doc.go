// Package storage holds a node's durable state: one keyspace for every
// group's raft log, hard state and replicated state, behind the Store, View,
// Batch and Snapshot interfaces (storage.go), with the key layout in keys.go
// (DESIGN.md, "Storage").
//
// Two stores implement Store: Pebble (OpenPebble), one pebble database per
// node, and Mem (NewMem), an in-memory store that keeps synced and unsynced
// writes apart so that Crash returns exactly what a power loss would leave.
// Pebble on vfs.NewCrashableMem plus CrashClone does the same for the real
// store (see OpenPebble).
//
// A group's log, whatever its engine, is kept with engine-neutral
// operations on its keys (log.go): slots of opaque bytes written one at a
// time (SetLogSlot) or appended with the tail replaced (AppendLog), read
// back as (index, bytes) (ScanLog, ReadLogSlot), a prefix truncated up to
// the applied index with its LogPoint recorded (TruncateLog), a snapshot
// point that keeps what the engine asks (SetSnapshotPoint), and a versioned
// hard state the engine encodes (SetHardState, ReadHardState).
//
// RaftLog is a group's raft.Storage (go.etcd.io/raft/v3) on a Store. Its
// writes are staged into a batch the driver owns, so that one batch and one
// fsync carry the Readies of many groups:
//
//	b := store.NewBatch()
//	for _, g := range ready { // each group's Ready, under its lock
//		g.log.StageSnapshot(b, rd.Snapshot.GetMetadata()) // if rd.Snapshot is set (plus the state machine's Restore into b)
//		g.log.StageAppend(b, rd.Entries)
//		g.log.StageHardState(b, rd.HardState) // after its entries, same batch
//	}
//	err := b.Commit(mustSync) // one fsync; an error here is fatal (fail-stop)
//	b.Close()
//	// only now: send messages, apply committed entries, Advance each RawNode
//
// Staging updates the RaftLog's cache at once, so the batch must be committed
// before raft reads the log again. Applied entries write AppliedState
// (AppliedKey) in their own apply batch, usually without sync; the truncation
// policy calls StageTruncate (never past applied) and watches LogSize.
package storage
