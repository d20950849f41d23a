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
		return majorityOf(d, d.VotersOutgoing, "outgoing ", live)
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
