// Package replica holds what every replication engine shares: the Group
// and StateMachine interfaces, the replicated Descriptor (membership), and
// the errors a caller branches on. Engines live in subpackages (raftengine
// first; paxos and primarybackup later) and implement Group for real, every
// method; what an engine cannot do returns ErrUnsupported.
//
// A caller's view of a group:
//
//	res, index, err := g.Propose(ctx, cmd) // *ErrNotLeader, ErrNotApplied: certainly not applied
//	                                       // ErrIndeterminate: may or may not have applied
//	err = g.Read(ctx, replica.Linearizable, func(v storage.View) error { ... })
//	err = g.ChangeMembers(ctx, target)     // learner, catch-up, joint change
//	err = g.TransferLeader(ctx, to)
//	st := g.Status()
package replica
