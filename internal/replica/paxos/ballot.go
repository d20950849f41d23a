package paxos

import (
	"fmt"

	"github.com/cairnkv/cairn/internal/replica"
)

// Ballot orders proposers: (epoch, round, replica ID), compared in that
// order. A replica's ballots are unique to it (its ID is the last part) and
// never reused: a new round is the persisted promise's round + 1, and a
// candidate's promise of its own ballot is durable before its Prepare leaves
// the node.
//
// The epoch is the configuration's: a chosen stop (a membership change)
// ends epoch e and begins e+1, whose ballots all order above every ballot
// of e (doc.go, Membership).
type Ballot struct {
	Epoch, Round uint64
	Replica      replica.ReplicaID
}

// Less reports whether b orders before o.
func (b Ballot) Less(o Ballot) bool {
	if b.Epoch != o.Epoch {
		return b.Epoch < o.Epoch
	}
	if b.Round != o.Round {
		return b.Round < o.Round
	}
	return b.Replica < o.Replica
}

// IsZero reports whether b is the zero ballot (nothing promised).
func (b Ballot) IsZero() bool { return b == Ballot{} }

// Int maps b to one integer that orders as ballots do, for the driver's
// words (LogEntry.Term, Basic.Term, routing): the epoch in the top 16 bits,
// the round in the next 32 and the replica ID in the low 16.
//
// NB: it orders as the ballot does while the round stays below 2^32 and
// replica IDs below 2^16 (a group hands out IDs one at a time from 1).
func (b Ballot) Int() uint64 {
	return b.Epoch<<48 | (b.Round&0xffffffff)<<16 | uint64(b.Replica)&0xffff
}

// String is epoch.round.replica, as status shows it.
func (b Ballot) String() string { return fmt.Sprintf("%d.%d.%d", b.Epoch, b.Round, b.Replica) }
