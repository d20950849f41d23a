package raftengine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Host: one node's set of Raft groups.
type Config struct {
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

	// TickInterval is one Raft tick. Default 100ms: with ElectionTicks 10 a
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

	// MaxSizePerMsg caps the entries in one append message. Default 1 MiB,
	// well under the transport's 8 MiB gRPC message limit even with the
	// largest command (8 KiB key + 1 MiB value) as a single entry.
	MaxSizePerMsg uint64
	// MaxInflightMsgs is the append messages in flight per follower. Default 256.
	MaxInflightMsgs int
	// MaxUncommittedEntriesSize bounds a leader's uncommitted log. Default 64 MiB.
	MaxUncommittedEntriesSize uint64

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
	// raft asks for a snapshot, the host reads it whole (header and chunks,
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
	// ConfigStore is the node's configuration store (HostConfig's), which
	// the driver keeps for engines that use one; Raft does not.
	ConfigStore replica.ConfigStore
}

func (c *Config) setDefaults() {
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
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 256
	}
	if c.MaxUncommittedEntriesSize == 0 {
		c.MaxUncommittedEntriesSize = 64 << 20
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

// driverConfig is the driver's part of c, with Raft as its engine.
func (c *Config) driverConfig() driver.Config {
	return driver.Config{
		Engine: newCoreEngine(c.Store, rawOptions{
			MaxSizePerMsg: c.MaxSizePerMsg, MaxInflightMsgs: c.MaxInflightMsgs,
			MaxUncommittedEntriesSize: c.MaxUncommittedEntriesSize,
		}),
		Node: c.Node, Store: c.Store, NewStateMachine: c.NewStateMachine,
		Clock: c.Clock, Registry: c.Registry, Logger: c.Logger,
		TickInterval: c.TickInterval, ElectionTicks: c.ElectionTicks, HeartbeatTicks: c.HeartbeatTicks,
		Workers: c.Workers, Manual: c.Manual,
		TruncateAfter: c.TruncateAfter, TruncateMaxBytes: c.TruncateMaxBytes,
		SweepInterval: c.SweepInterval, SnapshotChunkSize: c.SnapshotChunkSize, SnapshotRate: c.SnapshotRate,
		ConsistencyCheckInterval: c.ConsistencyCheckInterval, ConsistencyCheckTimeout: c.ConsistencyCheckTimeout,
		SnapshotSender: c.SnapshotSender, UnsafeAckBeforeSync: c.UnsafeAckBeforeSync, Fatal: c.Fatal,
		ConfigStore: c.ConfigStore,
	}
}

// Host is the driver's host, running Raft groups (and, in a cluster of
// another engine, the meta group).
type Host = driver.Host

// NewHost opens a host whose groups are all Raft's, with every group
// found in cfg.Store.
func NewHost(cfg Config) (*Host, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return driver.NewHost(cfg.driverConfig())
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Node == "":
		return errors.New("raftengine: Config.Node is required")
	case c.Store == nil:
		return errors.New("raftengine: Config.Store is required")
	case c.NewStateMachine == nil:
		return errors.New("raftengine: Config.NewStateMachine is required")
	case c.ElectionTicks <= c.HeartbeatTicks:
		return fmt.Errorf("raftengine: ElectionTicks (%d) must exceed HeartbeatTicks (%d)", c.ElectionTicks, c.HeartbeatTicks)
	case c.ConsistencyCheckTimeout < c.TickInterval:
		return fmt.Errorf("raftengine: ConsistencyCheckTimeout %v is shorter than a tick (%v)", c.ConsistencyCheckTimeout, c.TickInterval)
	case c.SnapshotRate < 0:
		return fmt.Errorf("raftengine: SnapshotRate %d is negative (0 means unlimited)", c.SnapshotRate)
	case c.SnapshotChunkSize > 1<<20:
		return fmt.Errorf("raftengine: SnapshotChunkSize %d exceeds the transport's 1 MiB chunk limit", c.SnapshotChunkSize)
	}
	return nil
}
