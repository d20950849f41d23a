// Package sim is a deterministic simulation of the Raft engine's driver
// (package raftengine: its scheduler rounds, log writer, apply loop and
// snapshot streaming, not only the etcd raft library under it) that checks
// safety after every step (DESIGN.md, Testing).
//
// One Run is one seed. Every node of a cluster is a Manual raftengine.Host
// on its own storage.Mem, driven from one goroutine: the simulation owns
// the clock (a clock.Fake), the network (a Transport whose Send only
// queues; the simulation delivers each message, or drops, duplicates or
// delays it, by the seed), snapshot streams (raftengine.Config.
// SnapshotSender and Host.HandleSnapshotAsync), and the clients (the
// replica.Group's ProposeAsync, ReadAsync and ChangeMembersStep). Its main loop:
//
//	for each instant with events, in time order:
//		run every event due then, in the order scheduled: a tick, a message
//		or snapshot delivery, a client's request, retry or read, a fault
//		run rounds on every node that got input until all are idle
//		hand what they sent to the network (each message's fate drawn now)
//		check safety; stop at the first violation
//	heal everything, let the clients finish, run until quiet, check the end
//
//	res := sim.Run(sim.Config{Seed: seed})
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
// removed or moved, through learners and joint consensus). The workload:
// INCRBY, APPEND, PUT, DELETE and PUT with a TTL (the leader's expiry
// sweep deletes it) under kv sessions, and linearizable and follower reads.
//
// Safety, after every step:
//   - no two different entries committed at one index of a group, across
//     every replica and every incarnation of it (each node's log read up
//     to its stored commit index);
//   - equal replicated state (kv's Digest) at equal applied index, an
//     applied term that matches the committed entry's, applied <= commit;
//   - an acknowledged command's index (and the index its version names)
//     holds that command, and no command answered "certainly not applied"
//     is ever committed (each attempt's command is unique).
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
// undoes the driver's map-order iteration where it shows (the order of
// sends and of callbacks; Host.Tick ticks groups in ID order). One thing
// is outside both: raft draws election timeouts from crypto/rand. A run
// replays exactly when that is seeded too: tests call
// testing/cryptotest.SetGlobalRandom(t, seed), other callers (a soak
// command) SeedCryptoRand. Result.TraceHash identifies the path a run took.
package sim
