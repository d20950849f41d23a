package driver

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Host: one node's replicas, of every engine.
type Config struct {
	// Engine runs every group but the meta group. Required.
	Engine CoreEngine
	// MetaEngine runs group 0, the meta group; default Engine. (The meta
	// group is always Raft: an engine other than Raft sets it to Raft's.)
	MetaEngine CoreEngine
	// Node is this node's name, as descriptors name it. Required.
	Node string
	// Store holds every group's log, hard state and replicated state. Required.
	Store storage.Store
	// NewStateMachine returns the state machine of a group. Required.
	NewStateMachine func(replica.GroupID) replica.StateMachine
	// Clock is read for ticks and for the leader's stamp on entries.
	// Default: the real clock.
	Clock clock.Clock
	// Registry receives the host's metrics. Default: a private registry
	// (each node has its own, so several run in one test).
	Registry prometheus.Registerer
	// Logger. Default: slog.Default().
	Logger *slog.Logger

	// TickInterval is one logical tick. Default 100ms: with ElectionTicks 10 a
	// dead leader is replaced within 1–2 s, etcd's default timing.
	TickInterval time.Duration
	// ElectionTicks and HeartbeatTicks, in ticks. Defaults 10 and 1.
	ElectionTicks, HeartbeatTicks int
	// Workers is the number of scheduler workers. Default 2: one round can
	// fsync while the other prepares the next, on the 2-core target machine.
	Workers int
	// Manual starts no goroutines: no ticker, no workers. A test drives the
	// host with Tick and RunRound. (An outgoing snapshot still streams on a
	// goroutine of its own unless SnapshotSender is set.)
	Manual bool

	// TruncateAfter is the log length (entries) beyond which the log is
	// truncated up to what every live follower has. Default 10000.
	TruncateAfter uint64
	// TruncateMaxBytes is the log size above which the log is truncated to
	// the applied index even past lagging followers (they then get a
	// snapshot). Default 64 MiB.
	TruncateMaxBytes uint64
	// SweepInterval is how often a leader proposes deletes of expired keys.
	// Default 100ms: the precision DESIGN.md promises for TTLs.
	SweepInterval time.Duration
	// SnapshotChunkSize is the size of one snapshot chunk. Default 256 KiB.
	SnapshotChunkSize int
	// SnapshotRate bounds the bytes a second this host sends in snapshot
	// chunks, every outgoing snapshot together, so that moving replicas
	// onto a new node leaves disk and network to the write path. A stream
	// waits before each chunk until the rate allows it; one chunk
	// (SnapshotChunkSize) may go at once after a pause. Paced by Clock's
	// monotonic time. Default 0: unlimited (a server sets it from
	// --snapshot-rate, which has the default for the disk and link).
	SnapshotRate int64

	// ConsistencyCheckInterval is how often each group's leader proposes
	// a consistency check (consistency.go). Default 0: never, so engine
	// tests and the simulation see no check entries unless they ask (a
	// server sets it from --consistency-check-interval, default 1 min).
	// Negative: never.
	ConsistencyCheckInterval time.Duration
	// ConsistencyCheckTimeout is how long the proposer of a check waits
	// for every voter's digest before it judges by the digests it has.
	// Default 5 election timeouts (5 s): a digest is a scan of the
	// group's state on a store snapshot, which for a partition of tens of
	// MiB takes well under a second, and a replica that lags by more is
	// not waited for (it is judged at the next check).
	ConsistencyCheckTimeout time.Duration

	// SnapshotSender, when set, takes over sending snapshots from the
	// host's goroutines and Transport.SendSnapshot: in the round in which
	// a core asks for a snapshot, the host reads it whole (header and chunks,
	// from one consistent store snapshot) and hands it over; report must be
	// called once with the outcome the receiver's HandleSnapshot gave. For
	// a simulation that runs every node in one goroutine (package sim).
	// With SnapshotRate set, a snapshot the rate does not allow yet is
	// handed over by the first Tick at which it does, never by a round
	// that waits.
	// Default nil: a goroutine streams each snapshot on the transport.
	SnapshotSender func(node string, header []byte, chunks [][]byte, report func(error))

	// UnsafeAckBeforeSync commits the log without fsync. A deliberately
	// broken mode for tests: the power-loss test must fail with it.
	UnsafeAckBeforeSync bool
	// Fatal is called on a storage error that makes the node's state
	// untrustworthy (fail-stop). Default: log and exit(1).
	Fatal func(error)
	// ConfigStore is the node's configuration store (replica.HostConfig's),
	// for engines that keep records in the meta group; nil: none.
	ConfigStore replica.ConfigStore
}

func (c *Config) setDefaults() {
	if c.MetaEngine == nil {
		c.MetaEngine = c.Engine
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = 1
	}
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.TruncateAfter == 0 {
		c.TruncateAfter = 10000
	}
	if c.TruncateMaxBytes == 0 {
		c.TruncateMaxBytes = 64 << 20
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = 100 * time.Millisecond
	}
	if c.ConsistencyCheckTimeout == 0 {
		c.ConsistencyCheckTimeout = 5 * time.Duration(c.ElectionTicks) * c.TickInterval
	}
	if c.SnapshotChunkSize == 0 {
		c.SnapshotChunkSize = 256 << 10
	}
	if c.Fatal == nil {
		log := c.Logger
		c.Fatal = func(err error) {
			log.Error("fatal storage error; stopping the node (fail-stop)", "err", err)
			os.Exit(1)
		}
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Engine == nil:
		return errors.New("driver: Config.Engine is required")
	case c.Node == "":
		return errors.New("driver: Config.Node is required")
	case c.Store == nil:
		return errors.New("driver: Config.Store is required")
	case c.NewStateMachine == nil:
		return errors.New("driver: Config.NewStateMachine is required")
	case c.ElectionTicks <= c.HeartbeatTicks:
		return fmt.Errorf("driver: ElectionTicks (%d) must exceed HeartbeatTicks (%d)", c.ElectionTicks, c.HeartbeatTicks)
	case c.ConsistencyCheckTimeout < c.TickInterval:
		return fmt.Errorf("driver: ConsistencyCheckTimeout %v is shorter than a tick (%v)", c.ConsistencyCheckTimeout, c.TickInterval)
	case c.SnapshotRate < 0:
		return fmt.Errorf("driver: SnapshotRate %d is negative (0 means unlimited)", c.SnapshotRate)
	case c.SnapshotChunkSize > 1<<20:
		return fmt.Errorf("driver: SnapshotChunkSize %d exceeds the transport's 1 MiB chunk limit", c.SnapshotChunkSize)
	}
	return nil
}

// ConfigOf is the driver's Config from the engine-neutral HostConfig, with
// engine running the cluster's groups and meta group 0 (Raft's). Its zero
// fields keep the driver's defaults.
func ConfigOf(hc replica.HostConfig, engine, meta CoreEngine) Config {
	return Config{
		Engine: engine, MetaEngine: meta,
		Node: hc.Node, Store: hc.Store, NewStateMachine: hc.NewStateMachine,
		Clock: hc.Clock, Registry: hc.Registry, Logger: hc.Logger,
		TickInterval: hc.TickInterval, SnapshotRate: hc.SnapshotRate, Manual: hc.Manual,
		ElectionTicks: hc.ElectionTicks, HeartbeatTicks: hc.HeartbeatTicks,
		TruncateAfter: hc.TruncateAfter, SnapshotChunkSize: hc.SnapshotChunkSize,
		SnapshotSender: hc.SnapshotSender, Fatal: hc.Fatal,
		UnsafeAckBeforeSync: hc.UnsafeAckBeforeSync, ConsistencyCheckInterval: hc.ConsistencyCheckInterval,
		ConfigStore: hc.ConfigStore,
	}
}

// metaEngine builds the meta group's engine: Raft's, registered by its
// package (raftengine), so that another engine's host runs group 0 on it
// without importing Raft.
var metaEngine struct {
	sync.Mutex
	f func(storage.Store) CoreEngine
}

// RegisterMetaEngine registers what builds the meta group's CoreEngine
// over a node's store (raftengine does, from its init).
func RegisterMetaEngine(f func(storage.Store) CoreEngine) {
	metaEngine.Lock()
	defer metaEngine.Unlock()
	metaEngine.f = f
}

// MetaEngine builds the meta group's CoreEngine over store; an error when
// the binary links no engine that registered one (raftengine).
func MetaEngine(store storage.Store) (CoreEngine, error) {
	metaEngine.Lock()
	f := metaEngine.f
	metaEngine.Unlock()
	if f == nil {
		return nil, errors.New("driver: no meta group engine registered (link package raftengine)")
	}
	return f(store), nil
}
