package driver

import (
	"errors"
	"log/slog"
	"slices"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// ErrDropped: a core refused a proposal; it was certainly not appended.
var ErrDropped = errors.New("driver: proposal dropped by the engine")

// Core is one local replica of a group as its engine decides it: a pure
// state machine in the shape of etcd raft's RawNode. It starts no
// goroutine, reads no clock and does no I/O of its own: the driver feeds
// it (ticks, peer messages, proposals, read requests, reports), takes its
// Ready, does everything the Ready asks in the order below, and hands it
// back with Advance. The driver holds the group's lock around every call,
// so a Core needs no locking of its own.
//
// A round, for the groups of every engine on the node together:
//
//	for each group: feed inputs; rd := c.Ready()
//	                c.Stage(batch, &rd): its hard state, log writes and
//	                  snapshot reset, into ONE log batch
//	                send rd's early messages
//	commit the log batch; its ONE fsync runs while:
//	                every group's rd.Committed is applied into ONE apply
//	                batch (they are durable on a quorum already)
//	                proposals are answered; rd.Reads run once applied
//	wait for the fsync; send every late message
//	for each group: c.Advance(rd)
type Core interface {
	// Tick advances the core's logical clock by one tick (elections,
	// heartbeats).
	Tick()
	// Step hands the core a message from replica from of its group, in
	// the engine's encoding. An error means it was dropped (malformed, or
	// from a replica it does not know); the driver logs nothing for it.
	Step(from replica.ReplicaID, msg []byte) error
	// Propose appends data (a frame: Frame, FrameEntry) to the log if
	// this replica leads. ErrDropped: certainly not appended (no leader
	// here, a transfer in progress, the uncommitted log full).
	Propose(data []byte) error
	// ProposeChange proposes the membership change c. The core refuses
	// (ErrDropped) or appends an entry of type EntryChange whose Context
	// (ChangeContext) is c.Context. An engine that cannot make the change
	// now (another one pending) may also append an entry that is not it:
	// the driver fails the proposal with replica.ErrMembershipChange when
	// its entry does not appear in this round's Ready.
	ProposeChange(c Change) error
	// ReadIndex asks for the index a linearizable read must wait for; the
	// answer comes in a later Ready's Reads with ctx, or never (the
	// driver asks again after a leader change or a timeout).
	ReadIndex(ctx []byte)
	// TransferLeader asks the leader to hand leadership to replica to.
	TransferLeader(to replica.ReplicaID)
	// Campaign starts an election now (after an unsafe recovery).
	Campaign() error
	// ReportUnreachable says a message to replica to could not be sent.
	ReportUnreachable(to replica.ReplicaID)
	// ReportSnapshot says how the snapshot stream to replica to ended.
	ReportSnapshot(to replica.ReplicaID, ok bool)

	// HasReady reports whether Ready has anything.
	HasReady() bool
	// Ready returns what the core needs done, which the driver must do
	// before Advance(rd).
	Ready() Ready
	// Advance tells the core that everything rd asked is done.
	Advance(rd Ready)

	// Stage writes rd's durable part into w, the round's one log batch:
	// the hard state, log entries or slots, and — when rd.Snapshot is set
	// — the log's reset to start after it (the driver has staged the
	// snapshot's replicated data before).
	Stage(w storage.LogWriter, rd *Ready) error
	// Log is what the driver reads and truncates of the core's log.
	Log() Log

	// Basic is the core's cheap status, read every round.
	Basic() Basic
	// Progress is a leader's view of every replica's log (nil on a
	// follower). It allocates; the driver reads it once a tick at most.
	Progress() map[replica.ReplicaID]Progress
	// EngineStatus is the engine's own section of the replica's status
	// (/v1/cluster): Raft's term and vote; a ballot; an epoch.
	EngineStatus() replica.EngineStatus

	// ChangeContext returns the context a committed or appended entry of
	// type EntryChange carries (what ProposeChange was given).
	ChangeContext(e LogEntry) (ctx []byte, err error)
	// ApplyChange applies a committed membership change to the core and
	// returns the configuration it leads to.
	ApplyChange(e LogEntry) (Conf, error)
}

// CoreEngine is an engine as the driver sees it: what builds its cores
// and reads what only it can decode.
type CoreEngine interface {
	// Name is the engine's name (the cluster's --engine setting).
	Name() string
	// NewCore opens the core of replica cfg.Replica of group cfg.Group
	// from what cfg.Store holds (nothing, for a replica created on an
	// inbound message: it waits for a snapshot).
	NewCore(cfg CoreConfig) (Core, error)
	// Bootstrap stages the founding log state of a group whose
	// descriptor and seed the driver has staged into b.
	Bootstrap(b storage.Batch, desc replica.Descriptor) error
	// SnapshotMessage rewrites msg, a message of kind MsgSnapshot from a
	// Ready, to say it carries the replicated state at at (what the
	// driver streams: a consistent store snapshot taken when the stream
	// starts, not the point the core asked for), for the stream's header.
	SnapshotMessage(msg []byte, at SnapshotPoint) ([]byte, error)
	// DecodeSnapshot reads a snapshot message (SnapshotMessage's result,
	// received): the point it carries and the replicas it goes between.
	DecodeSnapshot(msg []byte) (at SnapshotPoint, from, to replica.ReplicaID, err error)
	// Joint reports whether the engine makes a change of several voters
	// in one step (joint consensus). Without it, ChangeMembers changes one
	// replica's role per step: promotions first, then demotions, then
	// removals.
	Joint() bool
	// Serves reports whether the engine's replicas serve reads in mode:
	// nil, or an error wrapping replica.ErrUnsupported that says why not
	// and what to use instead (primary-backup: no follower reads), which
	// a read in that mode then fails with at once.
	Serves(mode replica.ReadMode) error
	// Recovery reads, for an unsafe recovery, the durable commit index
	// of the core's log, and StageRecovery writes the log of the
	// recovered replica: entries above applied deleted, the commit index
	// lowered to applied, the leadership generation kept.
	// Both read the log through l.
	Recovery(l storage.LogReader, g replica.GroupID) (commit uint64, err error)
	StageRecovery(l storage.LogReader, w storage.LogWriter, g replica.GroupID, applied uint64) error
}

// CoreConfig is what a core is opened with.
type CoreConfig struct {
	Store storage.Store
	// Log reads the replica's log (entries, truncated point, hard state).
	// nil: the log is in Store's keyspace (storage.ViewLog), read at open
	// from one store snapshot — where every node keeps it today. The
	// node's log store (internal/storage/logstore, issue 17) sets it.
	Log     storage.LogReader
	Group   replica.GroupID
	Replica replica.ReplicaID
	// Applied is the replica's durable applied index: the core hands out
	// committed entries above it only.
	Applied uint64
	// Config is the replica's configuration from its stored descriptor
	// (zero for a replica not initialised yet).
	Conf Conf
	// ElectionTicks and HeartbeatTicks are the host's timing, in ticks.
	ElectionTicks, HeartbeatTicks int
	Logger                        *slog.Logger
	// ConfigStore is the host's configuration store (Config.ConfigStore),
	// nil when it has none. A core stays pure: it never calls the store
	// itself; its engine's shell does, from Advance, and hands the answer
	// back through Post.
	ConfigStore replica.ConfigStore
	// Post queues msg for the core, to be stepped in a later round as a
	// message from its own replica (Step(cfg.Replica, msg)), and schedules
	// the group: how an answer of the ConfigStore, which comes on another
	// goroutine, reaches the core. It never blocks and may be called with
	// any lock held; after the replica closed it does nothing.
	Post func(msg []byte)
}

// Conf is a group's configuration as the descriptor stores it:
// replica.Descriptor's voters and learners, and its engine section, which
// only the engine interprets (Raft: its joint configuration, nil outside
// one).
type Conf struct {
	Voters, Learners []replica.ReplicaID
	Engine           []byte
}

// Clone returns a deep copy of c.
func (c Conf) Clone() Conf {
	return Conf{Voters: slices.Clone(c.Voters), Learners: slices.Clone(c.Learners), Engine: slices.Clone(c.Engine)}
}

// With returns a copy of c with ops applied: each op's replica leaves both
// lists, then joins the voters (AddVoter) or learners (AddLearner); both
// lists sorted. The engine section is copied unchanged.
func (c Conf) With(ops []ChangeOp) Conf {
	n := c.Clone()
	for _, op := range ops {
		drop := func(x replica.ReplicaID) bool { return x == op.Replica }
		n.Voters = slices.DeleteFunc(n.Voters, drop)
		n.Learners = slices.DeleteFunc(n.Learners, drop)
		switch op.Kind {
		case AddVoter:
			n.Voters = append(n.Voters, op.Replica)
		case AddLearner:
			n.Learners = append(n.Learners, op.Replica)
		}
	}
	slices.Sort(n.Voters)
	slices.Sort(n.Learners)
	return n
}

// ConfOf returns d's configuration.
func ConfOf(d replica.Descriptor) Conf {
	return Conf{Voters: d.Voters, Learners: d.Learners, Engine: d.Engine}
}

// Change is one membership change: the replicas whose role changes, in
// one step (an engine with joint consensus makes a change of more than
// one replica joint).
type Change struct {
	// Context is the driver's frame of the change (FrameConf: the
	// proposal ID and the descriptor it leads to); the core carries it in
	// the entry and hands it back through ChangeContext.
	Context []byte
	Ops     []ChangeOp
}

// ChangeOp is one replica's part of a Change.
type ChangeOp struct {
	Kind    ChangeKind
	Replica replica.ReplicaID
}

// ChangeKind is what a ChangeOp does to a replica.
type ChangeKind uint8

const (
	AddLearner ChangeKind = iota + 1 // a new replica, or a voter demoted
	AddVoter                         // a learner promoted
	Remove
)

// Ready is what a core needs done (see Core for the order).
type Ready struct {
	// Soft is the leadership the core believes now; nil: unchanged.
	Soft *SoftState
	// Entries are the entries this Ready appends or accepts (a leader's
	// own proposals among them), by index; the driver matches proposals
	// to them by their frame's proposal ID, and judges a proposal lost
	// only when another entry (another ID) commits at its index — an
	// engine may accept a slot again under a newer generation (Paxos), so
	// an entry's Term is never part of its identity. Stage writes them.
	Entries []LogEntry
	// Snapshot, when set, is a received snapshot the core accepted: the
	// driver stages its data, then Stage resets the log after it. (The
	// driver hands a received snapshot to the core with Step, the engine's
	// snapshot message as rewritten by SnapshotMessage, keeping its data
	// aside: if the next Ready has no Snapshot at that index the core
	// refused it, and the data is dropped.)
	Snapshot *SnapshotPoint
	// MustSync: the log batch's fsync may not be skipped (a vote, a
	// promise, entries). A Ready with a Snapshot is always synced.
	MustSync bool
	// Messages to send: Early ones before the fsync, Late ones only
	// after it (they promise durability).
	Messages []Message
	// Committed are the entries to apply, in order.
	Committed []LogEntry
	// Reads are read-index answers: each read with Ctx may run once the
	// replica has applied Index.
	Reads []ReadState
	// Engine is the core's own Ready (raft.Ready), for Stage and Advance.
	Engine any
}

// SoftState is the leadership a core believes.
type SoftState struct {
	State  replica.State
	Leader replica.ReplicaID
}

// EntryType is what a log entry is.
type EntryType uint8

const (
	// EntryNormal: Data is a frame (Frame, FrameEntry) or empty (an
	// engine's own no-op, a new leader's empty entry).
	EntryNormal EntryType = iota
	// EntryChange: a membership change; Data is the engine's encoding.
	EntryChange
)

// LogEntry is a log entry in the driver's words.
type LogEntry struct {
	Index uint64
	// Term is the leadership generation it was appended under.
	Term uint64
	Type EntryType
	Data []byte
}

// MsgKind says when and how the driver sends a message.
type MsgKind uint8

const (
	// MsgEarly may go before the round's fsync (a leader's appends,
	// heartbeats).
	MsgEarly MsgKind = iota
	// MsgLate goes only after it: it promises durability (an ack, a
	// vote, a promise).
	MsgLate
	// MsgCampaign asks for votes (early); the driver withholds it while
	// the node's clock is untrusted or the replica's state diverged.
	MsgCampaign
	// MsgCampaignLate asks for votes only once the round's fsync made the
	// candidate's own promise durable (a Paxos prepare); withheld as
	// MsgCampaign is.
	MsgCampaignLate
	// MsgSnapshot asks for a snapshot stream to To: the driver reads the
	// replicated state from a store snapshot, rewrites the message with
	// SnapshotMessage and streams both, then calls ReportSnapshot.
	MsgSnapshot
)

// Message is a message a core sends to a replica of its group.
type Message struct {
	To      replica.ReplicaID
	Kind    MsgKind
	Payload []byte
}

// ReadState is a read index's answer.
type ReadState struct {
	Ctx   []byte
	Index uint64
}

// SnapshotPoint is the log position a snapshot's state is at.
type SnapshotPoint struct {
	Index, Term uint64
	Conf        Conf
}

// Basic is a core's cheap status.
type Basic struct {
	State          replica.State
	Leader         replica.ReplicaID
	Term, Commit   uint64
	LeadTransferee replica.ReplicaID
}

// Progress is a leader's view of one replica's log.
type Progress struct {
	Match, Next uint64
	Learner     bool
	// Active: heard from within an election timeout.
	Active bool
	// Replicating: being sent entries as they come (not probing, not
	// waiting for a snapshot).
	Replicating bool
	// PendingSnapshot is the index of a snapshot in flight to it (0: none).
	PendingSnapshot uint64
}

// Log is what the driver reads of a core's log and truncates. Its
// methods are safe to call without the group's lock (a metric reads the
// size of every log), and Core.Log returns the same Log every time.
type Log interface {
	FirstIndex() uint64
	LastIndex() uint64
	// LogSize is the log's size in bytes (approximate).
	LogSize() uint64
	// StageTruncate drops the entries up to and including index to.
	StageTruncate(w storage.LogWriter, to uint64) error
}
