package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
)

// Host runs every local replica of one node: it is what the node needs
// from its engines, and the transport's handler for their messages.
//
//	h, err := replica.NewHost(settings.Engine, cfg) // the engine stored at creation
//	h.Bootstrap(desc, seed)                         // founding groups, once
//	h.Start(tr)                                      // ticks, rounds, messages
//	g, ok := h.Group(id)                             // serve requests
//	h.Close()
type Host interface {
	transport.Handler
	// Start connects the host to its transport and starts its ticker and
	// workers (unless built for manual driving).
	Start(tr transport.Transport)
	// Bootstrap creates a founding replica of desc on this node, its
	// replicated state seeded by seed. It refuses a group already here.
	Bootstrap(desc Descriptor, seed func(storage.Batch) error) error
	// Group returns the local replica of id.
	Group(id GroupID) (Group, bool)
	// Groups lists the local replicas' groups in order.
	Groups() []GroupID
	// RemoveStale destroys the local replica of desc.Group when desc (at
	// least as new as the local descriptor) no longer names it; it leaves
	// a tombstone so that no stale message recreates it.
	RemoveStale(desc Descriptor) (removed bool, err error)
	// UnsafeRecoverPlan says what UnsafeRecover would keep and drop now,
	// changing nothing; err (ErrHasLeader, ...) says why it would refuse.
	UnsafeRecoverPlan(id GroupID) (Recovery, error)
	// UnsafeRecover makes the local replica the group's only voter, keeping
	// what it has applied and dropping the rest of its log: for a group
	// that lost its quorum for good.
	UnsafeRecover(id GroupID) (Recovery, error)
	// Close stops every replica; requests in flight fail with ErrStopped.
	Close() error
}

// ManualHost is a Host built with HostConfig.Manual: nothing runs until the
// caller ticks and runs rounds, so a simulation decides every step.
type ManualHost interface {
	Host
	// Tick advances every replica's logical clock by one tick.
	Tick()
	// RunRound runs one round for every replica with work and reports
	// whether there was any.
	RunRound() bool
	// HandleSnapshotAsync is the transport's HandleSnapshot for a caller
	// that cannot block, because it drives every node from one goroutine:
	// it reads the whole stream at once and calls done exactly once with
	// what HandleSnapshot would return, before it returns when the
	// snapshot is refused outright, else from the round that settles it
	// (done must record the outcome and return). The receiving half of
	// HostConfig.SnapshotSender.
	HandleSnapshotAsync(from string, header []byte, next func() ([]byte, error), done func(error))
}

// Recovery is what an unsafe recovery keeps and drops, in any engine's
// words.
type Recovery struct {
	Group   GroupID
	Replica ReplicaID
	Before  Descriptor // the descriptor before
	After   Descriptor // the local replica as the only voter, at a higher version
	// Applied is the local applied index: the replicated state up to here,
	// and the log entries at or below it, are kept.
	Applied   uint64
	Commit    uint64 // the local commit index
	LastIndex uint64 // the local log's last index
	// Discarded is the number of log entries above Applied that are
	// deleted (LastIndex-Applied). Some may have committed on the replicas
	// that are gone, and acknowledged to clients: they are lost.
	Discarded uint64
}

// ErrHasLeader: an unsafe recovery was refused because the group has a
// leader, so its quorum is not lost.
var ErrHasLeader = errors.New("replica: the group has a leader; unsafe recovery is only for a group that lost its quorum")

// HostConfig is what every engine's host is built from.
type HostConfig struct {
	// Node is this node's name. Required.
	Node string
	// Store holds every replica's log and replicated state. Required.
	Store storage.Store
	// NewStateMachine returns the state machine of a group (kv). Required.
	NewStateMachine func(GroupID) StateMachine
	// Clock is every timer's source; default clock.Real.
	Clock clock.Clock
	// Registry receives the engine's metrics; default a private one.
	Registry prometheus.Registerer
	// Logger; default slog.Default().
	Logger *slog.Logger
	// TickInterval is the logical tick (elections, heartbeats, the expiry
	// sweep count in ticks). Default 100ms.
	TickInterval time.Duration
	// SnapshotRate bounds the bytes per second of snapshots sent (the
	// node's --snapshot-rate); 0: unlimited.
	SnapshotRate int64
	// ConsistencyCheckInterval is how often each group's leader proposes
	// a consistency check (the node's --consistency-check-interval); 0 or
	// negative: never (checks still run when asked, CheckConsistency).
	ConsistencyCheckInterval time.Duration
	// Manual: no ticker and no workers; the caller drives the host through
	// ManualHost (simulations).
	Manual bool
	// ConfigStore is where an engine may keep configuration of its own in
	// the meta group (compare-and-swap and watch; the primary-backup
	// engine's per-partition records). Its calls never block and answer
	// from the store's goroutines, so an engine may call it from a round
	// (ConfigStore says how). A node passes its store on the meta group;
	// a simulation a MemConfigStore it drains between steps. Default nil:
	// the engine may not use one, and an engine that needs one refuses to
	// start without it (Raft needs none).
	ConfigStore ConfigStore
	// PrimaryBackup holds the primary-backup engine's settings, stored with
	// the cluster's at creation; other engines ignore it.
	PrimaryBackup PrimaryBackupOptions

	// The fields below override what an engine chooses for itself. A
	// server leaves them zero, which keeps each engine's default; the
	// simulation sets them to provoke what a default run rarely reaches.

	// ElectionTicks is how many ticks a replica goes without hearing from
	// a leader before it tries to become one, and HeartbeatTicks how many
	// ticks a leader lets pass between the signs of life it sends its
	// followers. Default 0: the engine's own (raft: 10 and 1, which with
	// the 100ms tick replace a dead leader within 1–2 s, etcd's timing).
	ElectionTicks, HeartbeatTicks int
	// TruncateAfter is the log length, in entries, beyond which a group's
	// log is truncated up to what every live follower has. Default 0: the
	// engine's own (raft: 10000, a few seconds of writes, so a follower
	// that blinks catches up from the log, not by snapshot). A simulation
	// sets it low so that lagging replicas catch up by snapshot often.
	TruncateAfter uint64
	// SnapshotChunkSize is the size of one chunk of a snapshot stream.
	// Default 0: the engine's own (raft: 256 KiB; at most the transport's
	// 1 MiB chunk limit). A simulation sets it small so that a snapshot
	// takes several chunks.
	SnapshotChunkSize int
	// SnapshotSender, when set, takes over sending snapshots from the
	// host's goroutines and Transport.SendSnapshot: in the round in which
	// a replica needs a snapshot sent, the host reads it whole (header and
	// chunks, from one consistent store snapshot) and hands it over;
	// report must be called once with the outcome the receiver's
	// HandleSnapshot (or ManualHost.HandleSnapshotAsync) gave. For a
	// simulation that runs every node in one goroutine, with Manual.
	// Default nil: the host streams each snapshot on the transport.
	SnapshotSender func(node string, header []byte, chunks [][]byte, report func(error))
	// Fatal is called on a storage error that makes the node's state
	// untrustworthy (fail-stop). Default nil: log and exit(1), as etcd
	// does; a simulation stops the simulated node instead.
	Fatal func(error)
	// UnsafeAckBeforeSync makes the log count as durable before its fsync:
	// a deliberately broken mode, for tests only, which the simulation's
	// pinned seed and the power-loss tests must catch (a check that passes
	// with it proves nothing about fsync). Default false; never set it on
	// a server.
	UnsafeAckBeforeSync bool
}

// PrimaryBackupOptions are the cluster's --pb-* settings as the
// primary-backup engine takes them. Zero fields: the engine's defaults.
type PrimaryBackupOptions struct {
	// Async: an entry commits on the primary's fsync (--pb-mode async);
	// false: on every in-sync member (sync, the default).
	Async bool
	// MinInSync is --pb-min-in-sync: below it the primary refuses writes.
	MinInSync int
	// MaxLag is --pb-max-lag (async: writes refused when no backup
	// acknowledged within it); Lease is --pb-lease.
	MaxLag, Lease time.Duration
	// RollbackDir is where a replica records, durably, the entries an
	// async failover makes it discard (pb-rollback.jsonl, the node's data
	// directory); "": logged only.
	RollbackDir string
	// Session reads a state machine command's (client, seq) for those
	// records; nil: left out.
	Session func(cmd []byte) (client, seq uint64, ok bool)
}

// NewHostFunc builds an engine's Host.
type NewHostFunc func(HostConfig) (Host, error)

// Engine is what an engine registers: its name (the value of the
// cluster's stored --engine setting) and what the layers above ask of it
// without importing it.
type Engine struct {
	Name    string
	NewHost NewHostFunc
	// Liveness is the engine's rule for whether a group keeps a working
	// configuration with only the replicas on live nodes; the move
	// planner refuses a change that would break it. Nil: Majority (Raft,
	// Paxos).
	Liveness Liveness
	// ReadLog reads what a replica made durable, decoded as only its
	// engine can: the simulation checks every replica with it after every
	// step. Nil: the engine cannot be simulated (ReadLogOf says so).
	ReadLog ReadLogFunc
	// TermsAgree: every replica holds a committed entry at the term it was
	// first appended at (Raft), so the simulation checks that a replica's
	// applied term is the committed entry's. False for an engine that
	// accepts a chosen value again under a newer generation (Paxos).
	TermsAgree bool
}

// ReadLogFunc reads the durable log of group g's replica through l (a
// store's keyspace, storage.ViewLog, or a node's log store): its commit
// index and its committed entries at index from and above (from 0 or 1:
// all of them). It reads storage only, never a running host, so it also
// reads what a crashed node left. It returns an error wrapping
// storage.ErrNotFound when the log holds no replica of g (none yet, or
// one removed).
type ReadLogFunc func(l storage.LogReader, g GroupID, from uint64) (DurableLog, error)

// DurableLog is a replica's log as its store holds it.
type DurableLog struct {
	// Commit is the commit index the replica stored: every entry at or
	// below it is committed. Invariant: the replica's stored applied index
	// (storage.ReadAppliedState) <= Commit.
	Commit uint64
	// Truncated is the index of the last entry dropped from the start of
	// the log, once applied; 0 when none was, or when from > Commit (no
	// entries to read, so it is not read).
	Truncated uint64
	// Entries are the committed entries the log holds in [max(from,
	// Truncated+1), Commit], in index order. An index missing from them
	// is an entry missing from the store, which the caller reports.
	Entries []LogEntry
}

// LogEntry is one committed entry in neutral words.
type LogEntry struct {
	Index uint64
	// Term is the engine's ordered leadership generation (Raft's term, a
	// ballot, an epoch) that the replica's applied state records when it
	// applies the entry.
	Term uint64
	// Data identifies the entry: replicas that committed the same entry
	// at Index hold equal Data, and different entries differ. Raft: the
	// entry's type and data, the driver's frame (a unique proposal ID and
	// the leader's stamp) within. Not the term: an engine may commit one
	// value under two generations (Paxos re-proposes an accepted value
	// under a higher ballot).
	Data []byte
	// Command is the state machine's command the entry carries (what
	// Propose was given); nil for an entry of the engine's own (an empty
	// entry, a membership change).
	Command []byte
}

// Liveness judges whether a group keeps a working configuration with only
// the replicas whose node is live: nil when it does, otherwise what it
// lacks.
type Liveness func(d Descriptor, live func(node string) bool) *Shortfall

// Shortfall is what a group lacks to keep working.
type Shortfall struct {
	Which string   // the configuration that falls short: "" (voters), "outgoing " (a joint change's old voters)
	Live  int      // its replicas on live nodes
	Need  int      // how many it needs
	Of    int      // its replicas
	Lost  []string // the nodes of its replicas that are not live (or "replica N" for one the descriptor does not place)
}

// Majority is the consensus engines' rule: a majority of the voters, and
// in a joint change a majority of the outgoing voters too, on live nodes.
func Majority(d Descriptor, live func(node string) bool) *Shortfall {
	if sf := majorityOf(d, d.Voters, "", live); sf != nil {
		return sf
	}
	if d.Joint() {
		return majorityOf(d, d.Outgoing(), "outgoing ", live)
	}
	return nil
}

func majorityOf(d Descriptor, voters []ReplicaID, which string, live func(string) bool) *Shortfall {
	sf := &Shortfall{Which: which, Need: len(voters)/2 + 1, Of: len(voters)}
	for _, id := range voters {
		r, ok := d.Replica(id)
		if !ok {
			// Breaks the descriptor's invariant; count it as lost.
			sf.Lost = append(sf.Lost, fmt.Sprintf("replica %d", id))
			continue
		}
		if live(r.Node) {
			sf.Live++
			continue
		}
		sf.Lost = append(sf.Lost, r.Node)
	}
	if sf.Live >= sf.Need {
		return nil
	}
	return sf
}

var registry struct {
	sync.Mutex
	engines map[string]Engine
}

// Register makes e available to NewHost under e.Name. An engine registers
// itself from its package's init; the binary imports the engines it
// offers. It panics on a second registration of one name (a programming
// error).
func Register(e Engine) {
	registry.Lock()
	defer registry.Unlock()
	if registry.engines == nil {
		registry.engines = make(map[string]Engine)
	}
	if _, dup := registry.engines[e.Name]; dup {
		panic("replica: engine " + e.Name + " registered twice")
	}
	if e.Liveness == nil {
		e.Liveness = Majority
	}
	registry.engines[e.Name] = e
}

// LivenessOf is engine's liveness rule; Majority for an engine this
// binary does not have (nothing can run it here anyway).
func LivenessOf(engine string) Liveness {
	registry.Lock()
	defer registry.Unlock()
	if e, ok := registry.engines[engine]; ok {
		return e.Liveness
	}
	return Majority
}

// Engines lists the registered engines in order.
func Engines() []string {
	registry.Lock()
	defer registry.Unlock()
	var names []string
	for n := range registry.engines {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ErrUnknownEngine: no engine of that name is registered in this binary.
var ErrUnknownEngine = errors.New("replica: unknown engine")

// ReadLogOf is engine's ReadLog: an error wrapping ErrUnknownEngine when
// this binary does not have the engine, or ErrUnsupported when it
// registered none.
func ReadLogOf(engine string) (ReadLogFunc, error) {
	registry.Lock()
	e, ok := registry.engines[engine]
	registry.Unlock()
	switch {
	case !ok:
		return nil, fmt.Errorf("%w %q (this binary has: %v)", ErrUnknownEngine, engine, Engines())
	case e.ReadLog == nil:
		return nil, fmt.Errorf("%w: engine %q registers no ReadLog, so nothing can check its replicas' logs", ErrUnsupported, engine)
	}
	return e.ReadLog, nil
}

// TermsAgreeOf is engine's Engine.TermsAgree (false for an engine this
// binary does not have).
func TermsAgreeOf(engine string) bool {
	registry.Lock()
	defer registry.Unlock()
	return registry.engines[engine].TermsAgree
}

// NewHost builds the Host of engine.
func NewHost(engine string, cfg HostConfig) (Host, error) {
	registry.Lock()
	f := registry.engines[engine].NewHost
	registry.Unlock()
	if f == nil {
		return nil, fmt.Errorf("%w %q (this binary has: %v)", ErrUnknownEngine, engine, Engines())
	}
	return f(cfg)
}
