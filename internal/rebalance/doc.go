// Package rebalance keeps a cluster's replicas where the ring places them
// (DESIGN.md, Placement and Membership and failure). It holds three loops
// that run on every node and one orchestration, all reaching the node
// through the small interfaces of node.go and reading time through a
// clock.Clock, so that a test drives them with fakes and a fake clock:
//
//   - the rebalancer and failure detector, active only on the meta group's
//     leader: it probes every member, marks one down when it has been silent
//     for Config.DeadAfter (up again when it answers), moves replicas toward
//     the placement one change per group and at most
//     Config.MaxConcurrentMoves at once, and marks a drained member removed;
//   - leader balancing: a node leading a group whose preferred leader (the
//     first node of its placement) is another healthy voter hands
//     leadership to it;
//   - the repair of a local replica that a consistency check found to differ
//     from its group's majority: the node asks the leader to remove it, and
//     the rebalancer adds a new one;
//   - unsafe-recovery orchestration (Rebalancer.UnsafeRecover), run by the
//     Admin service on the meta leader;
//   - at shutdown, HandOff: every group the node leads goes to its most
//     caught-up other voter.
//
// AdminPeer is the Peer a node hands it: a peer's Admin service over gRPC.
//
// The node wires it:
//
//	r := rebalance.New(rebalance.Config{Node: adapter, Clock: clock.Real{}, ...})
//	go r.Run(ctx)                 // until ctx ends; waits for its moves
//	r.Status()                    // Admin.Status on the meta leader
//	r.UnsafeRecover(ctx, req)     // Admin.UnsafeRecover on the meta leader
//
// A pass of the rebalancer:
//
//	meta := ReadMeta()                       // linearizable, on the meta leader
//	Probe every member; detect(meta, now)    // ChangeMeta: down / up
//	RefreshMeta(); view := View()
//	for each plannable group, next move:     // at most MaxConcurrentMoves
//	    go Peer(leader).ChangeReplicas(...)  // on the group's leader
//	finishDrains(view, Descriptors())        // ChangeMeta: removed
//
// Every timer goes through Config.Clock; deadlines of calls to peers are
// context deadlines.
package rebalance
