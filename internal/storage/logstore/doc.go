// Package logstore is a node's replication log: one segmented, append-only
// log holding the entries, truncated points, hard states and tombstones of
// every group of every engine, written with one write and one fsync per
// round, so that log entries never go through an LSM memtable (issue 17,
// "A log store made for logs"; notes/log-store.md has the prior art).
//
// # Use
//
// The driver stages a round's writes for all its groups into one Batch and
// writes it once:
//
//	b.Reset()
//	for _, g := range round {
//		b.TruncateSuffix(g, 0); b.TruncatePrefix(g, snapPoint) // a snapshot installed (Raft: keep nothing)
//		b.Append(g, first, n, encode)      // Raft: replaces the tail from first on
//		b.Set(g, slot, value)              // Paxos: one slot among holes
//		b.TruncateSuffix(g, last)          // primary-backup: a divergent suffix
//		b.SetHardState(g, hs)              // after the entries it covers
//	}
//	err := store.Write(b, mustSync)        // one write, one fsync; an error is fatal
//	// later, at or below each group's durable applied index:
//	b.TruncatePrefix(g, storage.LogPoint{Index: durableApplied, Term: t})
//	// a replica's removal, before its tombstone in the state machine:
//	b.Destroy(g, replicaID)
//
// and reads back with Entries(g, lo, hi, maxBytes), FirstIndex, LastIndex,
// Truncated, HardState and Tombstone, which see a write as soon as Write
// returns. A batch is atomic: after a crash it is all there or not at all.
//
// # Format
//
// The log is a directory of segments named by a 16-hex-digit ID, counting
// up from 1 with no gaps (0000000000000001.log …), and a LOCK file.
// Nothing else may be there: Open refuses any other file, naming it. A
// segment starts with a 32-byte header: the magic "CAIRNLOG", the format
// version (FormatVersion; another is refused, naming it), a CRC32-C, the
// segment's ID and prevEnd, the valid length of the segment before it.
// Frames follow, one per Write:
//
//	crc32c(4) length(4) version(1) zero(3) synced(4) | body(length)
//
// The CRC32-C covers the segment ID, the rest of the header and the body,
// so bytes from another segment never pass. synced is the offset in this
// segment that was durable when the frame was written. The body is a
// sequence of operations, each an op byte, the group and its fields
// (varints, and 4-byte lengths before payloads so that an encoder writes an
// entry in place): Append, Set, TruncateSuffix, TruncatePrefix,
// SetHardState, Destroy, and the state record of a relocation.
//
// The index is in memory: per group, a sorted slice of (index, segment,
// offset, length) — sparse, so Paxos holes cost nothing — and the truncated
// point, hard state and tombstone with the segment of the record that set
// each. Open rebuilds it by replaying every frame in order; Write applies
// a frame through the same code. Entries reads payloads with one pread per
// run of adjacent entries.
//
// # Recovery
//
// A segment followed by others was fsynced whole before the next one was
// created, and its successor's prevEnd says where it ends: any frame
// before that end that fails its check is an error (*CorruptError, naming
// the file and offset), and the node must not start. Only the last
// segment can have a torn tail. In it, a frame that fails its check is a
// torn write, dropped with everything after it, only if it lies at or
// after the highest synced offset that an earlier valid frame recorded,
// and if it looks torn: its header is zero, it runs past the end of the
// file, or one of the 512-byte sectors it covers is blank over its part of
// it. Anything else is damage to acknowledged data, and an error. (The
// last synced frame is covered by the second test only: nothing after it
// says it was synced.) A last segment whose header is blank or short was
// being created when the power went; it is removed. After replay the last
// segment is fsynced and a new segment is started, its prevEnd cutting
// off whatever torn bytes followed, so nothing is ever appended after
// bytes recovery skipped and a crash during recovery is recovered the
// same way.
//
// # Dropping segments
//
// Each segment counts the index items that live in it: entries, and the
// records that set a group's truncated point, hard state or tombstone.
// Segments are removed oldest first, only while the oldest has no live
// item and only after a sync, so that the records that made its items dead
// are durable; the directory is fsynced after each removal, so that a
// crash never leaves an older segment without a newer one. That order is
// what makes replay safe: a record that removed entries (a tail
// replacement, a suffix or prefix truncation, a destroy) is removed only
// together with every older record it overrode, so nothing is resurrected.
//
// A group that sits idle still has live records (its hard state, its
// truncated point, its last entries) in the segment it last wrote, and that
// would pin every later segment. So past CompactAfter segments, after a
// sync, the oldest segment is compacted when at most a quarter of it is
// live: each of its live items is rewritten at the head of the log (an
// entry as a Set of the same slot, a group's state as one record setting
// its truncated point, hard state and tombstone as they are), synced, and
// the segment dropped. This is sound because no operation's effect depends
// on which entries a group holds, only on indexes, the truncated point and
// the tombstone. A segment more than a quarter live belongs to groups that
// need their logs (Stats.Pinning names them; the driver may snapshot and
// truncate them); past ForceCompactAfter segments it is compacted anyway
// as long as half of the log is dead, so the log stays within about twice
// what its groups need. At most one segment is compacted per sync.
//
// # Costs and limits
//
// A round's Write is one write(2) of its frame and, with sync, one
// fdatasync; it allocates nothing once its groups exist (TestWriteAllocs).
// Readers wait while a frame is applied and written, and during the
// fsyncs of a rotation (every SegmentSize bytes); never during a round's
// fsync. A compaction copies at most one segment's live records, inside
// the sync that triggers it. A frame holds at most 1 GiB. Tombstones are
// kept for good (a few bytes each, moved forward by compaction). Segments
// are not preallocated: measure before adding it.
//
// # What the caller must do
//
// Truncate a group's prefix only at or below its durable applied index
// (what a synced state-machine write made durable), write a snapshot's
// state durably before the truncation that relies on it, and write
// Destroy before the replica's tombstone in the state machine: the log
// cannot check those, as it does not see the state machine.
package logstore
