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

// Status reports a replica's view of its group.
type Status struct {
	Group      GroupID
	Replica    ReplicaID
	Role       string // "leader", "follower", "candidate", "pre-candidate", "learner"
	Leader     ReplicaID
	LeaderNode string
	Term       uint64
	Commit     uint64
	Applied    uint64
	Descriptor Descriptor
	Progress   map[ReplicaID]PeerProgress // only on the leader
}

// PeerProgress is the leader's view of one follower.
type PeerProgress struct {
	Match, Next uint64
	State       string // "probe", "replicate", "snapshot"
	Lag         uint64 // leader's last index minus Match
	Active      bool
}

// Group is one replica of a replicated group, whatever the engine.
type Group interface {
	// Propose replicates cmd and returns the state machine's result for it.
	// *ErrNotLeader: certainly not applied. ErrIndeterminate: may or may not apply.
	Propose(ctx context.Context, cmd []byte) (result []byte, index uint64, err error)
	// Read runs fn against a consistent view of the replicated state once a
	// read in mode is safe.
	Read(ctx context.Context, mode ReadMode, fn func(storage.View) error) error
	// ChangeMembers brings the group to the target membership.
	ChangeMembers(ctx context.Context, target Membership) error
	TransferLeader(ctx context.Context, to ReplicaID) error
	Status() Status
	// Step hands the group an inbound engine message from the transport.
	Step(m Message)
	Close() error
}

// Message is an engine message addressed to one replica of one group; its
// payload is engine-specific (a marshalled raftpb.Message for Raft).
type Message struct {
	Group    GroupID
	From, To ReplicaID
	Payload  []byte
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
	// Snapshot reads a consistent snapshot of the replicated state from the
	// store it is handed; applied index, term and descriptor come from inside it.
	Snapshot(store storage.Store) (storage.Snapshot, error)
	// Digest summarises the replicated state, for consistency checks.
	Digest(view storage.View) (index uint64, sum [32]byte, err error)
}
