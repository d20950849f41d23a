// Package primarybackup is Cairn's primary-backup engine (--engine
// primary-backup), in the model of Microsoft's PacificA: a pure core per
// replica (Core, a driver.Core) in the shape of etcd raft's RawNode — no
// goroutine, no clock, no I/O but staging writes into the batch the driver
// passes to Stage and reading its store when it opens — and Engine, the
// driver.CoreEngine that builds cores. It depends on no Raft package. Sync
// mode is the default; async mode (below) loses, in a failover, at most
// what its primary acknowledged that the new primary lacked, and records
// every entry it rolls back.
//
// # Configuration: the meta group decides, replicas never elect
//
// Each partition's configuration is a Record in the meta group, reached
// through the node's replica.ConfigStore under key "pb/<group>": epoch,
// primary, replicas, the in-sync set, next replica ID, members' reported
// offsets and a lease renewal counter. It changes only by a
// compare-and-swap on the version the writer read. A founding group's
// record (epoch 1, the first voter primary, every voter in sync) is
// implied by its descriptor and written by its primary, only if absent,
// before it takes office. A replica keeps the record it last knew in its
// hard state and learns newer ones from its primary's appends, which
// carry the record and its version.
//
// The core stays pure: it asks for store calls in its Ready (Get, or a
// CompareAndSwap), at most one in flight; Shell, the Core the engine hands
// the driver, makes them after Advance, and posts each answer back as a
// message from the replica to itself (driver.CoreConfig.Post), stepped in
// a later round. A call that fails (the meta group unreachable) is retried
// after half an election timeout.
//
// # The log
//
// Every entry carries (epoch, offset, h) with h = H(previous h ‖ epoch ‖
// offset ‖ type ‖ data) (chain: the first 8 bytes of SHA-256), and the hard
// state keeps the epoch history (epoch → first offset). Each tenure of a
// primary has an epoch of its own: a failover and also a restarted
// primary take a new one (a restarted primary could otherwise count a
// stale acknowledgement of an entry it lost in the crash).
//
//	message     kind         from → to           what it does
//	Append      MsgEarly     primary → member    record, Prev (index, epoch, h), entries, commit, Seq
//	AppendResp  MsgLate      member → primary    Index: matched and durable; or Reject, Last; Term: the
//	                                             epoch of the append it answers (others are ignored)
//	Snapshot    MsgSnapshot  primary → member    the state at Index (the driver rewrites it)
//	Store       (Post)       shell → own core    a configuration store answer to call Op
//
// A member takes an append only if its log holds Prev with the same epoch
// and h, checks each entry's h chains, drops a divergent suffix (never at
// or below its commit: that is refused as an error), and answers after its
// fsync. Otherwise it rejects with its entry at Prev (Last): the primary
// jumps to where the two logs can at best agree — the end of Last's epoch
// in its own history — and probes there, one epoch per round trip at
// worst; below its truncated point it sends a snapshot. A member whose log
// holds a snapshot's point (same offset and epoch) refuses it and keeps
// the entries above, which it may have acknowledged.
//
// # Sync mode: commit on every in-sync member
//
// The primary appends, sends before its own fsync, and commits an entry
// once its own copy and every in-sync member's are durable — and only
// while the in-sync set has at least Options.MinInSync members
// (--pb-min-in-sync, default min(2, R)); below it, Propose refuses
// (driver.ErrDropped: certainly not appended) and appended entries wait.
// A backup silent for an election timeout is dropped from the in-sync set
// by a write to the store quoting the record's version; until the store
// confirms it, the backup still counts, so no write it lacks is
// acknowledged. A backup that holds every entry the primary appended is
// added back the same way, and nothing commits while that write is in
// flight: every entry then committed is on it. Under unbroken load a
// backup close behind (within one append's entries) would never hold
// every entry at a tick; the primary then raises a catch-up barrier: it
// appends nothing (Propose refuses; the driver holds the proposals and
// retries them) until the backup rejoins, for at most an election
// timeout, and not again for four (TestRejoinUnderLoad; without the
// barrier the backup never rejoins there). A backup further behind is
// caught up by the log or a snapshot first, with no barrier.
//
//	invariant: every committed entry is durable on every member of the
//	in-sync set the store holds now (the harness checks it every round)
//
// # The lease and failover
//
// The primary renews its lease by writing the record four times a lease
// (Options.LeaseTicks, default three election timeouts). A backup in the
// in-sync set that hears nothing from its primary for an election timeout
// reads the record, then reads it again a whole lease later by its own
// ticks; if the version has not moved, the lease ran out unrenewed and it
// asks for epoch e+1 with itself primary, quoting that version. A backup
// that knows another in-sync member reported a higher offset lets it go
// first once. Only members of the in-sync set fail over, so the new
// primary holds every committed entry. While its request is in flight, a
// backup confirms nothing of the old primary. The old primary can commit
// nothing more: its backups answer its appends from the newer epoch (it
// steps down on such an answer), and its own attempt to drop them quotes
// an old version and conflicts. Clocks play no part in safety here; the
// lease only keeps a primary that still reaches the meta group from being
// replaced.
//
// # Taking office, reads
//
// A replica that starts acting as primary (a failover, a restart, the
// founding) first has the store name it at its epoch (read, or written),
// then appends an entry of its epoch after its whole log, and replicates
// the log to every member. It is in office once that entry commits, which
// needs every in-sync member to hold the whole log. The driver sees it as
// leader only then (until then it is a follower naming itself primary:
// proposals wait), so no status shows as leader a primary whose commit
// index may still rise to entries acknowledged before it restarted. Reads (ReadIndex) on a
// primary in office get its commit index and are answered after a
// confirmation round (one per round of reads) in which every in-sync
// member answers at this epoch; reads that come before it took office wait
// for it. Follower reads are refused at once (Engine.Serves,
// ErrFollowerReads); stale reads work anywhere.
//
// # The record in the log, membership, switchover
//
// Each record that changes the epoch, the primary or the in-sync set is
// written into the group's log as an EntryChange (a record entry: the
// record and its version, no ops): the entry that opens a tenure is one,
// and so is the entry a primary appends after the store confirms an
// in-sync change. ApplyChange returns the configuration with the record
// as its engine section, so the descriptor follows the record.
//
// Membership changes come one replica's role per step (Engine.Joint is
// false), through the driver's ChangeMembers, on a primary in office with
// no other change pending. The record comes first: a change that alters
// it (a new learner listed among the replicas, outside the in-sync set; a
// leaving voter dropped from the in-sync set and the replicas together; a
// demoted one from the in-sync set) is written by compare-and-swap while
// ProposeChange refuses (the driver retries every round); then the change
// is appended carrying the record. Until the store confirms the smaller
// in-sync set the leaving member still counts, as for a silent backup. A
// learner gets entries once the change adding it is applied on the
// primary (peers are the descriptor's members): an uninitialised replica
// answers an append with a rejection at 0, so it gets a snapshot, then
// the log tail. A promoted learner joins the in-sync set by the rule above
// (only voters the record lists may). A change that removes the primary
// itself is refused: ChangeMembers hands over first.
//
// Switchover (TransferLeader(to), to an in-sync voter): the primary
// refuses writes from then on, waits until to holds durably every entry
// it appended, and writes epoch e+1 naming to by compare-and-swap; it then
// becomes to's backup and tells it (TakeOver). to reads the record (the
// store is the authority, not the message) and takes office when it names
// it; had the TakeOver been lost, it would read the record when its
// primary falls silent. A successor
// that does not catch up within two election timeouts is given up, and
// writes resume.
//
//	message     kind         from → to           what it does
//	TakeOver    MsgEarly     old → new primary   the record naming it primary at e+1: read the store
//
// # Async mode
//
// With Options.Mode ModeAsync (--pb-mode async) an entry commits on the
// primary's own fsync; backups follow, and a failover loses what they
// lacked. The primary accepts writes (and commits) only under a valid
// lease: its lease runs from when it asked for its last record write that
// succeeded, and it counts it valid for a lease less an election timeout
// by its own ticks; a backup installs the next epoch only after it read
// the same version a whole lease apart by its own, so no write is
// acknowledged once the store could name another primary (the harness
// checks it on every commit: checkLease). A primary without a valid lease
// renews at once. It also refuses writes when no backup answered within
// Options.MaxLagTicks (--pb-max-lag, default 10 election timeouts). The
// in-sync set is kept as in sync mode (a backup silent for an election
// timeout leaves it), and only its members fail over.
//
// # Async mode: rollback and rebuild
//
// A failover in async mode loses what the new primary lacked: entries the
// old primary appended (and acknowledged) that no longer are in the log
// of the newest epoch. Every replica that holds such entries — the old
// primary, a backup ahead of the new primary — finds them when the new
// primary reaches it, by the chain and the epoch history, never by
// scanning:
//
//	on an append: an entry whose h differs from the primary's at the same
//	   offset (its Prev matched, so the logs agree below); entries the
//	   append carries at or below the replica's truncated point compared
//	   by epoch (its epoch history) and h at that point
//	on a snapshot: the message carries the primary's epoch history and
//	   last index; the replica's entries — and its applied range below its
//	   log, by its own epoch history — whose epoch differs from the
//	   primary's at that offset (or lie past the primary's log) are not
//	   the primary's (an epoch's primary writes each offset once)
//
// Before anything is discarded, the replica records what it rolls back
// (Rollback: the entries above the divergence point, those already
// truncated from its log counted as Unlisted) through Options.Rollbacks,
// in the round that discards them and before that round's log batch is
// written; the node passes a FileRollbacks, which appends one JSON line
// per entry (RollbackLine: group, partition, replica, the new epoch, the
// divergence point, index, epoch, applied, the proposal ID, the primary's
// stamp, the kv command in base64 and its client and seq) to
// pb-rollback.jsonl in the data directory and fsyncs it. A user reads it
// with jq; ReadRollbackFile reads it deduplicated (a crash between the
// record and the batch records a rollback twice). Then:
//
//	nothing discarded was applied here: the replica cuts its log (and its
//	   commit index, if it had committed them) and catches up from the
//	   primary's log (truncate-and-catch-up)
//	some were applied: it keeps the divergence point durably (the hard
//	   state's rebuild), serves no failover, answers every append with an
//	   empty rejection (it holds nothing to build on; the primary drops it
//	   from the in-sync set and sends a snapshot), and takes the next
//	   snapshot whatever its commit index says: its state is rebuilt
//
// The status section reports the accounting (EngineStatus fields
// "rolled_back_entries" and "rollbacks" since the replica opened,
// "last_rollback_epoch", "last_rollback_after", "last_rollback_offsets",
// "rebuilding_from" while it waits for a snapshot; Core.RolledBackCount);
// the metrics and cairn check read those and the rollback file. In sync
// mode nothing committed is ever rolled back, except after a forced
// promotion (below), which the same path repairs.
//
// # Forced promotion (promote --unsafe)
//
// When the primary is gone and no in-sync backup is left to fail over,
// an operator may force a member to take over: driver.Host.PromoteUnsafe
// (cairn admin promote --unsafe) calls the core's Campaign. The replica
// reads the record, installs the next epoch naming itself primary and
// the only in-sync member (compare-and-swap on the version it read,
// whatever the in-sync set and the lease say) and takes office as after a
// failover; the others rejoin once caught up, rolling back (and
// recording) what they held beyond it. What it may lose is in its status
// section: "forced_state", "forced_epoch", "forced_may_lose" (the highest
// offset the record reports for another member beyond this replica's
// "last_index": a lower bound when a primary appended after it last wrote
// the record; ForcedPromotion). It is unsafe by name: used while a
// primary still runs, that primary's commits made meanwhile are lost.
//
// An async primary reports its loss window — what a failover now could
// lose: the entries it committed beyond the in-sync backup holding the
// least, since a failover may promote any in-sync backup — in
// "loss_window" (LossWindow: entries, bytes, the backup furthest behind;
// the cairn_pb_loss_window_* metrics); a replica that
// won a failover reports it in "last_failover_epoch",
// "last_failover_index" (its last index then) and
// "last_failover_lag_entries" (the highest offset the record reported for
// another member beyond it; Failover).
//
// # Not built yet
//
// "In sync" in async mode as within --pb-max-lag rather than by the
// silence rule (so the loss bound is max-lag plus the failover's own
// waits, not max-lag + 1 s); a primary stepping down when it cannot renew
// its lease; the failover's wall-clock time (the core has ticks only; the
// caller stamps what it reads); Liveness still counts min(2, R) live
// voters, not the cluster's --pb-min-in-sync (the rule has no settings to
// read). The cluster's --pb-* settings reach the engine through
// replica.HostConfig.PrimaryBackup (OptionsOf); lag.go and metrics.go
// report each backup's lag and the async loss window.
//
// # Tests
//
// harness_test.go runs cores over storage.Mem and a MemConfigStore in the
// driver's order and checks safety every round; interaction_test.go runs
// the datadriven scripts in testdata/interaction; random_test.go runs
// seeded fault histories (TestRandomAsync in async mode: every lost
// applied entry recorded by each replica that applied it, none recorded
// that stayed committed); broken_test.go shows each deliberately broken
// mode (the broken variable) caught by a script or a pinned seed. Package
// replica/sim runs the engine beside raft and paxos, and in async mode
// (-sim.pbmode=async) with the loss its checker allows.
package primarybackup
