// Package storage holds a node's durable state: one keyspace for every
// group's log, hard state and replicated state, behind the Store, View,
// Batch and Snapshot interfaces (storage.go), with the key layout in keys.go
// (DESIGN.md, "Storage"). It knows no replication engine: it imports no
// Raft, and what an engine puts in a log slot or a hard state is opaque
// bytes here.
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
// hard state the engine encodes (SetHardState, ReadHardState). They stage
// into a batch the driver owns, so that one batch and one fsync carry the
// writes of many groups; they keep no state, so an engine's adapter caches
// what it needs (raftengine.Log, Raft's raft.Storage, keeps the last index
// and term, the log's size and the latest entries):
//
//	b := store.NewBatch()
//	for _, g := range ready { // each group's writes, under its lock
//		storage.SetSnapshotPoint(b, g, at, storage.KeepNone) // with the snapshot's state restored into b
//		storage.AppendLog(b, g, prevLast, first, n, encode)
//		storage.SetHardState(b, g, version, state) // after its entries, same batch
//	}
//	err := b.Commit(mustSync) // one fsync; an error here is fatal (fail-stop)
//	b.Close()
//	// only now: send messages, apply committed entries
//
// Applied entries write AppliedState (AppliedKey) in their own apply batch,
// usually without sync; truncation (TruncateLog) never passes it.
//
// Engines reach those operations through two interfaces, so that where
// the log lives is the driver's choice (issue 17): they stage through a
// LogWriter (logwriter.go; BatchLog, LogOf(b), over a batch of this
// keyspace) and read through a LogReader (logreader.go; ViewLog over a
// View). Package logstore implements both over a node's segmented log
// (logstore.Writer, logstore.Reader); the driver does not use it yet.
package storage
