// Package sim is a deterministic simulation of the hosts of any registered
// engine (replica.Register): the engine's whole driver (its rounds, log
// writes, apply and snapshot streaming, not only the protocol under them),
// checked for safety after every step (DESIGN.md, Testing). Config.Engine
// names the engine (default raft); the caller links it, as the tests do
// with a blank import of raftengine. The package imports no engine.
//
// One Run is one seed. Every node of a cluster is a replica.ManualHost,
// built by replica.NewHost with HostConfig.Manual on its own storage.Mem,
// driven from one goroutine: the simulation owns the clock (a clock.Fake),
// the network (a Transport whose Send only queues; the simulation delivers
// each message, or drops, duplicates or delays it, by the seed), snapshot
// streams (HostConfig.SnapshotSender and ManualHost.HandleSnapshotAsync),
// and the clients (the replica.Group's ProposeAsync, ReadAsync and
// ChangeMembersStep). It bends the engine's timing and truncation through
// HostConfig's overrides (ElectionTicks, HeartbeatTicks, TruncateAfter,
// SnapshotChunkSize), and reads what each replica made durable through the
// engine's Engine.ReadLog. Its main loop:
//
//	for each instant with events, in time order:
//		run every event due then, in the order scheduled: a tick, a message
//		or snapshot delivery, a client's request, retry or read, a fault
//		run rounds on every node that got input until all are idle
//		hand what they sent to the network (each message's fate drawn now)
//		check safety; stop at the first violation
//	heal everything, let the clients finish, run until quiet, check the end
//
//	import _ "github.com/cairnkv/cairn/internal/replica/raftengine" // registers "raft"
//
//	res := sim.Run(sim.Config{Seed: seed, Engine: "raft"})
//	if res.Violation != nil { fmt.Print(res.Report()) }
//
// Faults: message drops, duplicates, delays long enough to reorder;
// partitions (a node cut off, a split, one way of one link) and heals;
// crashes between rounds and power cuts inside a round's fsync (before or
// after the data is durable), on the node requests are waiting on more
// often than not, with restarts from what the store kept (storage.Mem.
// Crash); graceful stops (Host.Close answers what is pending); a power loss
// of every node at once, between rounds or inside their next fsyncs;
// paused nodes; leader transfers; membership changes (a replica added,
// removed or moved, step by step through Group.ChangeMembersStep: for
// raft, through learners and joint consensus). The workload:
// INCRBY, APPEND, PUT, DELETE and PUT with a TTL (the leader's expiry
// sweep deletes it) under kv sessions, and linearizable and follower reads.
//
// Safety, after every step:
//   - no two different entries committed at one index of a group, across
//     every replica and every incarnation of it (each node's log read up
//     to its stored commit index by the engine's ReadLog, entries compared
//     by identity: the driver's frame and data, not the term), and no
//     committed entry missing from a log;
//   - equal replicated state (kv's Digest) at equal applied index, an
//     applied term that matches the committed entry's, applied <= commit;
//   - an acknowledged command's index (and the index its version names)
//     holds that command, and no command answered "certainly not applied"
//     is ever committed (each attempt's command is unique).
//
// With Config.AsyncLoss (an engine that may lose acknowledged writes in a
// failover: primary-backup's async mode, -sim.pbmode=async in the tests),
// two entries committed at one index are allowed when their terms differ
// (the newer term's stays; equal terms are still a violation), digests
// are compared at equal applied index and term, and at the end every
// acknowledged write missing from the final log must have been
// acknowledged within AsyncLoss before the first newer term the checker
// saw committed after it (the failover that lost it), or before the
// acknowledging node stopped if that came first; the final checks
// then run without the lost writes (reads of a key that lost one are not
// judged), and a client whose session a failover lost starts a new one.
// Stats count the lost writes, how many the engine reported rolled back
// (Config.RolledBack), and the longest window seen.
//
// With Config.ConsistencyCheckInterval, leaders also run consistency
// checks; since nothing here corrupts a replica, a check that finds
// replicas differ fails the run (consistency-alarm): each digest must be
// taken at exactly its check's index, through crashes, power cuts and
// snapshots.
//
// At the end, once healed and caught up: every replica agrees, and the
// state holds every acknowledged command exactly once. Each client runs
// one command at a time under a kv session and retries it (same client and
// sequence number) after any answer but success, so counters must equal
// their increments (each answered a distinct value, in real-time order),
// append logs hold each token once and where its answer said, the last
// put or delete of every key wins, and every read saw each write
// acknowledged before it began and none begun after it ended.
//
// Determinism: the simulation's choices come from the seed, and it
// undoes a driver's map-order iteration where it shows (the order of
// sends and of callbacks); an engine's ManualHost must do the rest (raft's
// Tick ticks groups in ID order). One thing is outside both: an engine may
// draw from crypto/rand (raft's election timeouts). A run replays exactly
// when that is seeded too: tests call testing/cryptotest.SetGlobalRandom(t,
// seed), other callers (a soak command) SeedCryptoRand. Result.TraceHash
// identifies the path a run took.
package sim
