// Package driver is the engine-neutral machinery of a node's replicas:
// what runs the groups of every engine, as opposed to the engines' cores,
// which decide. It imports no engine (no go.etcd.io/raft); engines import
// it.
//
// It holds today (issue 13, item 2, first cut):
//
//   - Scheduler: the queue of the groups with work and the pool of workers
//     that run rounds over them, plus the ticker. A group is in the queue at
//     most once; a group a round holds is queued again when that round ends,
//     never taken by a second worker. The engine supplies the round and the
//     tick. Without Start nothing runs until the caller calls RunRound: a
//     Manual host, which the simulation and the scripted interaction tests
//     drive step by step.
//   - The proposal frames (entry.go): a command's frame (version 1: the
//     proposal ID and the leader's stamp before the command), a driver
//     entry's frame (version 2: a consistency check), a membership change's
//     context, and EntryCommand for tools that read logs. Their bytes are in
//     every stored log and never change.
//   - StampClock: the leader's stamps (one per batch of proposals; never
//     backwards; catching up with a wall clock that stepped forward at most
//     10% faster than real time), which are group time for expiry.
//   - TokenBucket: the node-wide pace of snapshot streams (--snapshot-rate).
//
// How an engine's host uses it (raftengine's Host today):
//
//	s := driver.NewScheduler(driver.SchedulerConfig[*group]{
//		Round: h.runRound, // step inputs, Ready, one log batch and fsync, apply, answer
//		Tick:  h.Tick,     // every group's logical clock
//		Workers: cfg.Workers, Clock: cfg.Clock, TickInterval: cfg.TickInterval,
//	})
//	s.Start()          // or, Manual: h.Tick(); for s.RunRound() {}
//	...                // any goroutine: queue a message, proposal or read on g, then
//	s.Schedule(g)      // g's *Slot (Unit) records its place in the queue
//	...
//	now := stamps.Now()                     // a round: one stamp for the batch
//	data := driver.Frame(id, cmd)           // Propose
//	driver.Stamp(data, now)                 // as the leader hands it to its core
//	id, at, cmd, err := driver.Unframe(data) // apply: at is group time
//	...
//	s.Close()
//
// # What is still in raftengine, and moves next
//
// The round itself (raftengine's round.go: for every group, step inputs,
// take a Ready, stage its snapshot, entries and hard state into one log
// batch, send what may go before the fsync; one fsync; send what promises
// durability; apply into one batch, overlapping the fsync; answer and
// Advance), the queue of each group's inputs (group.go), proposal tracking
// (lost, not applied, indeterminate; api.go and round.go), read batching
// (one read index per group per round), the expiry sweep, log truncation,
// snapshot streaming and receiving (snapshot.go), consistency checks
// (consistency.go), replica creation on a message, destroy and tombstones
// (host.go), unsafe recovery (recover.go). They move here once an engine
// reaches them through Core below, so that one round and one fsync serve
// the groups of every engine. The Raft log (raftlog.go, logcodec.go) and
// the adapter of etcd raft's RawNode to Core stay in raftengine.
//
// # The core interface (the target; not code yet)
//
// An engine will be a pure core per replica, in the shape of etcd raft's
// RawNode: no goroutine, no clock, no I/O. The driver feeds it and does
// everything its Ready asks, in this order. Sketch:
//
//	type Core interface {
//		Tick()                            // one logical tick
//		Step(msg []byte) error            // a message from a peer, engine-encoded
//		Propose(data []byte) error        // a framed entry; ErrDropped: certainly not appended
//		ProposeChange(desc replica.Descriptor, ctx []byte) error // a membership change
//		ReadIndex(ctx []byte)             // a read-index request, answered in a later Ready
//		TransferLeader(to replica.ReplicaID)
//		ReportUnreachable(to replica.ReplicaID)
//		ReportSnapshot(to replica.ReplicaID, ok bool)
//		Status() CoreStatus               // State, Leader, Term, Commit, per-peer progress (replica.Status's words)
//		HasReady() bool
//		Ready() Ready
//		Advance(Ready)                    // the driver did all of it
//	}
//
//	type Ready struct {
//		// To persist, in the round's one log batch, before Late is sent
//		// and before anything is acknowledged:
//		HardState []byte     // engine-encoded (term/ballot/epoch, vote/promise, commit); nil: unchanged
//		Entries   []LogEntry // to append, replacing any suffix from Entries[0].Index
//		Snapshot  *Snapshot  // to install (its descriptor and index); the driver streams the data
//		MustSync  bool       // the fsync may not be skipped (a vote, a term, entries)
//		// To send:
//		Early []Message // may go before the fsync (a leader's appends, heartbeats; a
//		                // snapshot's message, whose data the driver streams from the store)
//		Late  []Message // only after it: they promise durability (acks, votes, promises)
//		// To apply, in order, into the round's one apply batch:
//		Committed []LogEntry // framed by the driver (Frame, FrameEntry) or the engine's own (empty)
//		// Reads whose index is confirmed; each runs once applied >= Index:
//		Reads []ReadState // {Ctx []byte; Index uint64}
//		// The leadership the core believes now (nil: unchanged):
//		Soft *SoftState // {State replica.State; Leader replica.ReplicaID; Term uint64}
//	}
//
// A round over the groups of every engine is then:
//
//	for each group: feed inputs (Tick, Step, Propose, ReadIndex); rd := Ready()
//	                stage rd's HardState, Entries, Snapshot into ONE log batch
//	                send rd.Early
//	write the log batch; its ONE fsync (if any rd.MustSync) runs meanwhile:
//	apply every group's rd.Committed into ONE apply batch; commit it
//	answer proposals, and run the reads (rd.Reads) that applied reaches:
//	                committed is durable on a quorum already
//	wait for the fsync; send every rd.Late
//	for each group: Advance(rd)
package driver
