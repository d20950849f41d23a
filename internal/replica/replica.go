package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/storage"
)

// GroupID names a replicated group: 0 is the meta group, p+1 is partition p.
type GroupID uint64

// Partition is the partition whose replicas the group holds (group p+1
// is partition p), and -1 for the meta group (group 0). GroupOf is its
// inverse: the two are the one place partitions and groups convert.
func (g GroupID) Partition() int { return int(g) - 1 }

// GroupOf is the group holding partition p's replicas: group p+1 (and the
// meta group, 0, for p = -1).
func GroupOf(p int) GroupID { return GroupID(p + 1) }

// ReplicaID is a group-local replica ID, handed out by the group's
// descriptor and never reused. It is never the node's ID.
type ReplicaID uint64

// Entry is one committed log entry as the state machine sees it.
type Entry = kv.Entry

// Result is the state machine's encoded answer to one entry.
type Result = kv.Result

// ReadMode says how fresh a read must be.
type ReadMode int

const (
	// Linearizable reads confirm leadership by a ReadIndex round and wait
	// until the local replica has applied up to it.
	Linearizable ReadMode = iota
	// Follower reads are linearizable reads served by a follower: the
	// leader confirms the index, the follower waits for its own apply.
	Follower
	// Stale reads see the local replica as it is.
	Stale
)

func (m ReadMode) String() string {
	switch m {
	case Linearizable:
		return "linearizable"
	case Follower:
		return "follower"
	case Stale:
		return "stale"
	}
	return fmt.Sprintf("ReadMode(%d)", int(m))
}

// ErrNotLeader says a request was certainly not applied because this replica
// does not lead its group; Hint names the leader when known.
type ErrNotLeader struct {
	Group    GroupID
	Hint     ReplicaID // 0 when unknown
	HintNode string    // the node hosting Hint, "" when unknown
}

func (e *ErrNotLeader) Error() string {
	if e.HintNode != "" {
		return fmt.Sprintf("replica: group %d: not leader (leader is replica %d on node %s)", e.Group, e.Hint, e.HintNode)
	}
	return fmt.Sprintf("replica: group %d: not leader (leader unknown)", e.Group)
}

var (
	// ErrIndeterminate: the request may or may not have been applied.
	ErrIndeterminate = errors.New("replica: outcome unknown (indeterminate)")
	// ErrNotApplied: the request was certainly not applied (it timed out
	// before it was handed to the engine); a retry is safe.
	ErrNotApplied = errors.New("replica: request not applied")
	// ErrStopped: the group was closed; requests in flight are indeterminate.
	ErrStopped = errors.New("replica: group stopped")
	// ErrRemoved: this replica was removed from its group.
	ErrRemoved = errors.New("replica: replica removed from group")
	// ErrMembershipChange: a membership change is already in progress.
	ErrMembershipChange = errors.New("replica: a membership change is already in progress")
	// ErrUnsupported: the engine cannot do what was asked.
	ErrUnsupported = errors.New("replica: not supported by this engine")
	// ErrDiverged: a consistency check found this replica's state differs
	// from its group's majority. It serves no reads and leads no more
	// until it is rebuilt from a snapshot; ask another replica.
	ErrDiverged = errors.New("replica: this replica's state differs from its group's majority (consistency check); it serves nothing until rebuilt from a snapshot")
	// ErrNoMajority: the last consistency check found the group's
	// replicas differ with no majority agreeing, so nobody knows which
	// state is right: writes are refused (certainly not applied) until a
	// check finds a majority again. Reads are still served.
	ErrNoMajority = fmt.Errorf("%w: the group's replicas differ with no majority (consistency check); writes refused until an operator repairs it", ErrNotApplied)
)

// Role of a replica in its group.
type Role int

const (
	RoleVoter Role = iota
	RoleLearner
)

func (r Role) String() string {
	if r == RoleLearner {
		return "learner"
	}
	return "voter"
}

// Member is one replica in a membership.
type Member struct {
	ID   ReplicaID // 0 in a target membership: allocate a new ID
	Node string
	Role Role
}

// Membership is the target set of replicas that ChangeMembers brings a group to.
type Membership struct {
	Members []Member
}

// State is what a replica is doing in its group, whatever the engine.
type State uint8

const (
	// StateFollower follows a leader (or waits for one).
	StateFollower State = iota
	// StateCandidate is campaigning (Raft's candidate; a Paxos replica
	// running its prepare phase).
	StateCandidate
	// StatePreCandidate is probing whether it could win an election
	// without disturbing anyone (Raft's PreVote).
	StatePreCandidate
	// StateLeader leads the group: it takes proposals and serves
	// linearizable reads.
	StateLeader
	// StateLearner receives the log but does not vote.
	StateLearner
	// StateStopped: the replica was closed or removed.
	StateStopped
)

// String is the name /v1/cluster and the admin CLI show.
func (s State) String() string {
	switch s {
	case StateFollower:
		return "follower"
	case StateCandidate:
		return "candidate"
	case StatePreCandidate:
		return "pre-candidate"
	case StateLeader:
		return "leader"
	case StateLearner:
		return "learner"
	case StateStopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Status reports a replica's view of its group.
type Status struct {
	Group      GroupID
	Replica    ReplicaID
	State      State
	Leader     ReplicaID
	LeaderNode string
	// Term is the engine's leadership generation as one ordered integer:
	// Raft's term (a Paxos ballot or a primary-backup epoch later).
	Term       uint64
	Commit     uint64 // Invariant: Applied <= Commit.
	Applied    uint64
	Descriptor Descriptor
	Progress   map[ReplicaID]PeerProgress // only on the leader
	// Engine is what only this replica's engine can say about it, shown as
	// it is by /v1/cluster ("local": {"engine": {...}}).
	Engine EngineStatus
	// Diverged is the index of the consistency check that found this
	// replica differs from its group's majority: it serves no reads and
	// does not lead until it is rebuilt. 0: none did.
	Diverged uint64
	// NoMajority is the index of the last consistency check, when it
	// found the group's replicas differ with no majority: the group
	// refuses writes. 0: the last check found no such thing.
	NoMajority uint64
}

// Check is the outcome of one consistency check of a group (DESIGN.md,
// Engines): every replica digested its replicated state at exactly Index
// and reported it to the replica that proposed the check.
type Check struct {
	Group   GroupID
	Index   uint64 // the log index of the check: each digest covers the state there
	Verdict Verdict
	// Replicas are the group's replicas at the check, voters and
	// learners, in ID order.
	Replicas []CheckReplica
}

// CheckReplica is one replica's part in a Check.
type CheckReplica struct {
	Replica ReplicaID
	Node    string
	Voter   bool
	// Reported: its digest arrived in time. Err is why a replica that
	// reported has no digest.
	Reported bool
	Err      string
	Index    uint64   // the applied index its digest covers: Check.Index
	Digest   [32]byte // SHA-256 of its replicated state (kv's Digest)
	// Differs: its digest is not the one a majority of the voters hold.
	Differs bool
}

// Verdict is what a consistency check found.
type Verdict uint8

const (
	// VerdictAgree: every voter reported, all the same digest (and no
	// learner that reported differs).
	VerdictAgree Verdict = iota
	// VerdictMismatch: a majority of the voters agree and the replicas
	// marked Differs do not: they stop serving and are rebuilt.
	VerdictMismatch
	// VerdictNoMajority: the replicas differ and no digest is held by a
	// majority of the voters: an alarm, and the group refuses writes.
	VerdictNoMajority
	// VerdictIncomplete: no difference seen, but not every voter
	// reported in time.
	VerdictIncomplete
)

// String is the verdict as cairn admin verify prints it.
func (v Verdict) String() string {
	switch v {
	case VerdictAgree:
		return "agree"
	case VerdictMismatch:
		return "mismatch"
	case VerdictNoMajority:
		return "no-majority"
	case VerdictIncomplete:
		return "incomplete"
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// EngineStatus is the engine's own section of a replica's status: its name
// and fields of its own words, each JSON-encodable (Raft: term, vote,
// lead_transferee; a Paxos ballot, a primary-backup epoch, primary and
// in-sync set later). Layers above show it and never interpret it.
type EngineStatus struct {
	Name   string
	Fields map[string]any
}

// PeerProgress is the leader's view of one follower, in words every engine
// can fill in.
type PeerProgress struct {
	Match, Next uint64
	// CaughtUp: the follower is being sent entries as they come (Raft:
	// replicating, not probing or waiting for a snapshot); LagEntries says
	// how far behind it still is. A leadership transfer goes only to one
	// caught up with no lag.
	CaughtUp bool
	// LagEntries is the leader's last index minus Match.
	LagEntries uint64
	// LagSeconds is how long ago the follower last had every entry the
	// leader had, to the leader's tick; 0 while it has.
	LagSeconds float64
	// Active: the leader heard from it within an election timeout.
	Active bool
}

// Group is one replica of a replicated group, whatever the engine.
type Group interface {
	// Propose replicates cmd and returns the state machine's result for it.
	// *ErrNotLeader: certainly not applied. ErrIndeterminate: may or may not apply.
	Propose(ctx context.Context, cmd []byte) (result []byte, index uint64, err error)
	// ProposeAsync is Propose without blocking: done is called once, from
	// the driver, with Propose's results. cancel withdraws a proposal not
	// yet handed to the engine and reports whether it did (done is then
	// called with ErrNotApplied).
	ProposeAsync(cmd []byte, done func(result []byte, index uint64, err error)) (cancel func() bool)
	// Read runs fn against a consistent view of the replicated state once a
	// read in mode is safe.
	Read(ctx context.Context, mode ReadMode, fn func(storage.View) error) error
	// ReadAsync calls done once a read in mode is safe now (nil), or with
	// why it cannot be.
	ReadAsync(mode ReadMode, done func(error))
	// ChangeMembers brings the group to the target membership.
	ChangeMembers(ctx context.Context, target Membership) error
	// ChangeMembersStep takes one step towards target without waiting:
	// done says target is reached; proposed says a step was proposed and
	// result will be called with its outcome.
	ChangeMembersStep(target Membership, result func(error)) (done, proposed bool, err error)
	TransferLeader(ctx context.Context, to ReplicaID) error
	// IsLeader says whether this replica leads its group now: an atomic
	// load, cheap enough for every request (Status takes the group's lock).
	IsLeader() bool
	// CheckConsistency runs a consistency check now, on the leader: it
	// proposes a check and waits for its verdict (every voter's digest,
	// or a timeout of a few election timeouts). *ErrNotLeader elsewhere.
	CheckConsistency(ctx context.Context) (Check, error)
	Status() Status
	Close() error
}

// StateMachine is the kv package behind a group; the same for every engine.
type StateMachine interface {
	// Apply evaluates committed entries in order against the view and writes
	// their effects, the sessions and the applied index into the batch; the
	// driver commits the batch. The view is normally the batch itself.
	Apply(entries []Entry, view storage.View, batch storage.Batch) ([]Result, error)
	// Due returns commands the leader should propose now, such as deletes of
	// keys whose deadline has passed by group time; at most max of them.
	Due(view storage.View, now int64, max int) [][]byte
	// Restore replaces the group's whole replicated state (its data, its
	// applied index and the group's descriptor: everything a snapshot
	// carries) with the key/value pairs of a received snapshot, in batch.
	// It refuses a key outside the group's replicated span; the driver
	// commits the batch (with the engine's log reset) or drops it.
	Restore(batch storage.Batch, pairs [][2][]byte) error
}

// Digester summarises a replica's replicated state, for consistency
// checks: two replicas that applied the same entries have the same sum.
type Digester interface {
	Digest(view storage.View) (index uint64, sum [32]byte, err error)
}
