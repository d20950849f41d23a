// Package primarybackup is Cairn's primary-backup engine (--engine
// primary-backup), in the model of Microsoft's PacificA: a pure core per
// replica (Core, a driver.Core) in the shape of etcd raft's RawNode — no
// goroutine, no clock, no I/O but staging writes into the batch the driver
// passes to Stage and reading its store when it opens — and Engine, the
// driver.CoreEngine that builds cores. It depends on no Raft package. Sync
// mode is the default; async mode is built in part (below).
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
// flight: every entry then committed is on it.
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
// # Not built yet
//
// In async mode: the rollback file and rebuilding a backup that applied
// entries a failover lost (it now refuses the new primary's differing
// entry as an error), the loss-window report, and "in sync" as within
// --pb-max-lag rather than by the silence rule; the simulation runs sync
// mode only. Promote --unsafe; a primary stepping down when it
// cannot renew its lease; Liveness still counts min(2, R) live voters, not
// the cluster's --pb-min-in-sync (the rule has no settings to read). The
// cluster's --pb-* settings reach the engine through
// replica.HostConfig.PrimaryBackup (OptionsOf); lag.go and metrics.go
// report each backup's lag and the async loss window. A known cost: a
// backup rejoins the in-sync set only at a moment when it has every entry
// appended, which a primary under unbroken load may rarely offer.
//
// # Tests
//
// harness_test.go runs cores over storage.Mem and a MemConfigStore in the
// driver's order and checks safety every round; interaction_test.go runs
// the datadriven scripts in testdata/interaction; random_test.go runs
// seeded fault histories; broken_test.go shows each deliberately broken
// mode (the broken variable) caught by a script or a pinned seed. Package
// replica/sim runs the engine beside raft and paxos.
package primarybackup
